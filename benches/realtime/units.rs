//! Wall-clock stamps shared with the WebSocket client process, and how numbers are printed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds, as a sample's `ts`.
pub(crate) fn now_ms() -> i64 {
    (wall_ns() / 1_000_000) as i64
}

/// Wall-clock nanoseconds: the one clock this process and the WebSocket client process share.
pub(crate) fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `12345678` as `12 345 678`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

/// A duration in (fractional) milliseconds.
pub(crate) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
