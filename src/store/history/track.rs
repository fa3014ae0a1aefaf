//! A pet's position fixes between two instants, hot and archived, which the track routes
//! (`/track`, `/track.gpx`) go through. It streams, so a reader holds one cursor batch (or
//! one archived day) at a time whatever the range.

use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};

use super::{stored, History, HistoryError};
use crate::ids::PetId;
use crate::migrate::TELEMETRY_COLLECTION;
use crate::store::archive;

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

/// How many fixes of `pet` are stored from `from_ms` to `to_ms` (both included): what a
/// caller checks before it commits to streaming them. An upper bound: a sample in both
/// places (its day's delete from MongoDB not finished) or stored twice by a race counts
/// twice, and an archived object recorded before its fixes were counted counts all of its
/// samples.
pub async fn count_track_points(
    history: &History,
    pet: PetId,
    from_ms: i64,
    to_ms: i64,
) -> Result<u64, HistoryError> {
    let filter = doc! {
        "meta.pet": pet.to_string(),
        "at": { "$gte": BsonDateTime::from_millis(from_ms), "$lte": BsonDateTime::from_millis(to_ms) },
        "lat": { "$exists": true },
    };
    let hot = history
        .mongo
        .collection::<Document>(TELEMETRY_COLLECTION)
        .count_documents(filter)
        .await?;
    let archived: i64 = archive::segments_of_pet(&history.pg, pet, from_ms, to_ms)
        .await?
        .iter()
        .map(|segment| segment.fixes.unwrap_or(segment.count))
        .sum();
    Ok(hot + u64::try_from(archived).unwrap_or_default())
}

/// The fixes of `pet` from `from_ms` to `to_ms` (both included), hot and archived, ordered
/// by `(ts, seq)`, each `(serial, seq)` once, at most `limit`.
pub fn track_points(
    history: &History,
    pet: PetId,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> impl Stream<Item = Result<TrackPoint, HistoryError>> + Send + 'static {
    stored(history.clone(), pet, from_ms, to_ms, true)
        .try_filter_map(|sample| async move {
            Ok(sample.fix.map(|fix| TrackPoint {
                at_ms: sample.ts_ms,
                lat: fix.lat,
                lon: fix.lon,
                acc: fix.acc,
            }))
        })
        .take(limit)
}
