//! The mood pipeline in the running server: a voice clip published over MQTT is classified
//! by the seed model the server trains at start, stored as a mood with the spec's columns,
//! listed with a working `audio_url`, corrected by family (not by a stranger, not to an
//! unknown mood), and a distressed clip raises exactly one `mood_distress`; a corrupt WAV in
//! S3 marks its clip failed and the next clip is still classified.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use pettysync::mood::synth;
use pettysync::mood::Mood;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collar::{now_ms, TestCollar};
use crate::helpers::{
    expect_json, expect_problem, poll_until, spawn_app_with, unique_email, TestApp, TestUser,
};

/// The seed set the test server trains on: small enough for a debug build.
pub const SEED_PER_CLASS: usize = 30;
/// Training the seed model in a debug build, then classifying.
pub const CLASSIFIED: Duration = Duration::from_secs(300);

pub async fn mood_app() -> TestApp {
    spawn_app_with(|s| {
        s.mood_seed_per_class = SEED_PER_CLASS;
        // Every distressed mood counts, whatever the small model's confidence.
        s.mood_alert_confidence = 0.0;
    })
    .await
}

/// A voice message carrying the generator's `k`th 8 kHz clip of `mood`.
pub fn voice_message(mood: Mood, k: u64, seq: i64) -> String {
    let clip = synth::clip(7, mood, k, 0, 8_000);
    // hound writes the canonical 44-byte header before the samples.
    let pcm = &clip.wav[44..];
    let audio = base64::engine::general_purpose::STANDARD.encode(pcm);
    json!({"v": 1, "seq": seq, "ts": now_ms(), "codec": "pcm_s16le", "rate_hz": 8000, "audio_b64": audio})
        .to_string()
}

/// The pet's moods once it has `count`.
async fn moods_of(app: &TestApp, user: &TestUser, pet: &str, count: usize) -> Vec<Value> {
    let from = now_ms() - 3_600_000;
    let to = now_ms() + 3_600_000;
    poll_until("the clips classified", CLASSIFIED, || async {
        let response = app
            .get(
                &format!("/v1/pets/{pet}/moods?from={from}&to={to}"),
                user.bearer(),
            )
            .await;
        let body = expect_json(response, StatusCode::OK).await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= count {
            Ok(items)
        } else {
            Err(format!("{} moods", items.len()))
        }
    })
    .await
}

#[actix_web::test]
async fn a_published_clip_becomes_a_mood_that_family_may_correct_and_distress_alerts_once() {
    let app = mood_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let pet = collar.pet_id.clone();
    for seq in 1..=2 {
        collar
            .link
            .send_raw("voice", voice_message(Mood::Anxious, seq as u64, seq))
            .await;
    }
    let items = moods_of(&app, &owner, &pet, 2).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let item = &items[0];
    for field in [
        "id",
        "pet_id",
        "voice_id",
        "mood",
        "confidence",
        "model_version",
        "is_corrected",
        "created_at",
        "updated_at",
        "audio_url",
    ] {
        assert!(item.get(field).is_some(), "{field} in {item}");
    }
    assert_eq!(item["pet_id"], pet.as_str());
    assert_eq!(item["mood"], "anxious", "{items:?}");
    assert_eq!(item["is_corrected"], false);
    let confidence = item["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence), "{item}");
    let audio = app
        .client
        .get(item["audio_url"].as_str().unwrap())
        .send()
        .await
        .expect("the audio URL answers");
    assert_eq!(audio.status(), StatusCode::OK);
    assert_eq!(&audio.bytes().await.unwrap()[..4], b"RIFF");

    // Two distressed clips within 30 minutes: one alert.
    let alerts = poll_until("the distress alert", CLASSIFIED, || async {
        let alerts = app.pet_alerts(&owner, &pet).await;
        let distress: Vec<Value> = alerts
            .into_iter()
            .filter(|a| a["kind"] == "mood_distress")
            .collect();
        if distress.is_empty() {
            Err("no mood_distress yet".into())
        } else {
            Ok(distress)
        }
    })
    .await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");

    // Corrections: family yes, a stranger sees nothing, an unknown mood is refused.
    let id = item["id"].as_str().unwrap();
    let family = app.register(&unique_email()).await;
    app.add_member(&owner, &pet, &family.email).await;
    let stranger = app.register_someone().await;
    let path = format!("/v1/moods/{id}");
    let response = app
        .patch(&path, stranger.bearer(), &json!({"mood": "happy"}))
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .patch(&path, family.bearer(), &json!({"mood": "grumpy"}))
        .await;
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let unchanged = moods_of(&app, &owner, &pet, 2).await;
    assert_eq!(unchanged[0]["mood"], "anxious");
    assert_eq!(unchanged[0]["is_corrected"], false);
    let response = app
        .patch(&path, family.bearer(), &json!({"mood": "happy"}))
        .await;
    let corrected = expect_json(response, StatusCode::OK).await;
    assert_eq!(corrected["mood"], "happy");
    assert_eq!(corrected["is_corrected"], true);
    let pg = app.pg().await;
    let (predicted,): (String,) = sqlx::query_as("SELECT predicted_mood FROM moods WHERE id = $1")
        .bind(uuid::Uuid::parse_str(id).unwrap())
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(predicted, "anxious", "the model's own answer is kept");
}

#[actix_web::test]
async fn a_corrupt_wav_marks_its_clip_failed_and_the_next_clip_is_still_classified() {
    let app = mood_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let pg = app.pg().await;
    let key = format!("voice/{}/1.wav", collar.serial);
    app.s3()
        .put_object()
        .bucket(&app.settings.s3_bucket)
        .key(&key)
        .body(ByteStream::from(b"RIFF not really a wave".to_vec()))
        .send()
        .await
        .expect("S3 takes the corrupt clip");
    sqlx::query(
        "INSERT INTO voice_clips (serial, seq, pet_id, at, s3_key, rate_hz, duration_ms)
         VALUES ($1, 1, $2, now(), $3, 8000, 1000)",
    )
    .bind(&collar.serial)
    .bind(uuid::Uuid::parse_str(&collar.pet_id).unwrap())
    .bind(&key)
    .execute(&pg)
    .await
    .unwrap();
    collar
        .link
        .send_raw("voice", voice_message(Mood::Happy, 3, 2))
        .await;

    let items = moods_of(&app, &owner, &collar.pet_id, 1).await;
    assert_eq!(items.len(), 1, "{items:?}");
    // Clip 1 may be in flight still when clip 2's mood is listed.
    let rows = poll_until(
        "the corrupt clip to leave the queue",
        CLASSIFIED,
        || async {
            let rows: Vec<(i64, String, Option<String>, i32)> = sqlx::query_as(
                "SELECT seq, mood_status, mood_error, mood_attempts FROM voice_clips
             WHERE serial = $1 ORDER BY seq",
            )
            .bind(&collar.serial)
            .fetch_all(&pg)
            .await
            .map_err(|e| e.to_string())?;
            if rows.iter().any(|r| r.1 == "pending") {
                Err(format!("{rows:?}"))
            } else {
                Ok(rows)
            }
        },
    )
    .await;
    assert_eq!(rows[0].0, 1);
    assert_eq!(rows[0].1, "failed", "{rows:?}");
    assert!(
        rows[0].2.as_deref().is_some_and(|e| e.contains("WAV")),
        "{rows:?}"
    );
    assert_eq!(rows[1].1, "done", "{rows:?}");
}
