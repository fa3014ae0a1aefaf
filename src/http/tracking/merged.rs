//! A pet's location history across both stores: the hot samples in MongoDB and the archived
//! ones in S3, merged so that `track` answers the same before and after a day is archived.

use std::collections::HashSet;

use mongodb::bson::{doc, DateTime as BsonDateTime, Document};

use super::TrackPoint;
use crate::actors::persistence::{integer, number};
use crate::ids::PetId;
use crate::migrate::TELEMETRY_COLLECTION;
use crate::store::archive;

use super::MAX_TRACK_SCAN;

/// A track point with the identity it is merged by.
pub(super) type Keyed = ((String, i64), TrackPoint);

/// The hot points and the archived ones, each `(serial, seq)` once, ordered by time and seq:
/// a day being archived may briefly be in both stores.
pub(super) fn merge_archived(
    hot: Vec<Keyed>,
    archived: Vec<archive::ArchivedSample>,
) -> Vec<TrackPoint> {
    let mut seen: HashSet<(String, i64)> = hot.iter().map(|(key, _)| key.clone()).collect();
    let mut points = hot;
    for s in archived {
        if let (Some(lat), Some(lon)) = (s.lat, s.lon) {
            if seen.insert((s.serial.clone(), s.seq)) {
                points.push((
                    (s.serial, s.seq),
                    TrackPoint {
                        at: s.ts,
                        lat,
                        lon,
                        acc: s.acc,
                    },
                ));
            }
        }
    }
    points.sort_by_key(|(key, point)| (point.at, key.1));
    points.into_iter().map(|(_, p)| p).collect()
}

pub(super) async fn read_track(
    db: &mongodb::Database,
    pet: PetId,
    from: i64,
    to: i64,
) -> mongodb::error::Result<Vec<Keyed>> {
    let filter = doc! {
        "meta.pet": pet.to_string(),
        "at": { "$gte": BsonDateTime::from_millis(from), "$lte": BsonDateTime::from_millis(to) },
        "lat": { "$exists": true },
    };
    let mut cursor = db
        .collection::<Document>(TELEMETRY_COLLECTION)
        .find(filter)
        .sort(doc! { "at": 1 })
        .limit(MAX_TRACK_SCAN)
        .await?;
    let mut seen = HashSet::new();
    let mut points = Vec::new();
    while cursor.advance().await? {
        let doc = cursor.deserialize_current()?;
        let collar = doc
            .get_document("meta")
            .ok()
            .and_then(|m| m.get_str("collar").ok())
            .unwrap_or("");
        // Belt and braces: a sample stored twice by a race still shows once.
        let Some(seq) = integer(&doc, "seq") else {
            continue;
        };
        if !seen.insert((collar.to_owned(), seq)) {
            continue;
        }
        let (Ok(at), Some(lat), Some(lon)) = (
            doc.get_datetime("at"),
            number(&doc, "lat"),
            number(&doc, "lon"),
        ) else {
            continue;
        };
        let point = TrackPoint {
            at: at.timestamp_millis(),
            lat,
            lon,
            acc: number(&doc, "acc"),
        };
        points.push(((collar.to_owned(), seq), point));
    }
    Ok(points)
}
