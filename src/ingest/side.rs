//! Stores that run beside ingest (voice clips, command answers): each is retried with
//! backoff until it succeeds, and its message is acknowledged then, so a store that is down
//! for a while holds its messages' broker slots only for that while, and none for ever. An
//! error that retrying cannot mend (a constraint the data breaks) is logged, counted and
//! acknowledged. At most [`SIDE_TASKS`] run at once; more make ingest wait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::mqtt::{AckToken, Acker};

/// Side stores running at once (each holds one message, at most 640 KiB).
pub const SIDE_TASKS: usize = 64;
/// Waits between attempts of one side store: doubled per failure up to the last.
const RETRY_BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(30));

/// Why a side store did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A store is away or slow: try again.
    #[error("store unavailable: {0:#}")]
    Transient(anyhow::Error),
    /// The data cannot be stored as it is: trying again would fail the same way.
    #[error("cannot be stored: {0:#}")]
    Permanent(anyhow::Error),
}

impl StoreError {
    /// Constraint and data errors are permanent; everything else (connections, timeouts,
    /// a full pool) passes.
    pub fn from_sqlx(error: sqlx::Error) -> Self {
        let permanent = matches!(&error, sqlx::Error::Database(db)
            if db.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23")));
        if permanent {
            Self::Permanent(error.into())
        } else {
            Self::Transient(error.into())
        }
    }
}

/// Runs side stores, a bounded number at once.
#[derive(Clone)]
pub struct SideTasks {
    acker: Acker,
    permits: Arc<Semaphore>,
}

impl SideTasks {
    pub fn new(acker: Acker) -> Self {
        Self {
            acker,
            permits: Arc::new(Semaphore::new(SIDE_TASKS)),
        }
    }

    /// Runs `store` until it succeeds (or fails for good), then acknowledges `ack`. Waits
    /// while [`SIDE_TASKS`] stores are running. `hold` (the message) is kept until then.
    pub async fn run<H, F, Fut>(&self, what: &'static str, ack: AckToken, hold: H, mut store: F)
    where
        H: Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), StoreError>> + Send,
    {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let acker = self.acker.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _hold = hold;
            let mut failures = 0u32;
            loop {
                match store().await {
                    Ok(()) => break,
                    Err(StoreError::Permanent(error)) => {
                        metrics::counter!("pettysync_side_store_dropped_total", "what" => what)
                            .increment(1);
                        tracing::error!(error = ?error, what, "a message cannot be stored; acknowledged");
                        break;
                    }
                    Err(StoreError::Transient(error)) => {
                        failures += 1;
                        let backoff = (RETRY_BACKOFF.0 * 2u32.saturating_pow(failures.min(8)))
                            .min(RETRY_BACKOFF.1);
                        metrics::counter!("pettysync_side_store_retries_total", "what" => what)
                            .increment(1);
                        tracing::warn!(error = ?error, what, ?backoff, "could not store a message; retrying");
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
            acker.ack(ack);
        });
    }

    /// Side stores running now.
    pub fn running(&self) -> usize {
        SIDE_TASKS - self.permits.available_permits()
    }
}
