//! The fleet: one [`CollarTask`] per collar, each in its own `collar` span, and the progress
//! monitor, run until the deadline or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tracing::Instrument as _;
use url::Url;

use super::backfill::BackfillPlan;
use super::progress::{monitor, Counters, Fleet};
use super::task::CollarTask;
use super::{SimulateOptions, SimulateReport};

/// Runs the fleet until `seconds` elapse or Ctrl-C; returns what was sent.
pub async fn run(options: SimulateOptions) -> anyhow::Result<SimulateReport> {
    options.validate()?;
    let broker = Url::parse(&options.broker).context("broker is not a valid URL")?;
    let counters = Arc::new(Counters::default());
    let mut seeds = StdRng::seed_from_u64(options.seed);
    let collars = (1..=options.collars)
        .map(|i| CollarTask::new(&options, i, &broker, seeds.gen(), counters.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let (stop, stopped) = watch::channel(false);
    let tasks: Vec<_> = collars
        .into_iter()
        .map(|collar| {
            let span = tracing::info_span!("collar", collar = %collar.serial);
            tokio::spawn(collar.run(stopped.clone()).instrument(span))
        })
        .collect();
    // The monitor outlives the collars, so its last line shows the fleet disconnected.
    let (done, finished) = watch::channel(false);
    let per_collar = match options.backfill_days {
        0 => 0,
        days => BackfillPlan::samples(days, options.backfill_interval_s),
    };
    let monitor = tokio::spawn(monitor(
        counters.clone(),
        Fleet {
            collars: options.collars,
            backfill_total: per_collar * u64::from(options.collars),
        },
        options.progress,
        finished,
    ));

    wait_for_stop(options.seconds).await;
    stop.send_replace(true);
    for task in tasks {
        task.await.context("a collar task panicked")?;
    }
    done.send_replace(true);
    monitor.await.context("the progress task panicked")?;
    Ok(counters.report())
}

async fn wait_for_stop(seconds: Option<u64>) {
    let deadline = async {
        match seconds {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => std::future::pending().await,
        }
    };
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            // Without a signal handler the run still ends at its deadline.
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = deadline => {}
        () = ctrl_c => {}
    }
}
