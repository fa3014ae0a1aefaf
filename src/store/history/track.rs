//! A pet's position fixes between two instants, which the track routes (`/track`,
//! `/track.gpx`) go through. It streams, so a reader holds one cursor batch at a time whatever
//! the range.

use std::collections::HashSet;

use futures_util::{future, Stream, TryStreamExt as _};
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};

use crate::ids::PetId;
use crate::migrate::TELEMETRY_COLLECTION;
use crate::store::fields::{integer, number};

/// Documents fetched per cursor round trip: what a reader holds in memory at once.
pub const HISTORY_BATCH: u32 = 1_000;

/// One stored position fix of a pet.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPoint {
    /// Sample time, epoch milliseconds.
    pub at_ms: i64,
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy in metres, when the collar gave one.
    pub acc: Option<f64>,
}

/// The samples with a fix of `pet` from `from_ms` to `to_ms`, both included.
fn fixes_between(pet: PetId, from_ms: i64, to_ms: i64) -> Document {
    doc! {
        "meta.pet": pet.to_string(),
        "at": { "$gte": BsonDateTime::from_millis(from_ms), "$lte": BsonDateTime::from_millis(to_ms) },
        "lat": { "$exists": true },
    }
}

/// How many fixes of `pet` are stored from `from_ms` to `to_ms`: what a caller checks
/// before it commits to streaming them. A `(serial, seq)` stored twice by a race counts
/// twice here (it is rare: ingest suppresses duplicates before it inserts).
pub async fn count_track_points(
    db: &mongodb::Database,
    pet: PetId,
    from_ms: i64,
    to_ms: i64,
) -> mongodb::error::Result<u64> {
    db.collection::<Document>(TELEMETRY_COLLECTION)
        .count_documents(fixes_between(pet, from_ms, to_ms))
        .await
}

/// The fixes of `pet` from `from_ms` to `to_ms` (both included), ordered by `(ts, seq)`,
/// each `(serial, seq)` once, at most `limit` stored documents read.
pub async fn track_points(
    db: &mongodb::Database,
    pet: PetId,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> mongodb::error::Result<impl Stream<Item = mongodb::error::Result<TrackPoint>> + Send + 'static>
{
    let cursor = db
        .collection::<Document>(TELEMETRY_COLLECTION)
        .find(fixes_between(pet, from_ms, to_ms))
        .sort(doc! { "at": 1, "seq": 1 })
        .limit(limit)
        .batch_size(HISTORY_BATCH)
        .await?;
    let mut once = OncePerSample::default();
    Ok(cursor.try_filter_map(move |doc| future::ready(Ok(once.point(&doc)))))
}

/// Lets each `(serial, seq)` through once. A repeat has the same `ts` as its first copy, so
/// in `(ts, seq)` order only the identities of the current instant need remembering.
#[derive(Default)]
struct OncePerSample {
    at_ms: Option<i64>,
    seen: HashSet<(String, i64)>,
}

impl OncePerSample {
    fn point(&mut self, doc: &Document) -> Option<TrackPoint> {
        let at_ms = doc.get_datetime("at").ok()?.timestamp_millis();
        if self.at_ms != Some(at_ms) {
            self.at_ms = Some(at_ms);
            self.seen.clear();
        }
        let collar = doc
            .get_document("meta")
            .ok()
            .and_then(|meta| meta.get_str("collar").ok())
            .unwrap_or_default();
        if !self.seen.insert((collar.to_owned(), integer(doc, "seq")?)) {
            return None;
        }
        Some(TrackPoint {
            at_ms,
            lat: number(doc, "lat")?,
            lon: number(doc, "lon")?,
            acc: number(doc, "acc"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(collar: &str, seq: i64, at_ms: i64) -> Document {
        doc! {
            "at": BsonDateTime::from_millis(at_ms),
            "meta": { "collar": collar, "pet": "p" },
            "seq": seq,
            "lat": 13.75,
            "lon": 100.5,
        }
    }

    #[test]
    fn a_sample_stored_twice_is_read_once() {
        let mut once = OncePerSample::default();
        let read: Vec<_> = [
            stored("A", 1, 1_000),
            stored("A", 1, 1_000),
            stored("B", 1, 1_000),
            stored("A", 2, 2_000),
            stored("A", 2, 2_000),
        ]
        .iter()
        .filter_map(|doc| once.point(doc))
        .map(|point| point.at_ms)
        .collect();
        assert_eq!(read, vec![1_000, 1_000, 2_000]);
    }

    #[test]
    fn only_the_current_instant_is_remembered() {
        let mut once = OncePerSample::default();
        for at_ms in 0..10_000 {
            once.point(&stored("A", at_ms, at_ms));
        }
        assert_eq!(once.seen.len(), 1);
    }
}
