//! The archive of raw telemetry in S3 and its manifest in PostgreSQL (`archive_segments`):
//! the pass that moves whole UTC days out of MongoDB (`pass`), the object format
//! (`object`), and the reads that bring archived samples back for history. No actors: the
//! `ArchivalSupervisor` and `pettysync archive` both call [`run_pass`].

mod object;
mod options;
mod pass;

use aws_sdk_s3::Client as S3;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use crate::ids::PetId;

pub use self::object::{ArchivedSample, ZSTD_LEVEL};
pub use self::options::{
    DaySettled, Failpoint, PassOptions, PassReport, RollupsSettled, Stores, DELETE_BATCH,
    MAX_DAYS_PER_COLLAR, READ_BATCH,
};
pub use self::pass::run_pass;

/// Most manifest objects one history read fetches (a year of days, a few parts each).
pub const MAX_SEGMENTS_PER_READ: i64 = 2_000;
/// Most samples one object may hold: a collar's day at the fastest interval (2 s) is 43 200.
pub const MAX_OBJECT_SAMPLES: usize = 200_000;
/// Orphaned objects deleted from S3 per batch (S3's DeleteObjects takes up to 1 000).
pub const ORPHAN_BATCH: i64 = 500;

impl ArchiveError {
    /// An S3 call on `key` that failed, with the SDK's whole error chain.
    pub(crate) fn s3<E: std::error::Error>(what: &str, key: &str, error: E) -> Self {
        ArchiveError::S3(format!(
            "{what} {key}: {}",
            aws_sdk_s3::error::DisplayErrorContext(error)
        ))
    }
}

/// Why an archive step failed. Nothing is deleted from MongoDB after any of these.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("PostgreSQL: {0}")]
    Pg(#[from] sqlx::Error),
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("S3: {0}")]
    S3(String),
    #[error("local spool file: {0}")]
    Io(#[from] std::io::Error),
    #[error("archive object unreadable: {0}")]
    Corrupt(String),
    #[error("archive object {key} read back differs: {what}")]
    Mismatch { key: String, what: String },
    #[error("asking whether a day's roll-ups are complete: {0}")]
    Settled(String),
    #[error("stopped at failpoint {0:?} (test hook)")]
    Failpoint(Failpoint),
}

/// The object key of a collar's day (part 0) or of a later part, per the archive layout.
pub fn object_key(serial: &str, day: NaiveDate, part: i32) -> String {
    let date = day.format("%Y-%m-%d");
    if part == 0 {
        format!("archive/telemetry/v1/date={date}/serial={serial}.ndjson.zst")
    } else {
        format!("archive/telemetry/v1/date={date}/serial={serial}.part-{part}.ndjson.zst")
    }
}

/// One row of the manifest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Segment {
    pub serial: String,
    pub pet_id: Option<PetId>,
    pub day: NaiveDate,
    pub part: i32,
    pub key: String,
    pub count: i64,
    pub first_ts: DateTime<Utc>,
    pub last_ts: DateTime<Utc>,
    pub sha256: String,
    pub bytes: i64,
    pub state: String,
    /// Samples with a position fix; `None` for objects recorded before it was counted.
    pub fixes: Option<i64>,
}

const SEGMENT_COLUMNS: &str =
    "serial, pet_id, day, part, key, count, first_ts, last_ts, sha256, bytes, state, fixes";

/// The manifest rows of a collar's day, by part.
pub async fn segments_of_day(
    pg: &PgPool,
    serial: &str,
    day: NaiveDate,
) -> Result<Vec<Segment>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SEGMENT_COLUMNS} FROM archive_segments WHERE serial = $1 AND day = $2 ORDER BY part"
    )))
    .bind(serial)
    .bind(day)
    .fetch_all(pg)
    .await
}

