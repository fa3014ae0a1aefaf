//! Stores that run beside ingest (voice clips, command answers): each is retried with
//! backoff, and its message is acknowledged once it is stored, so a store that is down for
//! a while holds its messages' broker slots only for that while. An error that retrying
//! cannot mend (a constraint the data breaks) is logged, counted and acknowledged. A store
//! still failing after [`GIVE_UP_AFTER`] hands its whole message to the dead-letter store
//! (`store_failed`, kept for replay) and frees its slot, so a long outage cannot hold every
//! slot and stall telemetry behind it. At most [`SIDE_TASKS`] run at once; more make ingest
//! wait (until shutdown, which leaves the message to the broker).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use super::mqtt::{AckToken, Acker};
use super::parking::Pending;
use super::pipeline::store_failed_letter;
use crate::actors::persistence::{Append, PersistenceSupervisor};
use crate::retry::Backoff;

/// Side stores running at once (each holds one message, at most 640 KiB).
pub const SIDE_TASKS: usize = 64;
/// How long a side store is retried before its message goes to the dead-letter store.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(120);
/// Waits between attempts of one side store.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));

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
        if crate::store::is_permanent(&error) {
            Self::Permanent(error.into())
        } else {
            Self::Transient(error.into())
        }
    }
}

/// How a side store ended.
#[derive(Debug)]
pub enum Outcome {
    Stored,
    /// It cannot be stored as it is (acknowledged: retrying would fail the same way).
    Unstorable(anyhow::Error),
    /// It kept failing for [`GIVE_UP_AFTER`].
    GaveUp(anyhow::Error),
}

/// Runs `store` until it succeeds, fails for good, or has failed for `give_up_after`.
pub async fn retry<F, Fut>(what: &'static str, give_up_after: Duration, mut store: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let deadline = Instant::now() + give_up_after;
    let mut failures = 0u32;
    loop {
        match store().await {
            Ok(()) => return Outcome::Stored,
            Err(StoreError::Permanent(error)) => return Outcome::Unstorable(error),
            Err(StoreError::Transient(error)) => {
                failures += 1;
                let backoff = RETRY_BACKOFF.after(failures);
                if Instant::now() + backoff > deadline {
                    return Outcome::GaveUp(error);
                }
                metrics::counter!("pettysync_side_store_retries_total", "what" => what)
                    .increment(1);
                tracing::warn!(error = ?error, what, ?backoff, "could not store a message; retrying");
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// Runs side stores, a bounded number at once.
#[derive(Clone)]
pub struct SideTasks {
    acker: Acker,
    persistence: Addr<PersistenceSupervisor>,
    permits: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
}

impl SideTasks {
    pub fn new(
        acker: Acker,
        persistence: Addr<PersistenceSupervisor>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            acker,
            persistence,
            permits: Arc::new(Semaphore::new(SIDE_TASKS)),
            stop,
        }
    }

    /// Runs `store` (see [`retry`]), then acknowledges the message — or, when it gave up,
    /// has persistence store the message as a dead letter and acknowledge it then. Waits
    /// while [`SIDE_TASKS`] stores are running; at shutdown it stops waiting and leaves the
    /// message unacknowledged, for the broker to redeliver.
    pub async fn run<F, Fut>(&self, what: &'static str, serial: &str, pending: Pending, store: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), StoreError>> + Send,
    {
        let mut stop = self.stop.clone();
        let permit = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return,
            permit = self.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (acker, persistence, serial) = (
            self.acker.clone(),
            self.persistence.clone(),
            serial.to_owned(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let ack = AckToken::of(&pending.inbound.publish);
            match retry(what, GIVE_UP_AFTER, store).await {
                Outcome::Stored => acker.ack(ack),
                Outcome::Unstorable(error) => {
                    metrics::counter!("pettysync_side_store_dropped_total", "what" => what)
                        .increment(1);
                    tracing::error!(error = ?error, what, "a message cannot be stored; acknowledged");
                    acker.ack(ack);
                }
                Outcome::GaveUp(error) => {
                    metrics::counter!("pettysync_side_store_dead_lettered_total", "what" => what)
                        .increment(1);
                    tracing::error!(error = ?error, what, "a message could not be stored in time; kept as a dead letter");
                    let letter = store_failed_letter(&pending, &serial, &error);
                    let append = Append {
                        dead_letters: vec![letter],
                        ack: Some(ack),
                        ..Append::default()
                    };
                    // Closed only at shutdown: then the message stays unacknowledged.
                    let _ = persistence.send(append).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn failing_until(
        successful_attempt: u32,
    ) -> (
        Arc<AtomicU32>,
        impl FnMut() -> std::future::Ready<Result<(), StoreError>>,
    ) {
        let attempts = Arc::new(AtomicU32::new(0));
        let counter = attempts.clone();
        let store = move || {
            let attempt = counter.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(if attempt >= successful_attempt {
                Ok(())
            } else {
                Err(StoreError::Transient(anyhow::anyhow!("away")))
            })
        };
        (attempts, store)
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_comes_back_is_retried_until_it_succeeds() {
        let (attempts, store) = failing_until(4);
        let outcome = retry("test", GIVE_UP_AFTER, store).await;
        assert!(matches!(outcome, Outcome::Stored), "{outcome:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_stays_away_is_given_up_within_the_limit() {
        let started = Instant::now();
        let (attempts, store) = failing_until(u32::MAX);
        let outcome = retry("test", GIVE_UP_AFTER, store).await;
        assert!(matches!(outcome, Outcome::GaveUp(_)), "{outcome:?}");
        assert!(
            started.elapsed() <= GIVE_UP_AFTER,
            "{:?}",
            started.elapsed()
        );
        assert!(attempts.load(Ordering::SeqCst) > 3, "it was retried first");
    }

    #[tokio::test(start_paused = true)]
    async fn data_a_store_refuses_is_not_retried() {
        let attempts = Arc::new(AtomicU32::new(0));
        let counter = attempts.clone();
        let outcome = retry("test", GIVE_UP_AFTER, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Err(StoreError::Permanent(anyhow::anyhow!("NUL in text"))))
        })
        .await;
        assert!(matches!(outcome, Outcome::Unstorable(_)), "{outcome:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
