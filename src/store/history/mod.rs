//! A pet's stored history read back from both places raw samples live: MongoDB's hot window
//! and the S3 archive (its manifest in PostgreSQL). Every reader — the roll-ups, `/track`,
//! `/track.gpx` — goes through [`stored`], so each answers the same before and after a day
//! is archived: samples in `(ts, seq)` order, each `(serial, seq)` once (a day whose delete
//! from MongoDB has not finished is briefly in both places).
//!
//! A range is read as pieces: the stretches of UTC days with no archived object stream from
//! a MongoDB cursor one batch at a time; a day with archived objects is read whole (its
//! objects and whatever of it is still hot — at most a day of one pet) and merged.

mod pieces;
mod track;

pub use self::track::{count_track_points, track_points, TrackPoint, HISTORY_BATCH};

use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt as _, TryStreamExt as _};
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use sqlx::PgPool;

use self::pieces::{plan, read_piece};
use super::archive::{self, ArchiveError};
use super::fields::{integer, number};
use crate::domain::sample::{Activity, Fix, Sample};
use crate::ids::PetId;
use crate::migrate::TELEMETRY_COLLECTION;

/// Most samples one read returns (a day at the fastest interval, 2 s, is 43 200): a caller
/// asking for more gets [`HistoryError::TooMany`], never a silently cut list.
pub const MAX_READ_SAMPLES: usize = 100_000;
/// Most fixes looked at in MongoDB, newest first, for the last one accurate enough.
const MAX_FIX_SCAN: i64 = 1000;
/// Most archived objects opened for the last fix before an instant.
const MAX_FIX_OBJECTS: i64 = 2;

