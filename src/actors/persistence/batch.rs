//! One batch to MongoDB: dead letters, the samples not stored before, and the alerts the
//! batch's messages raised (into the alert outbox). `(serial, seq)` pairs already stored are
//! skipped: a real time-series collection cannot carry a unique index, so duplicates are
//! found with a query, run only for the samples the collars' watermarks (`watermarks`)
//! cannot clear: a fresh stream needs none.

use std::collections::{HashMap, HashSet};

use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};

use super::watermarks::Watermarks;
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

/// What a batch's duplicate check did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deduped {
    /// Samples not stored because they were stored before (or twice in the batch).
    pub duplicates: usize,
    /// Whether the duplicate-check query ran.
    pub queried: bool,
    /// Samples above their collar's watermark, stored without the query.
    pub skipped: usize,
}

/// Inserts the dead letters, the samples not stored before and the alerts not in the
/// outbox yet. Only the samples the watermarks cannot clear are looked up in MongoDB.
pub(super) async fn write_batch(
    db: mongodb::Database,
    watermarks: &Watermarks,
    samples: Vec<(String, u64, Document)>,
    dead_letters: Vec<Document>,
    alerts: Vec<Document>,
) -> mongodb::error::Result<Deduped> {
    alert_outbox::insert(&db, alerts).await?;
    if !dead_letters.is_empty() {
        db.collection::<Document>(DEAD_LETTER_COLLECTION)
            .insert_many(dead_letters)
            .await?;
    }
    if samples.is_empty() {
        return Ok(Deduped::default());
    }
    let mut highest: HashMap<&str, u64> = HashMap::new();
    for (serial, seq, _) in &samples {
        let entry = highest.entry(serial.as_str()).or_insert(*seq);
        *entry = (*entry).max(*seq);
    }
    let old = watermarks.reserve(&highest).await;
    // A sample above its collar's old watermark is the first attempt at it by any node.
    let cleared = |serial: &str, seq: u64| {
        old.as_ref()
            .and_then(|old| old.get(serial).copied().flatten())
            .is_some_and(|watermark| seq > watermark)
    };
    let unsure: Vec<(&str, i64)> = samples
        .iter()
        .filter(|(serial, seq, _)| !cleared(serial, *seq))
        .map(|(serial, seq, _)| (serial.as_str(), *seq as i64))
        .collect();
    let telemetry = db.collection::<Document>(TELEMETRY_COLLECTION);
    let mut seen = if unsure.is_empty() {
        HashSet::new()
    } else {
        stored_before(&telemetry, &unsure).await?
    };
    metrics::counter!("pettysync_dedupe_queries_total").increment(u64::from(!unsure.is_empty()));
    metrics::counter!("pettysync_dedupe_skipped_samples_total")
        .increment((samples.len() - unsure.len()) as u64);
    let outcome = Deduped {
        duplicates: 0,
        queried: !unsure.is_empty(),
        skipped: samples.len() - unsure.len(),
    };
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
    Ok(Deduped {
        duplicates,
        ..outcome
    })
}

/// The `(serial, seq)` pairs among `unsure` that MongoDB holds already (one query).
async fn stored_before(
    telemetry: &mongodb::Collection<Document>,
    unsure: &[(&str, i64)],
) -> mongodb::error::Result<HashSet<(String, i64)>> {
    let serials: HashSet<&str> = unsure.iter().map(|(s, _)| *s).collect();
    let seqs: HashSet<i64> = unsure.iter().map(|(_, q)| *q).collect();
    let filter = doc! {
        "meta.collar": { "$in": serials.into_iter().collect::<Vec<_>>() },
        "seq": { "$in": seqs.into_iter().collect::<Vec<_>>() },
    };
    let mut seen = HashSet::new();
    let mut cursor = telemetry.find(filter).await?;
    while cursor.advance().await? {
        let stored = cursor.deserialize_current()?;
        if let (Ok(meta), Some(seq)) = (stored.get_document("meta"), integer(&stored, "seq")) {
            if let Ok(collar) = meta.get_str("collar") {
                seen.insert((collar.to_owned(), seq));
            }
        }
    }
    Ok(seen)
}
