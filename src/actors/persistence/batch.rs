//! One batch to MongoDB: dead letters, the samples not stored before, and the alerts the
//! batch's messages raised (into the alert outbox). `(serial, seq)` pairs already stored are
//! skipped: a real time-series collection cannot carry a unique index, so duplicates are
//! found with one query per batch.

use std::collections::HashSet;

use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};

use crate::domain::sample::Sample;
use crate::ids::PetId;
use crate::migrate::{DEAD_LETTER_COLLECTION, TELEMETRY_COLLECTION};
use crate::store::alert_outbox;
use crate::store::fields::integer;

/// A sample ready for MongoDB, with its identity for duplicate suppression.
pub struct SampleRecord {
    pub serial: String,
    pub seq: u64,
    /// The pet and sample time, for marking the pet's roll-up hours stale.
    pub pet: Option<PetId>,
    pub ts_ms: i64,
    pub doc: Document,
}

impl SampleRecord {
    pub fn new(serial: &str, pet: Option<PetId>, sample: &Sample, received_at_ms: i64) -> Self {
        let mut doc = doc! {
            "at": BsonDateTime::from_millis(sample.ts_ms),
            "meta": { "collar": serial, "pet": pet.map_or(Bson::Null, |p| Bson::String(p.to_string())) },
            "seq": sample.seq as i64,
            "received_at": BsonDateTime::from_millis(received_at_ms),
        };
        if let Some(fix) = sample.fix {
            doc.insert("lat", fix.lat);
            doc.insert("lon", fix.lon);
            if let Some(acc) = fix.acc {
                doc.insert("acc", acc);
            }
        }
        let optional: [(&str, Option<Bson>); 5] = [
            ("hr", sample.hr.map(|v| Bson::Int32(v.into()))),
            ("steps", sample.steps.map(|v| Bson::Int64(v.into()))),
            (
                "act",
                sample.act.map(|a| Bson::String(a.as_str().to_owned())),
            ),
            ("bat", sample.bat.map(|v| Bson::Int32(v.into()))),
            ("temp", sample.temp.map(Bson::Double)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                doc.insert(key, value);
            }
        }
        Self {
            serial: serial.to_owned(),
            seq: sample.seq,
            pet,
            ts_ms: sample.ts_ms,
            doc,
        }
    }
}

/// Inserts the dead letters, the samples not stored before and the alerts not in the
/// outbox yet; returns the duplicate samples skipped.
pub(super) async fn write_batch(
    db: mongodb::Database,
    samples: Vec<(String, u64, Document)>,
    dead_letters: Vec<Document>,
    alerts: Vec<Document>,
) -> mongodb::error::Result<usize> {
    alert_outbox::insert(&db, alerts).await?;
    if !dead_letters.is_empty() {
        db.collection::<Document>(DEAD_LETTER_COLLECTION)
            .insert_many(dead_letters)
            .await?;
    }
    if samples.is_empty() {
        return Ok(0);
    }
    let telemetry = db.collection::<Document>(TELEMETRY_COLLECTION);
    let serials: HashSet<&str> = samples.iter().map(|(s, _, _)| s.as_str()).collect();
    let seqs: HashSet<i64> = samples.iter().map(|(_, q, _)| *q as i64).collect();
    let filter = doc! {
        "meta.collar": { "$in": serials.into_iter().collect::<Vec<_>>() },
        "seq": { "$in": seqs.into_iter().collect::<Vec<_>>() },
    };
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    let mut cursor = telemetry.find(filter).await?;
    while cursor.advance().await? {
        let stored = cursor.deserialize_current()?;
        if let (Ok(meta), Some(seq)) = (stored.get_document("meta"), integer(&stored, "seq")) {
            if let Ok(collar) = meta.get_str("collar") {
                seen.insert((collar.to_owned(), seq));
            }
        }
    }
    let total = samples.len();
    let fresh: Vec<Document> = samples
        .into_iter()
        .filter(|(serial, seq, _)| seen.insert((serial.clone(), *seq as i64)))
        .map(|(_, _, doc)| doc)
        .collect();
    let duplicates = total - fresh.len();
    if !fresh.is_empty() {
        telemetry.insert_many(fresh).await?;
    }
    Ok(duplicates)
}
