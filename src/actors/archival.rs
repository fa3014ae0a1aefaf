//! `ArchivalSupervisor`: every `PETTYSYNC_ARCHIVE_INTERVAL_S` takes the archival job's
//! advisory lock (one node at a time), runs one archival pass (`store::archive`), releases
//! the lock, and logs and exports what it moved. A pass cut short (shutdown, a crash, a
//! failed store) is completed by the next one, so the actor simply tries again next time.

use std::time::{Duration, Instant};

use actix::prelude::*;
use sqlx::PgPool;

use crate::store::archive::{self, DaySettled, PassOptions, PassReport, RollupsSettled};
use crate::store::locks::{self, Job};

/// The stores a pass works with. Cheap to clone.
#[derive(Clone)]
pub struct ArchiveStores {
    pub pg: PgPool,
    pub mongo: mongodb::Database,
    pub s3: aws_sdk_s3::Client,
}

/// What one locked pass came to.
#[derive(Debug)]
pub enum Outcome {
    Ran(PassReport),
    /// Another node holds the lock; this one does nothing.
    Busy,
}

/// Takes the lock, runs a pass, releases the lock; records the metrics and logs.
pub async fn run_locked(
    stores: &ArchiveStores,
    settled: &impl DaySettled,
    options: &PassOptions,
) -> Result<Outcome, archive::ArchiveError> {
    let Some(lock) = locks::try_exclusive(&stores.pg, Job::Archival).await? else {
        tracing::info!("archival pass skipped: another node holds the lock");
        return Ok(Outcome::Busy);
    };
    let started = Instant::now();
    let result = archive::run_pass(
        archive::Stores {
            pg: &stores.pg,
            mongo: &stores.mongo,
            s3: &stores.s3,
        },
        settled,
        options,
    )
    .await;
    // Released whatever the pass did; a failed release closes the session, which releases it.
    if let Err(error) = lock.release().await {
        tracing::warn!(error = ?error, "archival lock not released cleanly");
    }
    metrics::histogram!("pettysync_archive_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(report) => {
            metrics::counter!("pettysync_archive_objects_total").increment(report.objects);
            metrics::counter!("pettysync_archive_samples_total").increment(report.samples);
            metrics::counter!("pettysync_archive_bytes_total").increment(report.bytes);
            tracing::info!(
                objects = report.objects,
                samples = report.samples,
                bytes = report.bytes,
                resumed = report.resumed,
                orphans_deleted = report.orphans_deleted,
                days_waiting = report.days_waiting,
                dry_run = options.dry_run,
                seconds = started.elapsed().as_secs_f64(),
                "archival pass done"
            );
            Ok(Outcome::Ran(report))
        }
        Err(error) => {
            metrics::counter!("pettysync_archive_failures_total").increment(1);
            tracing::warn!(error = %error, "archival pass failed; the next pass completes it");
            Err(error)
        }
    }
}

/// Runs archival passes on a schedule. `S` says whether a day's roll-ups are complete.
pub struct ArchivalSupervisor<S = RollupsSettled> {
    stores: ArchiveStores,
    settled: S,
    options: PassOptions,
    interval: Duration,
    running: bool,
}

impl<S: DaySettled + Clone + Unpin + 'static> ArchivalSupervisor<S> {
    pub fn new(
        stores: ArchiveStores,
        settled: S,
        options: PassOptions,
        interval: Duration,
    ) -> Self {
        Self {
            stores,
            settled,
            options,
            interval,
            running: false,
        }
    }

    /// The supervisor `serve` runs: the settings' bucket, hot window and interval.
    pub fn from_settings(
        settings: &crate::config::Settings,
        stores: ArchiveStores,
        settled: S,
    ) -> Self {
        let interval = Duration::from_secs(settings.archive_interval_s);
        Self::new(stores, settled, pass_options(settings), interval)
    }

    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let (stores, settled) = (self.stores.clone(), self.settled.clone());
        let options = PassOptions {
            now: chrono::Utc::now(),
            ..self.options.clone()
        };
        let run = async move { run_locked(&stores, &settled, &options).await };
        ctx.spawn(crate::rt::guarded(run).into_actor(self).map(|_, actor, _| {
            actor.running = false;
        }));
    }
}

impl<S: DaySettled + Clone + Unpin + 'static> Actor for ArchivalSupervisor<S> {
    type Context = Context<Self>;

    /// The first pass runs one interval after start: a starting node serves first, and
    /// a restart does not archive more often than the interval says.
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |actor, ctx| actor.pass(ctx));
    }
}

/// Stops the supervisor (at shutdown); a pass in flight is dropped, and the next start
/// completes it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopArchival;

impl<S: DaySettled + Clone + Unpin + 'static> Handler<StopArchival> for ArchivalSupervisor<S> {
    type Result = ();
    fn handle(&mut self, _: StopArchival, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The pass options the settings ask for (bucket, hot window, the failpoint test hook).
pub fn pass_options(settings: &crate::config::Settings) -> PassOptions {
    let mut options = PassOptions::new(&settings.s3_bucket, settings.hot_retention_days);
    options.failpoint = settings
        .archive_failpoint
        .as_deref()
        .and_then(|f| f.parse().ok());
    options
}
