//! Waiting between attempts at a store that is away: the wait doubles per failure, from a
//! first wait up to a ceiling, so a blip is retried at once and an outage is not hammered.

use std::time::Duration;

/// A doubling wait between attempts, from `first` up to `ceiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub ceiling: Duration,
}

/// Doublings after which the wait stops growing (whatever the ceiling).
const MAX_DOUBLINGS: u32 = 8;

impl Backoff {
    pub const fn new(first: Duration, ceiling: Duration) -> Self {
        Self { first, ceiling }
    }

    /// The wait after `failures` failures in a row (the first wait after one).
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(MAX_DOUBLINGS);
        (self.first * 2u32.pow(doublings)).min(self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_the_first_up_to_the_ceiling() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<u128> = (0..7).map(|n| backoff.after(n).as_millis()).collect();
        assert_eq!(waits, [100, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(1));
    }
}
