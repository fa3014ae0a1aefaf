//! One archival pass: finish what an interrupted pass left (objects verified but not yet
//! deleted from MongoDB, objects of deleted pets), then per collar and UTC day older than
//! the hot window: spool the day's samples, oldest first, into a zstd NDJSON object, upload
//! it, read it back (count and SHA-256), record it in the manifest, and only then delete
//! exactly its samples from MongoDB.
//!
//! Every step is safe to cut short. Killed after the upload: no manifest row, so the next
//! pass writes the same part again over the orphan (same key). Killed after the manifest
//! row or mid-delete: the row is still `verified`, and the next pass deletes the samples the
//! object holds (by collar, seq and day) before anything else. A sample is thus in MongoDB,
//! in S3, or in both, never in neither, and in one object only.

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Days, NaiveDate, Utc};
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use sqlx::PgPool;

use super::object::{self, ArchivedSample, ObjectWriter, Spooled};
use super::options::{
    DaySettled, Failpoint, PassOptions, PassReport, Stores, MAX_DAYS_PER_COLLAR, READ_BATCH,
};
use super::{drain_orphans, object_key, segments_of_day, ArchiveError, Segment};
use crate::ids::PetId;
use crate::migrate::TELEMETRY_COLLECTION;

/// Runs one pass (see the module doc). The caller holds `Job::Archival`'s lock.
pub async fn run_pass(
    stores: Stores<'_>,
    settled: &impl DaySettled,
    options: &PassOptions,
) -> Result<PassReport, ArchiveError> {
    let mut report = PassReport::default();
    if !options.dry_run {
        report.orphans_deleted = drain_orphans(stores.pg, stores.s3, &options.bucket).await?;
        report.resumed = finish_pending(&stores, options).await?;
    }
    let cutoff = BsonDateTime::from_millis(options.cutoff().timestamp_millis());
    let telemetry = stores.mongo.collection::<Document>(TELEMETRY_COLLECTION);
    let serials = telemetry
        .distinct("meta.collar", doc! { "at": { "$lt": cutoff } })
        .await?;
    for serial in serials.iter().filter_map(|s| s.as_str()) {
        let mut after = BsonDateTime::from_millis(0);
        for _ in 0..MAX_DAYS_PER_COLLAR {
            let filter = doc! { "meta.collar": serial, "at": { "$gte": after, "$lt": cutoff } };
            let Some(first) = telemetry.find_one(filter).sort(doc! { "at": 1 }).await? else {
                break;
            };
            let Ok(at) = first.get_datetime("at") else {
                break;
            };
            let Some(day) = DateTime::<Utc>::from_timestamp_millis(at.timestamp_millis()) else {
                break;
            };
            let day = day.date_naive();
            after = bson_at(day_start(day + Days::new(1)));
            if options.dry_run {
                let count = telemetry.count_documents(day_filter(serial, day)).await?;
                report.planned.push((serial.to_owned(), day, count));
                report.samples += count;
                continue;
            }
            if !archive_day(&stores, settled, options, serial, day, &mut report).await? {
                report.days_waiting += 1;
                // Later days wait too: a collar's days leave in order.
                break;
            }
        }
    }
    Ok(report)
}

/// Finishes the deletes of objects recorded but not yet cleared from MongoDB.
async fn finish_pending(stores: &Stores<'_>, options: &PassOptions) -> Result<u64, ArchiveError> {
    let pending: Vec<Segment> = sqlx::query_as(
        "SELECT serial, pet_id, day, part, key, count, first_ts, last_ts, sha256, bytes, state, fixes
         FROM archive_segments WHERE state <> 'deleted' ORDER BY day, serial, part",
    )
    .fetch_all(stores.pg)
    .await?;
    for segment in &pending {
        delete_samples(stores, options, segment).await?;
    }
    Ok(pending.len() as u64)
}

