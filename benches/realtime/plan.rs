//! The plan of a run: its sizes (full or `--quick`), the whole run's time budget, the
//! issue's targets, and the clock that keeps every phase within what is left of the budget.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// The whole run stops by itself within this, whatever the server does.
const RUN_BUDGET: Duration = Duration::from_secs(9 * 60 + 30);
/// The targets of the issue.
pub(crate) const TARGET_INGEST_RATIO: f64 = 0.5;
pub(crate) const TARGET_P99: Duration = Duration::from_millis(20);
pub(crate) const TARGET_RATE: u32 = 5_000;
pub(crate) const TARGET_SESSIONS: usize = 10_000;
pub(crate) const TARGET_ACTOR_BYTES: f64 = 2048.0;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) quick: bool,
    /// N: samples of the baseline and of the ingest phase.
    pub(crate) messages: usize,
    /// C: pets, each with a paired collar and a fence.
    pub(crate) pets: usize,
    /// S: WebSocket sessions, each subscribed to one pet (round robin).
    pub(crate) sessions: usize,
    /// R: samples per second during the latency window.
    pub(crate) rate: u32,
    pub(crate) window: Duration,
    /// K: extra idle collars for the memory figure.
    pub(crate) idle_collars: usize,
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Self {
        if quick {
            Plan {
                quick,
                messages: 20_000,
                pets: 200,
                sessions: 1_000,
                rate: TARGET_RATE,
                window: Duration::from_secs(5),
                idle_collars: 2_000,
            }
        } else {
            Plan {
                quick,
                messages: 100_000,
                pets: 1_000,
                sessions: TARGET_SESSIONS,
                rate: TARGET_RATE,
                window: Duration::from_secs(10),
                idle_collars: 10_000,
            }
        }
    }
}

/// Elapsed time for progress lines, and what is left of the run's budget.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        let start = Instant::now();
        Clock {
            start,
            end: start + RUN_BUDGET,
        }
    }

    /// `want`, or less when the run's budget runs out first.
    pub(crate) fn budget(&self, want: Duration) -> Duration {
        want.min(self.end.saturating_duration_since(Instant::now()))
    }

    pub(crate) fn say(&self, message: impl Display) {
        println!("[{:6.1} s] {message}", self.start.elapsed().as_secs_f64());
    }
}
