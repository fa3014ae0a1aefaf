//! A pet's stored history read back: "the samples of a pet between two instants" (for the
//! roll-ups) and its position fixes as a stream (`track`: for `/track` and `/track.gpx`), each
//! in `(ts, seq)` order, each `(serial, seq)` once. Today they come from MongoDB's hot window;
//! when raw data moves to the S3 archive, these are the functions that span both.

mod track;

pub use self::track::{count_track_points, track_points, TrackPoint, HISTORY_BATCH};

use std::collections::HashSet;

use mongodb::bson::{doc, DateTime as BsonDateTime, Document};

use super::fields::{integer, number};
use crate::domain::sample::{Activity, Fix, Sample};
use crate::ids::PetId;
use crate::migrate::TELEMETRY_COLLECTION;

/// Most samples one read returns (a day at the fastest interval, 2 s, is 43 200): a caller
/// asking for more gets [`HistoryError::TooMany`], never a silently cut list.
pub const MAX_READ_SAMPLES: usize = 100_000;
/// Most fixes looked at, newest first, for the last one accurate enough for distance.
const MAX_FIX_SCAN: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
    #[error("more than {MAX_READ_SAMPLES} samples between {from} and {to}")]
    TooMany { from: i64, to: i64 },
}

/// The pet's stored samples with `from <= ts < to` (epoch ms), in `(ts, seq)` order, each
/// `(serial, seq)` once.
pub async fn samples(
    db: &mongodb::Database,
    pet: PetId,
    from: i64,
    to: i64,
) -> Result<Vec<Sample>, HistoryError> {
    let filter = doc! {
        "meta.pet": pet.to_string(),
        "at": { "$gte": BsonDateTime::from_millis(from), "$lt": BsonDateTime::from_millis(to) },
    };
    let mut cursor = db
        .collection::<Document>(TELEMETRY_COLLECTION)
        .find(filter)
        .limit(MAX_READ_SAMPLES as i64 + 1)
        .await?;
    let mut seen = HashSet::new();
    let mut read = Vec::new();
    while cursor.advance().await? {
        let doc = cursor.deserialize_current()?;
        if read.len() == MAX_READ_SAMPLES {
            return Err(HistoryError::TooMany { from, to });
        }
        if let Some((serial, sample)) = decode(&doc) {
            if seen.insert((serial, sample.seq)) {
                read.push(sample);
            }
        }
    }
    read.sort_by_key(|s| (s.ts_ms, s.seq));
    Ok(read)
}

/// The pet's last stored sample before `before` whose fix is `usable` (looking at no more
/// than [`MAX_FIX_SCAN`] fixes).
pub async fn last_fix_before(
    db: &mongodb::Database,
    pet: PetId,
    before: i64,
    usable: impl Fn(&Sample) -> bool,
) -> Result<Option<Sample>, HistoryError> {
    let filter = doc! {
        "meta.pet": pet.to_string(),
        "at": { "$lt": BsonDateTime::from_millis(before) },
        "lat": { "$exists": true },
    };
    let mut cursor = db
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
        // Among fixes of the same instant, the one with the highest seq comes last.
        if usable(&sample) && best.as_ref().is_none_or(|b| b.seq < sample.seq) {
            best = Some(sample);
        }
    }
    Ok(best)
}

/// The pets with a stored sample in `from <= ts < to`.
pub async fn pets_between(
    db: &mongodb::Database,
    from: i64,
    to: i64,
) -> Result<Vec<PetId>, HistoryError> {
    let filter = doc! {
        "at": { "$gte": BsonDateTime::from_millis(from), "$lt": BsonDateTime::from_millis(to) },
    };
    let pets = db
        .collection::<Document>(TELEMETRY_COLLECTION)
        .distinct("meta.pet", filter)
        .await?;
    Ok(pets
        .iter()
        .filter_map(|p| uuid::Uuid::parse_str(p.as_str()?).ok().map(PetId))
        .collect())
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
    let act = doc
        .get_str("act")
        .ok()
        .and_then(|name| Activity::ALL.into_iter().find(|a| a.as_str() == name));
    let sample = Sample {
        seq,
        ts_ms,
        fix,
        hr: integer(doc, "hr").and_then(|v| u16::try_from(v).ok()),
        steps: integer(doc, "steps").and_then(|v| u32::try_from(v).ok()),
        act,
        bat: integer(doc, "bat").and_then(|v| u8::try_from(v).ok()),
        temp: number(doc, "temp"),
    };
    Some((serial.to_owned(), sample))
}
