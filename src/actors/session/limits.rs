//! What one session may ask for: `subscribe` frames at a bounded rate (a token bucket) and a
//! bounded number of pets watched at once. Pure, on the tokio clock, so a paused clock
//! tests it.

use std::time::Duration;

use actix::clock::Instant;

/// The limits of one session (from the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// `subscribe` frames per minute, on average.
    pub subscribes_per_minute: u32,
    /// `subscribe` frames allowed at once before the rate applies.
    pub subscribe_burst: u32,
    /// Pets one session may watch at once.
    pub max_watched_pets: usize,
}

impl Default for SessionLimits {
    /// The defaults of the settings.
    fn default() -> Self {
        Self {
            subscribes_per_minute: 30,
            subscribe_burst: 10,
            max_watched_pets: 50,
        }
    }
}

/// A token bucket: holds up to `capacity` tokens, gains one every `refill`, and each taken
/// token allows one request.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    /// Tokens gained per second.
    rate: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens that refills at `per_minute` tokens a minute.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            capacity,
            tokens: capacity,
            rate: f64::from(per_minute.max(1)) / 60.0,
            updated: Instant::now(),
        }
    }

    /// Takes a token; `Err` says how long until the next one.
    pub fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bucket_allows_its_burst_then_one_token_per_refill() {
        tokio::time::pause();
        let mut bucket = TokenBucket::new(3, 60);
        for _ in 0..3 {
            assert_eq!(bucket.take(), Ok(()));
        }
        let wait = bucket.take().unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(bucket.take().is_err());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(bucket.take(), Ok(()));
        assert!(bucket.take().is_err());
    }

    #[tokio::test]
    async fn a_bucket_never_holds_more_than_its_burst() {
        tokio::time::pause();
        let mut bucket = TokenBucket::new(2, 60);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(bucket.take(), Ok(()));
        assert_eq!(bucket.take(), Ok(()));
        assert!(bucket.take().is_err());
    }
}
