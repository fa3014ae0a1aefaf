//! The fleet's counters, the progress line (or the periodic log line) they feed, and the
//! final report they make.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::time::Instant;

use super::SimulateReport;

const PROGRESS_EVERY: Duration = Duration::from_millis(250);
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Counters shared by every collar, read by the progress line and the final report.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) samples_sent: AtomicU64,
    pub(super) batches_sent: AtomicU64,
    pub(super) backfilled: AtomicU64,
    pub(super) voice_sent: AtomicU64,
    pub(super) commands_obeyed: AtomicU64,
    pub(super) reconnects: AtomicU64,
    pub(super) samples_dropped: AtomicU64,
    pub(super) online: AtomicU32,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn report(&self) -> SimulateReport {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SimulateReport {
            samples_sent: get(&self.samples_sent),
            batches_sent: get(&self.batches_sent),
            samples_backfilled: get(&self.backfilled),
            voice_sent: get(&self.voice_sent),
            commands_obeyed: get(&self.commands_obeyed),
            reconnects: get(&self.reconnects),
            samples_dropped: get(&self.samples_dropped),
        }
    }

    fn summary(&self, collars: u32, elapsed: Duration) -> String {
        let report = self.report();
        let rate = report.samples_sent as f64 / elapsed.as_secs_f64().max(1.0);
        let online = self.online.load(Ordering::Relaxed);
        format!(
            "{} samples ({rate:.1}/s), {online}/{collars} online, {} commands obeyed, \
             {} batches, {} voice, {} reconnects",
            report.samples_sent,
            report.commands_obeyed,
            report.batches_sent,
            report.voice_sent,
            report.reconnects
        )
    }
}

/// What the monitor shows progress of.
pub(super) struct Fleet {
    pub(super) collars: u32,
    /// Samples every collar's backfill holds together (0: no backfill).
    pub(super) backfill_total: u64,
}

/// Shows the backfill on a progress bar, then the fleet on a spinner line (or logs both
/// every 10 s), until stopped.
pub(super) async fn monitor(
    counters: Arc<Counters>,
    fleet: Fleet,
    progress: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut backfill = (fleet.backfill_total > 0).then(|| Backfill::start(&fleet, progress));
    let mut spinner = (progress && backfill.is_none()).then(new_spinner);
    let started = Instant::now();
    let every = if progress {
        PROGRESS_EVERY
    } else {
        SUMMARY_EVERY
    };
    let mut ticks = tokio::time::interval_at(started + every, every);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        let line = counters.summary(fleet.collars, started.elapsed());
        if let Some(bar) = &backfill {
            if bar.show(counters.backfilled.load(Ordering::Relaxed), &line) {
                backfill = None;
                spinner = progress.then(new_spinner);
            }
            continue;
        }
        match &spinner {
            Some(bar) => bar.set_message(line),
            None => tracing::info!("simulate: {line}"),
        }
    }
    let line = counters.summary(fleet.collars, started.elapsed());
    if let Some(bar) = backfill {
        bar.show(counters.backfilled.load(Ordering::Relaxed), &line);
    }
    if let Some(bar) = spinner {
        bar.finish_with_message(line);
    }
}

fn new_spinner() -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {msg}")
        .expect("the template is a valid constant");
    let bar = ProgressBar::new_spinner().with_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The backfill's bar (samples uploaded of all the fleet's), or its log lines.
struct Backfill {
    bar: Option<ProgressBar>,
    total: u64,
}

impl Backfill {
    fn start(fleet: &Fleet, progress: bool) -> Backfill {
        let bar = progress.then(|| {
            let style = ProgressStyle::with_template(
                "{spinner:.green} [{elapsed_precise}] backfill {bar:30} {human_pos}/{human_len} samples, {eta} left",
            )
            .expect("the template is a valid constant");
            let bar = ProgressBar::new(fleet.backfill_total).with_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Backfill {
            bar,
            total: fleet.backfill_total,
        }
    }

    /// Shows `done` samples uploaded; true once the backfill is complete.
    fn show(&self, done: u64, line: &str) -> bool {
        let complete = done >= self.total;
        match &self.bar {
            Some(bar) if complete => bar.finish_with_message(line.to_owned()),
            Some(bar) => bar.set_position(done),
            None => tracing::info!("simulate: backfill {done}/{} samples; {line}", self.total),
        }
        complete
    }
}
