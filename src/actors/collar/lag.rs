//! When ingest last fell behind. A collar is silent only if nothing came from it while
//! ingest was keeping up: when the stores push back, collar messages wait at the broker,
//! and a silence timer that ran out then would call every collar offline at once (and the
//! alerts it raised would slow the stores further).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Shared between the pipeline (which marks) and the collar actors (which ask).
#[derive(Debug, Clone)]
pub struct IngestLag {
    base: Instant,
    /// Milliseconds after `base` of the last mark, plus one (0: never).
    last: Arc<AtomicU64>,
}

impl Default for IngestLag {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last: Arc::default(),
        }
    }
}

impl IngestLag {
    /// Ingest is behind now.
    pub fn mark(&self) {
        let since_base = self.base.elapsed().as_millis() as u64;
        self.last.fetch_max(since_base + 1, Ordering::Relaxed);
    }

    /// True when ingest was behind at some time within the last `window`.
    pub fn within(&self, window: Duration) -> bool {
        match self.last.load(Ordering::Relaxed) {
            0 => false,
            mark => {
                let now = self.base.elapsed().as_millis() as u64;
                now.saturating_sub(mark - 1) < window.as_millis() as u64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_mark_is_remembered_for_the_window_it_is_asked_about() {
        let lag = IngestLag::default();
        assert!(!lag.within(Duration::from_secs(60)), "never behind");
        lag.mark();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(lag.within(Duration::from_secs(11)));
        assert!(!lag.within(Duration::from_secs(9)));
    }
}
