//! `GET /v1/pets/{id}/track.gpx`: every stored fix once, oldest first, with its time to the
//! millisecond, valid against the GPX 1.1 schema (`tests/fixtures/gpx/gpx.xsd`, checked by
//! xmllint); more than 100 000 fixes is a 422 `range_too_large`; a bad range is a 422 naming
//! the parameter; a stranger gets 404, family the file.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat};
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use reqwest::StatusCode;
use serde_json::json;

use crate::collar::{now_ms, TestCollar};
use crate::helpers::{
    content_type, expect_field_error, expect_problem, expect_status, read, spawn_app, TestApp,
    TestUser,
};
use crate::realtime::{seqs, wait_for_samples};

/// The GPX 1.1 schema, vendored.
const GPX_XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gpx/gpx.xsd");
/// The route's cap on points.
const MAX_POINTS: usize = 100_000;

/// A point of a GPX track as the file spells it: latitude, longitude, time.
pub type GpxPoint = (f64, f64, String);

/// `track.gpx` of `pet_id` over [`from`, `to`] on behalf of `user`; the raw response.
async fn gpx(
    app: &TestApp,
    user: &TestUser,
    pet_id: &str,
    from: i64,
    to: i64,
) -> reqwest::Response {
    app.get(
        &format!("/v1/pets/{pet_id}/track.gpx?from={from}&to={to}"),
        user.bearer(),
    )
    .await
}

/// Reads a 200 GPX answer: checks its media type, validates it, returns its points.
async fn expect_gpx(response: reqwest::Response) -> Vec<GpxPoint> {
    let (status, headers, text) = read(response).await;
    assert_eq!(status, StatusCode::OK, "body: {text}");
    assert_eq!(content_type(&headers), "application/gpx+xml");
    assert_valid_gpx(&text);
    gpx_points(&text)
}

/// Fails unless `text` is valid against the GPX 1.1 schema (by xmllint).
pub fn assert_valid_gpx(text: &str) {
    ensure_xmllint();
    let file = std::env::temp_dir().join(format!("pettysync-{}.gpx", uuid::Uuid::new_v4()));
    std::fs::write(&file, text).expect("the GPX can be written to a temporary file");
    let output = Command::new("xmllint")
        .args(["--noout", "--schema", GPX_XSD])
        .arg(&file)
        .output()
        .expect("xmllint runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "the GPX is not valid GPX 1.1: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        &text[..text.len().min(2_000)]
    );
}

/// The points of a GPX document in order: each `<trkpt lat lon>` with its `<time>`.
pub fn gpx_points(text: &str) -> Vec<GpxPoint> {
    let attribute = |element: &str, name: &str| -> f64 {
        let start = element
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name} in {element}"))
            + name.len()
            + 2;
        let end = start + element[start..].find('"').expect("a closed attribute");
        element[start..end].parse().expect("a decimal")
    };
    text.split("<trkpt ")
        .skip(1)
        .map(|element| {
            let time = element
                .split("<time>")
                .nth(1)
                .and_then(|rest| rest.split("</time>").next())
                .unwrap_or_else(|| panic!("a trkpt without time: {element}"));
            (
                attribute(element, "lat"),
                attribute(element, "lon"),
                time.to_owned(),
            )
        })
        .collect()
}

/// `at_ms` as GPX writes it: RFC 3339, UTC, milliseconds.
fn gpx_time(at_ms: i64) -> String {
    DateTime::from_timestamp_millis(at_ms)
        .expect("a time in range")
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Installs xmllint (`scripts/xmllint.sh install`) once per test run when it is missing.
fn ensure_xmllint() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/xmllint.sh");
    let status = Command::new("bash")
        .args([script, "install"])
        .status()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    assert!(
        status.success() && Path::new(GPX_XSD).exists(),
        "{script} install failed"
    );
    *done = true;
}

