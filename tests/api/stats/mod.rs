//! `GET /v1/pets/{id}/stats` over real roll-ups: samples published by a collar (or stored as
//! the pipeline stores them), a pass run through the CLI's function, then the figures checked
//! against hand-computed numbers.
//!
//! - `zones`: days in Asia/Kolkata and across a Europe/Berlin DST change;
//! - `requests`: who may read, bad requests, and one pass at a time.
//!
//! One millidegree of longitude on the equator is 111.195 m (Haversine, mean Earth radius).

mod requests;
mod zones;

use mongodb::bson::doc;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collar::{now_ms, TestCollar, SETTLE};
use crate::helpers::{expect_json, poll_until, spawn_app_with, TestApp, TestUser};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// A server whose scheduled pass stays out of the way of the passes a test runs itself.
async fn spawn_app() -> TestApp {
    spawn_app_with(|settings| settings.rollup_interval_s = 3600).await
}

/// `GET /v1/pets/{pet}/stats?{query}` as `user`, answered 200.
async fn stats(app: &TestApp, user: &TestUser, pet: &str, query: &str) -> Value {
    let response = app
        .get(&format!("/v1/pets/{pet}/stats?{query}"), user.bearer())
        .await;
    expect_json(response, StatusCode::OK).await
}

/// Runs roll-up passes (as `pettysync rollup` does) until the pet's hour from `hour` holds
/// `samples` samples: ingest stores and marks asynchronously, so the first pass may come too early.
async fn rolled_up(app: &TestApp, user: &TestUser, pet: &str, hour: i64, samples: u64) -> Value {
    let query = format!("bucket=hour&from={hour}&to={}", hour + HOUR);
    poll_until("the hour to be rolled up", SETTLE, || async {
        pettysync::cli::rollup(&app.settings, None)
            .await
            .map_err(|e| format!("pass failed: {e}"))?;
        let body = stats(app, user, pet, &query).await;
        match body["items"].as_array().map(Vec::as_slice) {
            Some([item]) if item["samples"] == samples => Ok(item.clone()),
            _ => Err(format!("not yet: {body}")),
        }
    })
    .await
}

/// A sample of the collar protocol; `fields` adds to `seq` and `ts`.
fn sample(seq: u64, ts: i64, fields: Value) -> Value {
    let mut sample = json!({"v": 1, "seq": seq, "ts": ts});
    for (key, value) in fields.as_object().expect("fields are an object") {
        sample[key] = value.clone();
    }
    sample
}

/// The unit tests' first hour, as a collar reports it: a fix too inaccurate for distance,
/// a gap longer than 2 × the interval, and a last sample with nothing after it.
fn first_hour(base: i64) -> Vec<Value> {
    vec![
        sample(
            1,
            base,
            json!({"lat": 0.0, "lon": 0.0, "acc": 5.0, "hr": 80, "steps": 10, "act": "walk"}),
        ),
        sample(
            2,
            base + 5 * MIN,
            json!({"lat": 0.0, "lon": 0.001, "acc": 10.0, "hr": 100, "steps": 20, "act": "rest"}),
        ),
        sample(
            3,
            base + 10 * MIN,
            json!({"lat": 0.0, "lon": 0.002, "acc": 200.0, "act": "sleep"}),
        ),
        sample(
            4,
            base + 40 * MIN,
            json!({"lat": 0.0, "lon": 0.003, "act": "play"}),
        ),
    ]
}

fn figures(item: &Value) -> Value {
    json!({
        "samples": item["samples"], "hr_min": item["hr_min"], "hr_avg": item["hr_avg"],
        "hr_max": item["hr_max"], "steps": item["steps"], "distance_m": item["distance_m"],
        "active_s": item["active_s"], "rest_s": item["rest_s"], "sleep_s": item["sleep_s"],
    })
}

#[actix_web::test]
async fn published_samples_roll_up_into_hand_computed_figures_and_a_late_one_changes_its_hour() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let base = (now_ms() - 2 * 24 * HOUR).div_euclid(HOUR) * HOUR;
    for s in first_hour(base) {
        collar.publish_sample(&s).await;
    }
    collar.link.flushed().await;
    let hour = rolled_up(&app, &owner, &collar.pet_id, base, 4).await;
    assert_eq!(hour["start"], base);
    assert_eq!(
        figures(&hour),
        json!({"samples": 4, "hr_min": 80, "hr_avg": 90.0, "hr_max": 100, "steps": 30,
               "distance_m": 333.6, "active_s": 900, "rest_s": 300, "sleep_s": 600})
    );

    // A late sample inside the hour (cutting the sleep short) and a repeat of sample 2.
    let late = sample(
        5,
        base + 15 * MIN,
        json!({"hr": 120, "steps": 5, "act": "walk"}),
    );
    collar.publish_sample(&late).await;
    collar.publish_sample(&first_hour(base)[1]).await;
    collar.link.flushed().await;
    let hour = rolled_up(&app, &owner, &collar.pet_id, base, 5).await;
    assert_eq!(
        figures(&hour),
        json!({"samples": 5, "hr_min": 80, "hr_avg": 100.0, "hr_max": 120, "steps": 35,
               "distance_m": 333.6, "active_s": 1500, "rest_s": 300, "sleep_s": 300})
    );
    let day = stats(
        &app,
        &owner,
        &collar.pet_id,
        &format!("bucket=day&from={base}&to={}", base + 1),
    )
    .await;
    assert_eq!(day["bucket"], "day");
    assert_eq!(day["tz"], "UTC");
    assert_eq!(
        day["items"][0]["start"],
        base.div_euclid(24 * HOUR) * 24 * HOUR
    );
    assert_eq!(
        figures(&day["items"][0]),
        figures(&hour),
        "the day holds only that hour"
    );
    let stored = app
        .mongo()
        .await
        .collection::<mongodb::bson::Document>("telemetry")
        .count_documents(doc! {"meta.collar": &collar.serial})
        .await
        .expect("MongoDB counts");
    assert_eq!(stored, 5, "the repeat is stored once");
}

#[actix_web::test]
async fn serve_rolls_up_on_its_own_schedule_and_counts_its_passes() {
    let app = spawn_app_with(|settings| settings.rollup_interval_s = 1).await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let base = (now_ms() - 24 * HOUR).div_euclid(HOUR) * HOUR;
    collar.publish_sample(&first_hour(base)[0]).await;
    let query = format!("bucket=hour&from={base}&to={}", base + HOUR);
    poll_until("the scheduled pass to roll the hour up", SETTLE, || async {
        let body = stats(&app, &owner, &collar.pet_id, &query).await;
        match body["items"][0]["active_s"].as_i64() {
            Some(600) => Ok(()),
            _ => Err(format!("not yet: {body}")),
        }
    })
    .await;
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("a body");
    assert!(
        metrics.contains("pettysync_rollup_passes_total"),
        "{metrics}"
    );
}
