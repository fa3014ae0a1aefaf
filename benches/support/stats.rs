//! Percentiles of measured values.

/// The value at quantile `q` (0 to 1) of `sorted` values, by nearest rank; None when empty.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}