/// The verified objects of a pet holding samples from `from_ms` to `to_ms` (inclusive), by
/// day and part, at most [`MAX_SEGMENTS_PER_READ`].
pub async fn segments_of_pet(
    pg: &PgPool,
    pet: PetId,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Segment>, sqlx::Error> {
    let (Some(from), Some(to)) = (
        DateTime::<Utc>::from_timestamp_millis(from_ms),
        DateTime::<Utc>::from_timestamp_millis(to_ms),
    ) else {
        return Ok(Vec::new());
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SEGMENT_COLUMNS} FROM archive_segments
         WHERE pet_id = $1 AND last_ts >= $2 AND first_ts <= $3
         ORDER BY day, part LIMIT $4"
    )))
    .bind(pet)
    .bind(from)
    .bind(to)
    .bind(MAX_SEGMENTS_PER_READ)
    .fetch_all(pg)
    .await
}

/// The newest verified objects of a pet with a sample before `before_ms` and after
/// `after_ms` (epoch ms), newest first, at most `limit`.
pub async fn latest_segments_before(
    pg: &PgPool,
    pet: PetId,
    before_ms: i64,
    after_ms: i64,
    limit: i64,
) -> Result<Vec<Segment>, sqlx::Error> {
    let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SEGMENT_COLUMNS} FROM archive_segments
         WHERE pet_id = $1 AND first_ts < $2 AND last_ts > $3
         ORDER BY last_ts DESC LIMIT $4"
    )))
    .bind(pet)
    .bind(at(before_ms))
    .bind(at(after_ms.max(-1)))
    .bind(limit)
    .fetch_all(pg)
    .await
}

/// The pets with an archived sample from `from_ms` to `to_ms` (inclusive).
pub async fn pets_between(
    pg: &PgPool,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<PetId>, sqlx::Error> {
    let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let pets: Vec<(PetId,)> = sqlx::query_as(
        "SELECT DISTINCT pet_id FROM archive_segments
         WHERE pet_id IS NOT NULL AND last_ts >= $1 AND first_ts <= $2",
    )
    .bind(at(from_ms))
    .bind(at(to_ms))
    .fetch_all(pg)
    .await?;
    Ok(pets.into_iter().map(|(pet,)| pet).collect())
}

/// Every sample of one archived object, oldest first. An object holding more than
/// [`MAX_OBJECT_SAMPLES`] is refused as corrupt rather than read into memory.
pub async fn read_object(
    s3: &S3,
    bucket: &str,
    key: &str,
) -> Result<Vec<ArchivedSample>, ArchiveError> {
    let fetched = object::fetch(s3, bucket, key).await?;
    let path = fetched.file.path.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut samples = Vec::new();
        for sample in object::samples(&path)? {
            if samples.len() == MAX_OBJECT_SAMPLES {
                return Err(ArchiveError::Corrupt(format!(
                    "more than {MAX_OBJECT_SAMPLES} samples in one object"
                )));
            }
            samples.push(sample?);
        }
        Ok(samples)
    })
    .await
    .map_err(|e| ArchiveError::Corrupt(format!("reading the object stopped: {e}")))?;
    drop(fetched);
    read
}

/// Deletes from S3 the objects whose manifest rows went with their pet, in batches, and
/// forgets each once S3 confirms. Returns how many were deleted. A failure leaves the rest
/// queued for the next call (the next pet deletion or archival pass).
pub async fn drain_orphans(pg: &PgPool, s3: &S3, bucket: &str) -> Result<u64, ArchiveError> {
    let mut deleted = 0;
    loop {
        let keys: Vec<(String,)> =
            sqlx::query_as("SELECT key FROM archive_orphans ORDER BY created_at LIMIT $1")
                .bind(ORPHAN_BATCH)
                .fetch_all(pg)
                .await?;
        if keys.is_empty() {
            return Ok(deleted);
        }
        for (key,) in &keys {
            // Deleting a missing key succeeds in S3, so a repeat is harmless.
            s3.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| ArchiveError::s3("delete", key, e))?;
            sqlx::query("DELETE FROM archive_orphans WHERE key = $1")
                .bind(key)
                .execute(pg)
                .await?;
            deleted += 1;
        }
    }
}
