//! The owner's page lists the selected pet's moods (the latest with its confidence, each
//! with a play button) and corrects one with one tap: the correction reaches the server
//! (`is_corrected`, the owner's mood) and the page shows it.
//!
//! The mood row is written straight into PostgreSQL as the classifier would write it (the
//! pipeline itself is `tests/api/moods.rs`; training a model here would only slow this down).

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use super::driver::Browser;
use super::WebFixture;
use crate::collar::now_ms;
use crate::helpers::{expect_json, PASSWORD};

/// A classified clip of the fixture's pet: a model, the clip's row, its mood (`anxious`,
/// 81 %). Returns the mood's id.
async fn classified_clip(web: &WebFixture) -> Uuid {
    let pg = web.app.pg().await;
    let (version,): (i64,) = sqlx::query_as(
        "INSERT INTO mood_models (status, feature_version, s3_key, training_clips, extra_clips, metrics)
         VALUES ('retired', 1, 'mood/models/test.json', 0, 0, '{}') RETURNING version",
    )
    .fetch_one(&pg)
    .await
    .expect("a model row");
    let (voice_id,): (Uuid,) = sqlx::query_as(
        "INSERT INTO voice_clips (serial, seq, pet_id, at, s3_key, rate_hz, duration_ms, mood_status)
         VALUES ($1, 1, $2, now(), 'voice/test.wav', 8000, 1000, 'done') RETURNING id",
    )
    .bind(&web.collar.serial)
    .bind(web.collar.pet_id.parse::<Uuid>().expect("a pet id"))
    .fetch_one(&pg)
    .await
    .expect("a clip row");
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO moods (id, user_id, mood, voice_id, pet_id, confidence, model_version, predicted_mood, probs, at)
         VALUES ($1, $2, 'anxious', $3, $4, 0.81, $5, 'anxious', '{}', now())",
    )
    .bind(id)
    .bind(web.owner.id.parse::<Uuid>().expect("a user id"))
    .bind(voice_id)
    .bind(web.collar.pet_id.parse::<Uuid>().expect("a pet id"))
    .bind(version)
    .execute(&pg)
    .await
    .expect("a mood row");
    id
}

#[actix_web::test]
async fn the_owner_sees_the_latest_mood_plays_it_and_corrects_it_with_one_tap() {
    let web = WebFixture::start().await;
    let mood_id = classified_clip(&web).await;
    let browser = Browser::start().await;
    browser.goto(&web.app.url("/")).await;
    browser.type_into("#email", &web.owner.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#sign-in").await;
    browser
        .click(&format!("#pets li[data-pet-id='{}']", web.collar.pet_id))
        .await;
    browser
        .wait_for_attr("#moods", "data-state", "the moods listed", |v| v == "ready")
        .await;
    assert!(
        browser
            .text_of(".mood-latest")
            .await
            .contains("Anxious (81 %)"),
        "{}",
        browser.text_of("#moods").await
    );
    let item = format!("#moods li[data-mood-id='{mood_id}']");
    let audio = browser.wait_for(&format!("{item} audio")).await;
    let src = audio
        .attr("src")
        .await
        .expect("an attribute")
        .unwrap_or_default();
    assert!(
        src.contains("voice/test.wav"),
        "the play button plays the clip: {src}"
    );

    browser
        .click(&format!("{item} button[data-correct='calm']"))
        .await;
    browser
        .wait_for_attr(&item, "data-corrected", "the correction shown", |v| {
            v == "true"
        })
        .await;
    assert_eq!(
        browser
            .wait_for_attr(&item, "data-mood", "the mood", |_| true)
            .await,
        "calm"
    );
    let from = now_ms() - 3_600_000;
    let to = now_ms() + 3_600_000;
    let path = format!("/v1/pets/{}/moods?from={from}&to={to}", web.collar.pet_id);
    let body: Value =
        expect_json(web.app.get(&path, web.owner.bearer()).await, StatusCode::OK).await;
    assert_eq!(body["items"][0]["mood"], "calm", "{body}");
    assert_eq!(body["items"][0]["is_corrected"], true);
    browser.close().await;
}