#[actix_web::test]
async fn the_gpx_holds_every_stored_fix_once_oldest_first_with_its_time() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let start = now_ms() - 120_000;
    // Odd milliseconds, a fix on the antimeridian, and a point published twice (and below,
    // stored twice).
    let fix = |i: i64| {
        let lon = if i == 4 {
            180.0
        } else {
            100.5 + i as f64 * 0.000_01
        };
        json!({"v": 1, "seq": i, "ts": start + i * 1_000 + 7, "lat": 13.75 + i as f64 * 0.001,
               "lon": lon, "acc": 5.0})
    };
    for i in (1..=6).rev() {
        collar.publish_sample(&fix(i)).await;
    }
    collar.publish_sample(&fix(3)).await;
    collar
        .publish_sample(&json!({"v": 1, "seq": 7, "ts": start + 7_000, "hr": 90}))
        .await;
    let db = app.mongo().await;
    let stored = wait_for_samples(&db, &collar.serial, "seq 1 to 7 stored", |s| {
        (1..=7).all(|seq| seqs(s).contains(&seq))
    })
    .await;
    // A sample stored twice, as a race between two nodes could leave it: read once all the same.
    let mut twice = stored
        .into_iter()
        .find(|sample| seqs(std::slice::from_ref(sample)) == [3])
        .expect("seq 3 is stored");
    twice.remove("_id");
    db.collection::<Document>("telemetry")
        .insert_one(twice)
        .await
        .expect("the copy is stored");

    let points = expect_gpx(gpx(&app, &owner, &collar.pet_id, start, now_ms()).await).await;
    let expected: Vec<GpxPoint> = (1..=6)
        .map(|i| {
            let sent = fix(i);
            let lon = sent["lon"].as_f64().unwrap();
            let lon = if lon == 180.0 { -180.0 } else { lon };
            (
                sent["lat"].as_f64().unwrap(),
                lon,
                gpx_time(start + i * 1_000 + 7),
            )
        })
        .collect();
    assert_eq!(
        points, expected,
        "each fix once, oldest first, the sample without a fix left out"
    );

    let window =
        expect_gpx(gpx(&app, &owner, &collar.pet_id, start + 2_007, start + 4_007).await).await;
    assert_eq!(window, expected[1..4].to_vec(), "both ends included");
    let empty = expect_gpx(gpx(&app, &owner, &collar.pet_id, 0, 1_000).await).await;
    assert!(empty.is_empty(), "{empty:?}");
}

#[actix_web::test]
async fn more_than_100_000_fixes_is_refused_and_100_000_are_streamed() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = crate::helpers::string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let start = now_ms() - 3_600_000;
    let stored = |i: i64| -> Document {
        doc! {"at": BsonDateTime::from_millis(start + i * 10), "meta": {"collar": "GPX-BULK", "pet": &pet_id},
        "seq": i, "received_at": BsonDateTime::now(), "lat": 13.75, "lon": 100.5 + i as f64 * 1e-6}
    };
    let telemetry = app.mongo().await.collection::<Document>("telemetry");
    let all = 0..=MAX_POINTS as i64;
    let chunks: Vec<Vec<Document>> = all
        .clone()
        .map(stored)
        .collect::<Vec<_>>()
        .chunks(10_000)
        .map(<[Document]>::to_vec)
        .collect();
    for chunk in chunks {
        telemetry
            .insert_many(chunk)
            .await
            .expect("the fixes are stored");
    }
    let last = start + MAX_POINTS as i64 * 10;

    let refused = gpx(&app, &owner, &pet_id, start, last).await;
    let problem =
        expect_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "range_too_large").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("100000")),
        "{problem}"
    );

    let response = gpx(&app, &owner, &pet_id, start, last - 10).await;
    let text = expect_status(response, StatusCode::OK).await;
    let points = gpx_points(&text);
    assert_eq!(points.len(), MAX_POINTS);
    assert_eq!(points[MAX_POINTS - 1].2, gpx_time(last - 10));
    let count = telemetry
        .count_documents(doc! {"meta.pet": &pet_id})
        .await
        .unwrap();
    assert_eq!(count, MAX_POINTS as u64 + 1, "nothing was touched");
}

#[actix_web::test]
async fn a_bad_range_is_a_422_that_names_the_parameter() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = crate::helpers::string_at(&app.create_pet(&owner, "Rex").await, "/id");
    for (query, field) in [
        ("from=2000&to=1000".to_owned(), "from"),
        (format!("from={}", i64::MIN), "from"),
        ("to=253402300800000".to_owned(), "to"),
        ("to=yesterday".to_owned(), "query"),
    ] {
        let response = app
            .get(
                &format!("/v1/pets/{pet_id}/track.gpx?{query}"),
                owner.bearer(),
            )
            .await;
        expect_field_error(response, field).await;
    }
}

#[actix_web::test]
async fn a_stranger_gets_404_and_family_the_file() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let ts = now_ms() - 1_000;
    collar
        .publish_sample(&json!({"v": 1, "seq": 1, "ts": ts, "lat": 1.5, "lon": 2.5}))
        .await;
    wait_for_samples(&app.mongo().await, &collar.serial, "the fix stored", |s| {
        !s.is_empty()
    })
    .await;
    let (stranger, family) = (app.register_someone().await, app.register_someone().await);
    app.add_member(&owner, &collar.pet_id, &family.email).await;

    let hidden = gpx(&app, &stranger, &collar.pet_id, ts - 1, ts + 1).await;
    expect_problem(hidden, StatusCode::NOT_FOUND, "not_found").await;
    let anonymous = app
        .get(&format!("/v1/pets/{}/track.gpx", collar.pet_id), None)
        .await;
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let points = expect_gpx(gpx(&app, &family, &collar.pet_id, ts - 1, ts + 1).await).await;
    assert_eq!(points, vec![(1.5, 2.5, gpx_time(ts))]);
}
