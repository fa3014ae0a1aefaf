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

/// Shows the fleet's progress on a spinner line, or logs it every 10 s, until stopped.
pub(super) async fn monitor(
    counters: Arc<Counters>,
    collars: u32,
    progress: bool,
    mut stop: watch::Receiver<bool>,
) {
    let bar = progress.then(|| {
        let style = ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {msg}")
            .expect("the template is a valid constant");
        let bar = ProgressBar::new_spinner().with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
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
        let line = counters.summary(collars, started.elapsed());
        match &bar {
            Some(bar) => bar.set_message(line),
            None => tracing::info!("simulate: {line}"),
        }
    }
    if let Some(bar) = bar {
        bar.finish_with_message(counters.summary(collars, started.elapsed()));
    }
}