/// Archives one collar's day; false when its roll-ups are not complete yet.
async fn archive_day(
    stores: &Stores<'_>,
    settled: &impl DaySettled,
    options: &PassOptions,
    serial: &str,
    day: NaiveDate,
    report: &mut PassReport,
) -> Result<bool, ArchiveError> {
    let mut part = segments_of_day(stores.pg, serial, day)
        .await?
        .last()
        .map_or(0, |s| s.part + 1);
    let parts = spool_day(stores, settled, serial, day).await?;
    let Some(parts) = parts else {
        return Ok(false);
    };
    for spooled in parts {
        let segment = upload_and_verify(stores, options, serial, day, part, &spooled).await?;
        record(stores.pg, &segment).await?;
        report.objects += 1;
        report.samples += segment.count as u64;
        report.bytes += segment.bytes as u64;
        if options.failpoint == Some(Failpoint::AfterManifest) {
            return Err(ArchiveError::Failpoint(Failpoint::AfterManifest));
        }
        delete_samples(stores, options, &segment).await?;
        part += 1;
    }
    Ok(true)
}

/// A part spooled to disk with what its manifest row needs.
struct SpooledPart {
    object: Spooled,
    meta: PartMeta,
}

/// What a part's manifest row needs besides its object.
struct PartMeta {
    pet: Option<String>,
    count: i64,
    fixes: i64,
    first_ts: i64,
    last_ts: i64,
}

/// Reads the day in `(at, seq)` order into parts: a new part wherever the pet changes (a
/// collar re-paired that day), so each object belongs to one pet. `None` when a pet's day
/// is not settled.
async fn spool_day(
    stores: &Stores<'_>,
    settled: &impl DaySettled,
    serial: &str,
    day: NaiveDate,
) -> Result<Option<Vec<SpooledPart>>, ArchiveError> {
    let mut cursor = stores
        .mongo
        .collection::<Document>(TELEMETRY_COLLECTION)
        .find(day_filter(serial, day))
        .sort(doc! { "at": 1, "seq": 1 })
        .batch_size(READ_BATCH)
        .await?;
    let mut parts = Vec::new();
    let mut current: Option<(ObjectWriter, PartMeta)> = None;
    let mut previous: Option<(i64, i64)> = None;
    while cursor.advance().await? {
        let Some(sample) = ArchivedSample::from_document(&cursor.deserialize_current()?) else {
            continue;
        };
        // The same (ts, seq) stored twice by a race is archived once.
        if previous == Some((sample.ts, sample.seq)) {
            continue;
        }
        previous = Some((sample.ts, sample.seq));
        if current
            .as_ref()
            .is_some_and(|(_, p)| p.pet != sample.pet_id)
        {
            if let Some((writer, meta)) = current.take() {
                parts.push(SpooledPart {
                    object: writer.finish()?,
                    meta,
                });
            }
        }
        if current.is_none() {
            let pet = sample
                .pet_id
                .as_deref()
                .and_then(|p| p.parse().ok())
                .map(PetId);
            if !settled
                .settled(pet, day)
                .await
                .map_err(|e| ArchiveError::Settled(format!("{e:#}")))?
            {
                return Ok(None);
            }
            let part = PartMeta {
                pet: sample.pet_id.clone(),
                count: 0,
                fixes: 0,
                first_ts: sample.ts,
                last_ts: sample.ts,
            };
            current = Some((ObjectWriter::create()?, part));
        }
        let (writer, part) = current.as_mut().expect("a part was just started above");
        writer.push(&sample)?;
        part.count += 1;
        part.fixes += i64::from(sample.lat.is_some() && sample.lon.is_some());
        part.last_ts = sample.ts;
    }
    if let Some((writer, meta)) = current.take() {
        parts.push(SpooledPart {
            object: writer.finish()?,
            meta,
        });
    }
    Ok(Some(parts))
}

