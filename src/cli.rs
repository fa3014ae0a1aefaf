//! The command line (`pettysync --help`), and the short commands that are not the server.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::ids::CollarSerial;
use crate::store::collars;

pub mod mood;

/// PettySync: smart pet collar back end. Settings come from PETTYSYNC_* environment variables.
#[derive(Debug, Parser)]
#[command(name = "pettysync", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: HTTP + WebSocket, MQTT ingest, all actors.
    Serve,
    /// Apply the PostgreSQL migrations and create the MongoDB collections and indexes.
    Migrate,
    /// Provision one collar and print its pairing code.
    ProvisionCollar {
        /// 4 to 64 characters of A-Z a-z 0-9 - _
        serial: String,
    },
    /// Run a fleet of virtual collars that publish real-looking telemetry to a broker.
    Simulate(SimulateArgs),
    /// The mood classifier: generate the seed set, train, evaluate.
    #[command(subcommand)]
    Mood(mood::MoodCommand),
    /// Recompute roll-ups now (all stale hours, or every hour of the range), then exit.
    Rollup {
        /// Mark every hour from this instant (epoch ms) stale first; needs --to.
        #[arg(long, requires = "to")]
        from: Option<i64>,
        /// End of the range (epoch ms, exclusive); needs --from.
        #[arg(long, requires = "from")]
        to: Option<i64>,
    },
    /// Run one archival pass now (what `serve` does on its schedule) and print what it moved.
    Archive {
        /// Print what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `pettysync simulate`: collars `{serial-prefix}0001` … walk, report and obey commands.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Number of virtual collars.
    #[arg(long, default_value_t = 10)]
    pub collars: u32,
    /// The broker, e.g. mqtt://127.0.0.1:1883.
    #[arg(long)]
    pub broker: String,
    /// Seconds between reports when nobody watches (a `set_interval` command changes it).
    #[arg(long, default_value_t = 300)]
    pub interval_s: u64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Collar topic prefix.
    #[arg(long, default_value = "pettysync/v1")]
    pub topic_prefix: String,
    /// Serials are this prefix and a four-digit number from 0001.
    #[arg(long, default_value = "SIM-")]
    pub serial_prefix: String,
    /// Seed of the random walks, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No progress bar (log a summary every 10 s instead).
    #[arg(long)]
    pub no_progress: bool,
    /// Before going live, each collar uploads this many days of history (at most 29) as
    /// store-and-forward batches with old timestamps, as fast as the broker takes them.
    #[arg(long, default_value_t = 0)]
    pub backfill_days: u32,
    /// Seconds between the backfill's samples (a collar's normal interval).
    #[arg(long, default_value_t = 300)]
    pub backfill_interval_s: u64,
}

impl SimulateArgs {
    pub fn options(&self) -> crate::simulate::SimulateOptions {
        crate::simulate::SimulateOptions {
            collars: self.collars,
            broker: self.broker.clone(),
            interval_s: self.interval_s,
            seconds: self.seconds,
            topic_prefix: self.topic_prefix.clone(),
            serial_prefix: self.serial_prefix.clone(),
            centre: (13.7563, 100.5018),
            progress: !self.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            seed: self.seed,
            backfill_days: self.backfill_days,
            backfill_interval_s: self.backfill_interval_s,
        }
    }
}

/// Why a command failed: a bad setting or argument (exit 2), or anything else (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Usage(#[from] crate::config::ConfigError),
    #[error("{0}")]
    BadArgument(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::BadArgument(_) => 2,
            Self::Failed(_) => 1,
        }
    }
}

/// `provision-collar`: prints `serial pairing-code` on one line for scripts to read.
pub async fn provision_collar(settings: &Settings, serial: &str) -> Result<String, CliError> {
    let serial =
        CollarSerial::parse(serial).map_err(|m| CliError::BadArgument(format!("SERIAL {m}")))?;
    let pg = crate::startup::pg_pool(settings).await?;
    let code = collars::provision(&pg, &serial)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| CliError::BadArgument(format!("collar {serial} is provisioned already")))?;
    Ok(format!("{serial} {code}"))
}

/// `rollup`: marks the range's hours stale for every pet with samples in it (when given),
/// then runs one pass; returns what it did, for the operator.
pub async fn rollup(settings: &Settings, range: Option<(i64, i64)>) -> Result<String, CliError> {
    let aws = crate::startup::aws_config(settings).await;
    let history = crate::store::history::History {
        pg: crate::startup::pg_pool(settings).await?,
        mongo: crate::startup::mongo_database(settings).await?,
        s3: crate::startup::s3_client(&aws, settings),
        bucket: settings.s3_bucket.clone(),
    };
    if let Some((from, to)) = range {
        if !(0..=crate::domain::stats::LATEST_MS).contains(&from)
            || to <= from
            || to > crate::domain::stats::LATEST_MS
        {
            return Err(CliError::BadArgument(
                "--from and --to are epoch milliseconds from 1970 to 9999, --from before --to"
                    .into(),
            ));
        }
        let pets = crate::store::history::pets_between(&history, from, to)
            .await
            .map_err(anyhow::Error::from)?;
        crate::store::rollups::mark_range_dirty(&history.pg, &pets, from, to)
            .await
            .map_err(anyhow::Error::from)?;
    }
    let report = crate::actors::rollup::run_pass(&history)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(if report.skipped {
        "another node is running a roll-up pass; the stale hours are left to it".to_owned()
    } else {
        format!(
            "rolled up {} hours: {} buckets from {} samples ({} spans left stale)",
            report.hours, report.buckets, report.samples, report.failed_spans
        )
    })
}

/// `archive`: one archival pass under the job's lock; what it moved (or would move).
pub async fn archive(settings: &Settings, dry_run: bool) -> Result<String, CliError> {
    use crate::actors::archival::{self, ArchiveStores, Outcome};
    let aws = crate::startup::aws_config(settings).await;
    let stores = ArchiveStores {
        pg: crate::startup::pg_pool(settings).await?,
        mongo: crate::startup::mongo_database(settings).await?,
        s3: crate::startup::s3_client(&aws, settings),
    };
    let mut options = archival::pass_options(settings);
    options.dry_run = dry_run;
    let settled = crate::store::archive::RollupsSettled(stores.pg.clone());
    let outcome = archival::run_locked(&stores, &settled, &options)
        .await
        .map_err(anyhow::Error::from)?;
    let Outcome::Ran(report) = outcome else {
        return Ok("another node is archiving now; nothing done".to_owned());
    };
    if dry_run {
        let mut lines: Vec<String> = report
            .planned
            .iter()
            .map(|(serial, day, count)| format!("would archive {serial} {day}: {count} samples"))
            .collect();
        lines.push(format!(
            "dry run: {} collar-days, {} samples",
            report.planned.len(),
            report.samples
        ));
        return Ok(lines.join("\n"));
    }
    Ok(format!(
        "archived {} objects, {} samples, {} bytes; finished {} interrupted deletes; \
         removed {} objects of deleted pets; {} collar-days wait for their roll-ups",
        report.objects,
        report.samples,
        report.bytes,
        report.resumed,
        report.orphans_deleted,
        report.days_waiting
    ))
}