/// The stores a pet's history is read from. Cheap to clone.
#[derive(Clone)]
pub struct History {
    pub pg: PgPool,
    pub mongo: mongodb::Database,
    pub s3: aws_sdk_s3::Client,
    /// The bucket of the archive.
    pub bucket: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
    #[error("PostgreSQL: {0}")]
    Pg(#[from] sqlx::Error),
    #[error("archive: {0}")]
    Archive(#[from] ArchiveError),
    #[error("more than {MAX_READ_SAMPLES} samples between {from} and {to}")]
    TooMany { from: i64, to: i64 },
}

/// The pet's stored samples with `from <= ts <= to` (epoch ms, both included) from MongoDB
/// and the archive, in `(ts, seq)` order, each `(serial, seq)` once; with `only_fixes`,
/// those with a position fix. Streams: a reader holds one cursor batch, or one archived day.
pub fn stored(
    history: History,
    pet: PetId,
    from: i64,
    to: i64,
    only_fixes: bool,
) -> BoxStream<'static, Result<Sample, HistoryError>> {
    let planned = async move {
        let segments = archive::segments_of_pet(&history.pg, pet, from, to).await?;
        let reads = stream::iter(plan(from, to, segments)).then(move |piece| {
            let history = history.clone();
            async move { read_piece(history, pet, piece, only_fixes).await }
        });
        Ok::<_, HistoryError>(reads.try_flatten())
    };
    stream::once(planned).try_flatten().boxed()
}

/// The pet's stored samples with `from <= ts < to` (epoch ms), in `(ts, seq)` order, each
/// `(serial, seq)` once, hot or archived.
pub async fn samples(
    history: &History,
    pet: PetId,
    from: i64,
    to: i64,
) -> Result<Vec<Sample>, HistoryError> {
    if to <= from {
        return Ok(Vec::new());
    }
    let mut read = Vec::new();
    let mut stream = stored(history.clone(), pet, from, to - 1, false);
    while let Some(sample) = stream.try_next().await? {
        if read.len() == MAX_READ_SAMPLES {
            return Err(HistoryError::TooMany { from, to });
        }
        read.push(sample);
    }
    Ok(read)
}

/// The pet's last stored sample before `before` whose fix is `usable`: the newest among the
/// last [`MAX_FIX_SCAN`] fixes in MongoDB and the newest archived objects that could hold a
/// later one.
pub async fn last_fix_before(
    history: &History,
    pet: PetId,
    before: i64,
    usable: impl Fn(&Sample) -> bool,
) -> Result<Option<Sample>, HistoryError> {
    let filter = doc! {
        "meta.pet": pet.to_string(),
        "at": { "$lt": BsonDateTime::from_millis(before) },
        "lat": { "$exists": true },
    };
    let mut cursor = history
        .mongo
        .collection::<Document>(TELEMETRY_COLLECTION)
        .find(filter)
        .sort(doc! { "at": -1 })
        .limit(MAX_FIX_SCAN)
        .await?;
    let mut best: Option<Sample> = None;
    while cursor.advance().await? {
        let Some((_, sample)) = decode(&cursor.deserialize_current()?) else {
            continue;
        };
        if best.as_ref().is_some_and(|b| b.ts_ms > sample.ts_ms) {
            break;
        }
        if usable(&sample) {
            best = later(best, sample);
        }
    }
    let newer_than = best.as_ref().map_or(i64::MIN, |b| b.ts_ms);
    let segments =
        archive::latest_segments_before(&history.pg, pet, before, newer_than, MAX_FIX_OBJECTS)
            .await?;
    for segment in segments {
        for archived in archive::read_object(&history.s3, &history.bucket, &segment.key).await? {
            let (_, sample) = from_archived(archived);
            if sample.ts_ms < before && usable(&sample) {
                best = later(best, sample);
            }
        }
    }
    Ok(best)
}

/// The later of two samples by `(ts, seq)`.
fn later(best: Option<Sample>, sample: Sample) -> Option<Sample> {
    match best {
        Some(b) if (b.ts_ms, b.seq) >= (sample.ts_ms, sample.seq) => Some(b),
        _ => Some(sample),
    }
}

/// The pets with a stored sample in `from <= ts < to`, hot or archived.
pub async fn pets_between(
    history: &History,
    from: i64,
    to: i64,
) -> Result<Vec<PetId>, HistoryError> {
    let filter = doc! {
        "at": { "$gte": BsonDateTime::from_millis(from), "$lt": BsonDateTime::from_millis(to) },
    };
    let hot = history
        .mongo
        .collection::<Document>(TELEMETRY_COLLECTION)
        .distinct("meta.pet", filter)
        .await?;
    let mut pets: Vec<PetId> = hot
        .iter()
        .filter_map(|p| uuid::Uuid::parse_str(p.as_str()?).ok().map(PetId))
        .collect();
    pets.extend(archive::pets_between(&history.pg, from, to).await?);
    pets.sort();
    pets.dedup();
    Ok(pets)
}

/// A stored document as the collar sent it: its serial and sample.
fn decode(doc: &Document) -> Option<(String, Sample)> {
    let serial = doc.get_document("meta").ok()?.get_str("collar").ok()?;
    let ts_ms = doc.get_datetime("at").ok()?.timestamp_millis();
    let seq = u64::try_from(integer(doc, "seq")?).ok()?;
    let fix = match (number(doc, "lat"), number(doc, "lon")) {
        (Some(lat), Some(lon)) => Some(Fix {
            lat,
            lon,
            acc: number(doc, "acc"),
        }),
        _ => None,
    };
    let sample = Sample {
        seq,
        ts_ms,
        fix,
        hr: integer(doc, "hr").and_then(|v| u16::try_from(v).ok()),
        steps: integer(doc, "steps").and_then(|v| u32::try_from(v).ok()),
        act: doc.get_str("act").ok().and_then(activity),
        bat: integer(doc, "bat").and_then(|v| u8::try_from(v).ok()),
        temp: number(doc, "temp"),
    };
    Some((serial.to_owned(), sample))
}

/// An archived line as the collar sent it: its serial and sample.
fn from_archived(s: archive::ArchivedSample) -> (String, Sample) {
    let fix = match (s.lat, s.lon) {
        (Some(lat), Some(lon)) => Some(Fix {
            lat,
            lon,
            acc: s.acc,
        }),
        _ => None,
    };
    let sample = Sample {
        seq: u64::try_from(s.seq).unwrap_or_default(),
        ts_ms: s.ts,
        fix,
        hr: s.hr.and_then(|v| u16::try_from(v).ok()),
        steps: s.steps.and_then(|v| u32::try_from(v).ok()),
        act: s.act.as_deref().and_then(activity),
        bat: s.bat.and_then(|v| u8::try_from(v).ok()),
        temp: s.temp,
    };
    (s.serial, sample)
}

fn activity(name: &str) -> Option<Activity> {
    Activity::ALL.into_iter().find(|a| a.as_str() == name)
}
