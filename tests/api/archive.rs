//! Archival of raw telemetry to S3: samples with old timestamps are written straight into
//! MongoDB the way persistence stores them (the collar protocol refuses samples that old),
//! a pass runs against the test's own databases and the shared bucket (keys under the
//! test's own serials), and the objects, the manifest, MongoDB and `track` are checked.

mod command;
mod crash;
mod faults;
mod history;
mod nodes;
mod round_trip;

use chrono::{DateTime, Days, NaiveDate, Utc};
use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
use pettysync::actors::archival::ArchiveStores;
use pettysync::store::archive::{self, object_key, PassOptions, PassReport, RollupsSettled};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, TestApp, TestUser};

/// Days before today the test's samples are dated: well outside the 30-day hot window.
pub const AGE_DAYS: u64 = 40;

/// The UTC day `AGE_DAYS - offset` days before today.
pub fn old_day(offset: u64) -> NaiveDate {
    Utc::now().date_naive() - Days::new(AGE_DAYS - offset)
}

/// Epoch ms of `minute` minutes into `day`.
pub fn at(day: NaiveDate, minute: i64) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
        + minute * 60_000
}

/// A stored sample as the archive must write it (the spec's names), and the MongoDB
/// document persistence would have stored for it.
pub fn sample(serial: &str, pet: Option<&str>, seq: i64, ts: i64) -> (Value, Document) {
    let lat = 13.75 + seq as f64 * 1e-4;
    let lon = 100.5 - seq as f64 * 1e-4;
    let mut expected = json!({
        "serial": serial, "seq": seq, "ts": ts, "lat": lat, "lon": lon, "acc": 8.5,
        "hr": 90 + seq % 7, "steps": seq * 3, "act": "walk", "bat": 80, "temp": 38.5,
        "received_at": ts + 1_000,
    });
    if let Some(pet) = pet {
        expected["pet_id"] = json!(pet);
    }
    let doc = doc! {
        "at": BsonDateTime::from_millis(ts),
        "meta": { "collar": serial, "pet": pet.map_or(Bson::Null, |p| Bson::String(p.to_owned())) },
        "seq": seq,
        "received_at": BsonDateTime::from_millis(ts + 1_000),
        "lat": lat, "lon": lon, "acc": 8.5,
        "hr": Bson::Int32((90 + seq % 7) as i32), "steps": seq * 3, "act": "walk",
        "bat": Bson::Int32(80), "temp": 38.5,
    };
    (expected, doc)
}

/// Inserts documents into the server's `telemetry` collection.
pub async fn insert(app: &TestApp, docs: Vec<Document>) {
    app.mongo()
        .await
        .collection::<Document>("telemetry")
        .insert_many(docs)
        .await
        .expect("MongoDB takes the samples");
}

/// Samples of `serial` still in MongoDB.
pub async fn hot_count(app: &TestApp, serial: &str) -> u64 {
    app.mongo()
        .await
        .collection::<Document>("telemetry")
        .count_documents(doc! { "meta.collar": serial })
        .await
        .expect("MongoDB counts")
}

/// The stores the server uses, for a pass run by the test.
pub async fn stores(app: &TestApp) -> ArchiveStores {
    ArchiveStores {
        pg: app.pg().await,
        mongo: app.mongo().await,
        s3: app.s3(),
    }
}

/// The stores history is read from, for a roll-up pass run by the test.
pub fn history(app: &TestApp, stores: &ArchiveStores) -> pettysync::store::history::History {
    pettysync::store::history::History {
        pg: stores.pg.clone(),
        mongo: stores.mongo.clone(),
        s3: stores.s3.clone(),
        bucket: app.settings.s3_bucket.clone(),
    }
}

/// Pass options of the server's settings, with an optional failpoint and delete batch.
pub fn options(app: &TestApp) -> PassOptions {
    PassOptions::new(&app.settings.s3_bucket, app.settings.hot_retention_days)
}

/// Runs one pass with `options`.
pub async fn pass(
    stores: &ArchiveStores,
    options: &PassOptions,
) -> Result<PassReport, archive::ArchiveError> {
    archive::run_pass(
        archive::Stores {
            pg: &stores.pg,
            mongo: &stores.mongo,
            s3: &stores.s3,
        },
        &RollupsSettled(stores.pg.clone()),
        options,
    )
    .await
}

/// The lines of an archive object decompressed with the standard zstd reader; `None` when
/// there is no such object.
pub async fn object_lines(app: &TestApp, key: &str) -> Option<Vec<Value>> {
    let object = app
        .s3()
        .get_object()
        .bucket(&app.settings.s3_bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = object
        .body
        .collect()
        .await
        .expect("the body reads")
        .into_bytes();
    let text = zstd::decode_all(&bytes[..]).expect("a zstd stream");
    let text = String::from_utf8(text).expect("UTF-8 NDJSON");
    Some(
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect(),
    )
}

/// The keys of every object of `serial`'s `day` (every part).
pub async fn keys_of_day(app: &TestApp, serial: &str, day: NaiveDate) -> Vec<String> {
    let prefix = object_key(serial, day, 0).replace(".ndjson.zst", ".");
    let listed = app
        .s3()
        .list_objects_v2()
        .bucket(&app.settings.s3_bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("S3 lists");
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// The whole track of a pet over the test's days, as `GET /track` answers it.
pub async fn track(app: &TestApp, user: &TestUser, pet: &str) -> Value {
    let (from, to) = (at(old_day(0), 0), at(old_day(5), 0));
    let path = format!("/v1/pets/{pet}/track?from={from}&to={to}&max_points=10000");
    expect_json(app.get(&path, user.bearer()).await, StatusCode::OK).await
}

/// Epoch ms of a manifest time.
pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}
