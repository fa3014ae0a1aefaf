//! What an archival pass is told and what it tells back, its limits, and the seam to the
//! roll-ups (`DaySettled`).

use std::future::Future;

use aws_sdk_s3::Client as S3;
use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::PgPool;

use super::pass::day_start;
use crate::ids::PetId;

/// Documents MongoDB hands over per cursor batch while a day is read.
pub const READ_BATCH: u32 = 1_000;
/// Samples deleted from MongoDB per `deleteMany` once their object is verified.
pub const DELETE_BATCH: usize = 1_000;
/// Most days of one collar a pass archives; the rest wait for the next pass.
pub const MAX_DAYS_PER_COLLAR: usize = 400;

/// Whether a day's roll-ups are complete, so its raw samples may leave MongoDB. The
/// roll-up job provides the real one; a day that is not settled waits for a later pass.
pub trait DaySettled {
    fn settled(
        &self,
        pet: Option<PetId>,
        day: NaiveDate,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
}

/// Asks the roll-ups: a pet's day is settled when none of its hours waits for a roll-up pass
/// (a collar-day with no pet has no roll-ups to wait for).
#[derive(Debug, Clone)]
pub struct RollupsSettled(pub PgPool);

impl DaySettled for RollupsSettled {
    async fn settled(&self, pet: Option<PetId>, day: NaiveDate) -> anyhow::Result<bool> {
        match pet {
            None => Ok(true),
            Some(pet) => Ok(crate::store::rollups::day_settled(&self.0, pet, day).await?),
        }
    }
}

/// Test hook: where a pass stops as if killed (`PETTYSYNC_ARCHIVE_FAILPOINT`, for tests
/// and drills only; never set in production).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// After the object is uploaded, before it is verified and recorded.
    AfterUpload,
    /// After the manifest row, before any sample is deleted from MongoDB.
    AfterManifest,
    /// After the first delete batch of an object.
    MidDelete,
}

impl std::str::FromStr for Failpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "after_upload" => Ok(Self::AfterUpload),
            "after_manifest" => Ok(Self::AfterManifest),
            "mid_delete" => Ok(Self::MidDelete),
            _ => Err("must be after_upload, after_manifest or mid_delete".into()),
        }
    }
}

/// What a pass is told.
#[derive(Debug, Clone)]
pub struct PassOptions {
    pub bucket: String,
    /// Whole UTC days kept in MongoDB before `now`'s day.
    pub hot_retention_days: u32,
    /// The pass's clock: days before `now`'s day minus the hot window are archived.
    pub now: DateTime<Utc>,
    /// Report what would move, move nothing.
    pub dry_run: bool,
    pub failpoint: Option<Failpoint>,
    /// Samples per MongoDB delete (tests make it small to stop mid-delete).
    pub delete_batch: usize,
}

impl PassOptions {
    pub fn new(bucket: &str, hot_retention_days: u32) -> Self {
        Self {
            bucket: bucket.to_owned(),
            hot_retention_days,
            now: Utc::now(),
            dry_run: false,
            failpoint: None,
            delete_batch: DELETE_BATCH,
        }
    }

    /// The first instant that stays hot.
    pub(super) fn cutoff(&self) -> DateTime<Utc> {
        let day = self.now.date_naive() - Days::new(self.hot_retention_days.into());
        day_start(day)
    }
}

/// What a pass did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    pub objects: u64,
    pub samples: u64,
    pub bytes: u64,
    /// Objects whose interrupted delete this pass finished.
    pub resumed: u64,
    /// Objects of deleted pets removed from S3.
    pub orphans_deleted: u64,
    /// Collar-days left for later because their roll-ups are not complete.
    pub days_waiting: u64,
    /// Dry run: `(serial, day, samples)` that would move.
    pub planned: Vec<(String, NaiveDate, u64)>,
}

/// Everything a pass works with.
pub struct Stores<'a> {
    pub pg: &'a PgPool,
    pub mongo: &'a mongodb::Database,
    pub s3: &'a S3,
}
