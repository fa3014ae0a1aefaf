//! The sitter's page: the pet, its live position, what the link's scopes allow, and the
//! "expired" state once the owner revokes the link.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use super::driver::Browser;
use super::{is_coordinate, WebFixture};
use crate::helpers::{expect_status, poll_until, string_at};

/// Revocation must reach an open page within this long (from the DELETE's answer).
const REVOKE_DEADLINE: Duration = Duration::from_secs(1);

const BANGKOK: (f64, f64) = (13.756331, 100.501762);
const A_BLOCK_NORTH: (f64, f64) = (13.759012, 100.502345);

#[actix_web::test]
async fn the_share_page_shows_the_pet_and_moves_its_marker_as_the_collar_publishes() {
    let web = WebFixture::start().await;
    let link = web.share_link(&["location"]).await;
    let browser = Browser::start().await;

    browser.goto(&web.page_of(&link)).await;
    browser
        .wait_for_text("#pet-name", "the page to name the pet", |t| {
            t == web.pet_name
        })
        .await;
    browser
        .wait_for_attr("body", "data-socket", "the live socket to open", |v| {
            v == "open"
        })
        .await;

    let (lat, lon) = BANGKOK;
    web.move_pet(1, lat, lon, json!({})).await;
    browser
        .wait_for_attr("#map", "data-lat", "the marker at the first fix", |v| {
            is_coordinate(v, lat)
        })
        .await;
    let shown_lon = browser
        .wait_for_attr("#map", "data-lon", "the marker's longitude", |_| true)
        .await;
    assert!(is_coordinate(&shown_lon, lon), "longitude {shown_lon}");

    let (lat, lon) = A_BLOCK_NORTH;
    web.move_pet(2, lat, lon, json!({})).await;
    browser
        .wait_for_attr("#map", "data-lat", "the marker to move", |v| {
            is_coordinate(v, lat)
        })
        .await;
    let shown_lon = browser
        .wait_for_attr("#map", "data-lon", "the marker's longitude", |_| true)
        .await;
    assert!(is_coordinate(&shown_lon, lon), "longitude {shown_lon}");
    let trail = browser
        .wait_for_attr("#map", "data-trail-points", "the trail", |_| true)
        .await;
    assert_eq!(trail, "2", "the trail holds both positions");
    let marker = browser
        .client
        .find(Locator::Css("#map .leaflet-marker-icon"))
        .await;
    assert!(marker.is_ok(), "Leaflet drew a marker without any tiles");
    assert!(!browser.is_shown("#expired").await);
    browser.close().await;
}

#[actix_web::test]
async fn a_link_without_vitals_shows_no_vitals() {
    let web = WebFixture::start().await;
    let without = web.share_link(&["location", "alerts"]).await;
    let with = web.share_link(&["location", "vitals"]).await;
    let browser = Browser::start().await;
    let (lat, lon) = BANGKOK;
    web.move_pet(1, lat, lon, json!({"hr": 96, "temp": 38.6, "bat": 83}))
        .await;

    browser.goto(&web.page_of(&without)).await;
    browser
        .wait_for_attr("#map", "data-lat", "the pet's position", |v| {
            is_coordinate(v, lat)
        })
        .await;
    assert!(
        !browser.is_shown("#vitals").await,
        "a link without `vitals` shows no vitals"
    );
    let page = browser
        .client
        .source()
        .await
        .expect("the page source can be read");
    assert!(
        !page.contains("96 bpm") && !page.contains("38.6"),
        "no vital sign is anywhere in the page"
    );

    // The same pet through a link with vitals: the check above is not vacuous.
    browser.goto(&web.page_of(&with)).await;
    let vitals = browser
        .wait_for_text("#vitals .value", "the vitals panel to fill", |t| {
            t.contains("bpm")
        })
        .await;
    assert!(vitals.contains("96 bpm"), "vitals shown: {vitals}");
    browser.close().await;
}

#[actix_web::test]
async fn revoking_the_link_turns_the_open_page_to_expired_within_a_second() {
    let web = WebFixture::start().await;
    let link = web.share_link(&["location"]).await;
    let browser = Browser::start().await;
    browser.goto(&web.page_of(&link)).await;
    browser
        .wait_for_text("#pet-name", "the page to name the pet", |t| {
            t == web.pet_name
        })
        .await;
    browser
        .wait_for_attr("body", "data-socket", "the live socket to open", |v| {
            v == "open"
        })
        .await;

    let revoke = web
        .app
        .delete(
            &format!("/v1/share-links/{}", string_at(&link, "/id")),
            web.owner.bearer(),
        )
        .await;
    let answered = Instant::now();
    expect_status(revoke, StatusCode::NO_CONTENT).await;

    let browser_ref = &browser;
    poll_until(
        "the page to say the link expired",
        REVOKE_DEADLINE,
        || async move {
            match browser_ref.is_shown("#expired").await {
                true => Ok(()),
                false => Err("no #expired yet".to_string()),
            }
        },
    )
    .await;
    let took = answered.elapsed();
    assert!(took <= REVOKE_DEADLINE, "took {took:?}");
    let message = browser.text_of("#expired").await;
    assert!(message.contains("This link has expired"), "{message}");
    assert!(
        !browser.is_shown("#map").await,
        "the expired page no longer shows the map"
    );

    // A fresh load of the revoked link is the same page.
    browser.goto(&web.page_of(&link)).await;
    let message = browser.text_of("#expired").await;
    assert!(message.contains("This link has expired"), "{message}");
    browser.close().await;
}
