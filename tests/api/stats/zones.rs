//! Days in zones whose days are not 24 UTC hours from a UTC midnight: Asia/Kolkata (+05:30,
//! days split UTC hours in half) and Europe/Berlin on its autumn change (a 25-hour day). The
//! samples are older than a collar may send, so they are stored as the pipeline stores them,
//! and `pettysync rollup --from --to` marks their range.

use chrono::DateTime;
use mongodb::bson::Document;
use pettysync::actors::persistence::SampleRecord;
use pettysync::domain::sample::{Activity, Sample};
use pettysync::ids::PetId;

use super::*;
use crate::helpers::string_at;

fn ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid instant")
        .timestamp_millis()
}

/// A pet of a new owner with `samples` stored, then rolled up over `from..to` by the CLI.
async fn pet_with(app: &TestApp, samples: &[Sample], from: i64, to: i64) -> (TestUser, String) {
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Kiran").await, "/id");
    let pet = PetId(pet_id.parse().expect("a pet id is a UUID"));
    let docs: Vec<Document> = samples
        .iter()
        .map(|s| SampleRecord::new("SN-ZONES", Some(pet), s, s.ts_ms).doc)
        .collect();
    app.mongo()
        .await
        .collection::<Document>("telemetry")
        .insert_many(docs)
        .await
        .expect("MongoDB stores the samples");
    let report = pettysync::cli::rollup(&app.settings, Some((from, to)))
        .await
        .expect("the pass runs");
    assert!(report.starts_with("rolled up"), "{report}");
    (owner, pet_id)
}

fn reading(seq: u64, at: &str, steps: u32, act: Activity) -> Sample {
    Sample {
        seq,
        ts_ms: ms(at),
        fix: None,
        hr: None,
        steps: Some(steps),
        act: Some(act),
        bat: None,
        temp: None,
    }
}

#[actix_web::test]
async fn a_kolkata_day_splits_a_utc_hour_at_its_half() {
    let app = spawn_app().await;
    // 23:55 and 00:05 in Kolkata: the first sleep's 10 minutes cross local midnight.
    let samples = [
        reading(1, "2026-11-10T18:25:00Z", 1, Activity::Sleep),
        reading(2, "2026-11-10T18:35:00Z", 2, Activity::Sleep),
    ];
    let (from, to) = (ms("2026-11-10T00:00:00Z"), ms("2026-11-12T00:00:00Z"));
    let (owner, pet) = pet_with(&app, &samples, from, to).await;
    let body = stats(
        &app,
        &owner,
        &pet,
        &format!("bucket=day&tz=Asia/Kolkata&from={from}&to={to}"),
    )
    .await;
    assert_eq!(body["tz"], "Asia/Kolkata");
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{body}");
    assert_eq!(items[0]["start"], ms("2026-11-10T00:00:00+05:30"));
    assert_eq!(
        (
            &items[0]["samples"],
            &items[0]["steps"],
            &items[0]["sleep_s"]
        ),
        (&json!(1), &json!(1), &json!(300))
    );
    assert_eq!(items[1]["start"], ms("2026-11-11T00:00:00+05:30"));
    assert_eq!(
        (
            &items[1]["samples"],
            &items[1]["steps"],
            &items[1]["sleep_s"]
        ),
        (&json!(1), &json!(2), &json!(900))
    );
    // The same samples by UTC day: one day, all of it.
    let utc = stats(
        &app,
        &owner,
        &pet,
        &format!("bucket=day&from={from}&to={to}"),
    )
    .await;
    assert_eq!(utc["items"].as_array().map(Vec::len), Some(1), "{utc}");
    assert_eq!(utc["items"][0]["sleep_s"], 1200);
}

#[actix_web::test]
async fn a_berlin_day_with_the_autumn_change_has_25_hours() {
    let app = spawn_app().await;
    // 01:30 CEST and 23:30 CET on 25 October 2026, then 00:30 CET on the 26th.
    let samples = [
        reading(1, "2026-10-24T23:30:00Z", 1, Activity::Rest),
        reading(2, "2026-10-25T22:30:00Z", 2, Activity::Rest),
        reading(3, "2026-10-25T23:30:00Z", 4, Activity::Rest),
    ];
    let (from, to) = (ms("2026-10-24T00:00:00Z"), ms("2026-10-27T00:00:00Z"));
    let (owner, pet) = pet_with(&app, &samples, from, to).await;
    let query = format!(
        "bucket=day&tz=Europe/Berlin&from={}&to={}",
        ms("2026-10-25T00:00:00+02:00"),
        ms("2026-10-27T00:00:00+01:00")
    );
    let body = stats(&app, &owner, &pet, &query).await;
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{body}");
    let (day, next) = (&items[0], &items[1]);
    assert_eq!(day["start"], ms("2026-10-25T00:00:00+02:00"));
    assert_eq!(next["start"], ms("2026-10-26T00:00:00+01:00"));
    assert_eq!(
        next["start"].as_i64().unwrap() - day["start"].as_i64().unwrap(),
        25 * HOUR
    );
    assert_eq!(
        (&day["samples"], &day["steps"], &day["rest_s"]),
        (&json!(2), &json!(3), &json!(1200))
    );
    assert_eq!(
        (&next["samples"], &next["steps"], &next["rest_s"]),
        (&json!(1), &json!(4), &json!(600))
    );
}