/// Uploads a spooled part and reads it back: same SHA-256, same sample count.
async fn upload_and_verify(
    stores: &Stores<'_>,
    options: &PassOptions,
    serial: &str,
    day: NaiveDate,
    part: i32,
    spooled: &SpooledPart,
) -> Result<Segment, ArchiveError> {
    let key = object_key(serial, day, part);
    let body = ByteStream::from_path(&spooled.object.file.path)
        .await
        .map_err(|e| ArchiveError::S3(format!("spool of {key}: {e}")))?;
    stores
        .s3
        .put_object()
        .bucket(&options.bucket)
        .key(&key)
        .content_type("application/zstd")
        .body(body)
        .send()
        .await
        .map_err(|e| ArchiveError::s3("put", &key, e))?;
    if options.failpoint == Some(Failpoint::AfterUpload) {
        return Err(ArchiveError::Failpoint(Failpoint::AfterUpload));
    }
    let fetched = object::fetch(stores.s3, &options.bucket, &key).await?;
    let mismatch = |what: String| ArchiveError::Mismatch {
        key: key.clone(),
        what,
    };
    if fetched.sha256 != spooled.object.sha256 {
        return Err(mismatch(format!(
            "sha256 {} ≠ {}",
            fetched.sha256, spooled.object.sha256
        )));
    }
    let mut count = 0i64;
    for sample in object::samples(&fetched.file.path)? {
        sample?;
        count += 1;
    }
    if count != spooled.meta.count {
        return Err(mismatch(format!(
            "{count} samples ≠ {}",
            spooled.meta.count
        )));
    }
    let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    Ok(Segment {
        serial: serial.to_owned(),
        pet_id: spooled
            .meta
            .pet
            .as_deref()
            .and_then(|p| p.parse().ok())
            .map(PetId),
        day,
        part,
        key,
        count,
        first_ts: at(spooled.meta.first_ts),
        last_ts: at(spooled.meta.last_ts),
        sha256: spooled.object.sha256.clone(),
        bytes: spooled.object.bytes as i64,
        state: "verified".into(),
        fixes: Some(spooled.meta.fixes),
    })
}

/// Writes the manifest row of a verified object. A pet deleted meanwhile leaves the row
/// without a pet (its samples' pet no longer exists to own them).
async fn record(pg: &PgPool, segment: &Segment) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO archive_segments
            (serial, pet_id, day, part, key, count, first_ts, last_ts, sha256, bytes, state, fixes)
         VALUES ($1, (SELECT id FROM pets WHERE id = $2), $3, $4, $5, $6, $7, $8, $9, $10, 'verified', $11)",
    )
    .bind(&segment.serial)
    .bind(segment.pet_id)
    .bind(segment.day)
    .bind(segment.part)
    .bind(&segment.key)
    .bind(segment.count)
    .bind(segment.first_ts)
    .bind(segment.last_ts)
    .bind(&segment.sha256)
    .bind(segment.bytes)
    .bind(segment.fixes)
    .execute(pg)
    .await?;
    Ok(())
}

/// Deletes from MongoDB exactly the samples a verified object holds (by collar, seq and
/// day, read from the object itself), in batches, then marks the row `deleted`.
async fn delete_samples(
    stores: &Stores<'_>,
    options: &PassOptions,
    segment: &Segment,
) -> Result<(), ArchiveError> {
    let telemetry = stores.mongo.collection::<Document>(TELEMETRY_COLLECTION);
    let fetched = object::fetch(stores.s3, &options.bucket, &segment.key).await?;
    let batch_size = options.delete_batch.max(1);
    let mut batch = Vec::with_capacity(batch_size);
    let mut samples = object::samples(&fetched.file.path)?.peekable();
    let mut batches = 0;
    while let Some(sample) = samples.next() {
        batch.push(sample?.seq);
        if batch.len() == batch_size || samples.peek().is_none() {
            let mut filter = day_filter(&segment.serial, segment.day);
            filter.insert("seq", doc! { "$in": std::mem::take(&mut batch) });
            telemetry.delete_many(filter).await?;
            batches += 1;
            if batches == 1 && options.failpoint == Some(Failpoint::MidDelete) {
                return Err(ArchiveError::Failpoint(Failpoint::MidDelete));
            }
        }
    }
    sqlx::query("UPDATE archive_segments SET state = 'deleted' WHERE key = $1")
        .bind(&segment.key)
        .execute(stores.pg)
        .await?;
    Ok(())
}

/// The documents of a collar's UTC day.
fn day_filter(serial: &str, day: NaiveDate) -> Document {
    doc! {
        "meta.collar": serial,
        "at": {
            "$gte": bson_at(day_start(day)),
            "$lt": bson_at(day_start(day + Days::new(1))),
        },
    }
}

pub(super) fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists in UTC")
        .and_utc()
}

fn bson_at(at: DateTime<Utc>) -> BsonDateTime {
    BsonDateTime::from_millis(at.timestamp_millis())
}
