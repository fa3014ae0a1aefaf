//! The owner's page shows the selected pet's last 7 days: a chart of each day's steps,
//! active minutes, distance and heart-rate range from `GET /v1/pets/{id}/stats`, and a
//! "download GPX" link that saves the 7 days' track (fetched with the bearer token).
//!
//! The chart test needs the statistics route (`/stats`, the roll-ups): without it the page
//! says statistics are not available, and the test fails waiting for them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::driver::{Browser, PAGE_TIMEOUT};
use super::WebFixture;
use crate::collar::now_ms;
use crate::helpers::{poll_until, read, PASSWORD};
use crate::track_gpx::{assert_valid_gpx, gpx_points};

/// Longest the roll-ups may take to show a sample: their interval (60 s) and 5 s.
const ROLLUP_TIMEOUT: Duration = Duration::from_secs(90);

/// Signs the owner in and selects the fixture's pet.
async fn open_pet(web: &WebFixture, browser: &Browser) {
    browser.goto(&web.app.url("/")).await;
    browser.type_into("#email", &web.owner.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#sign-in").await;
    let pet = format!("#pets li[data-pet-id='{}']", web.collar.pet_id);
    browser.click(&pet).await;
}

#[actix_web::test]
async fn the_gpx_link_saves_the_last_7_days_as_a_valid_gpx_file() {
    let web = WebFixture::start().await;
    let sent: Vec<Value> = [
        (13.7563, 100.5018),
        (13.7571, 100.5022),
        (13.7580, 100.5031),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(lat, lon))| web.collar.sample(i as u64 + 1, lat, lon, 5.0, json!({})))
    .collect();
    for sample in &sent {
        web.collar.publish_sample(sample).await;
    }
    let path = format!(
        "/v1/pets/{}/track.gpx?from={}&to={}",
        web.collar.pet_id,
        now_ms() - 60_000,
        now_ms() + 60_000
    );
    poll_until("the fixes stored", PAGE_TIMEOUT, || async {
        let (status, _, text) = read(web.app.get(&path, web.owner.bearer()).await).await;
        let stored = gpx_points(&text).len();
        (status == StatusCode::OK && stored == sent.len())
            .then_some(())
            .ok_or(format!("{status}: {stored} points"))
    })
    .await;

    let browser = Browser::start().await;
    open_pet(&web, &browser).await;
    // Whether or not the server has statistics yet, the chart settles without an error.
    let chart = browser
        .wait_for_attr("#week-chart", "data-state", "the chart settled", |v| {
            !matches!(v, "" | "loading")
        })
        .await;
    assert_ne!(chart, "error", "{}", browser.text_of("#week-chart").await);
    browser.click("#gpx-download").await;
    let dir = browser.download_dir();
    let file = poll_until("the GPX file saved", PAGE_TIMEOUT, || {
        let dir = dir.clone();
        async move {
            let names: Vec<_> = std::fs::read_dir(&dir)
                .map_err(|e| e.to_string())?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .collect();
            names
                .iter()
                .find(|path| path.extension().is_some_and(|ext| ext == "gpx"))
                .cloned()
                .ok_or(format!("{names:?}"))
        }
    })
    .await;
    let text = std::fs::read_to_string(&file).expect("the saved file can be read");
    assert_valid_gpx(&text);
    let points: Vec<(f64, f64)> = gpx_points(&text).iter().map(|p| (p.0, p.1)).collect();
    let expected: Vec<(f64, f64)> = sent
        .iter()
        .map(|s| (s["lat"].as_f64().unwrap(), s["lon"].as_f64().unwrap()))
        .collect();
    assert_eq!(points, expected);
    assert!(!browser.is_shown("#gpx-error").await);
    browser.close().await;
}

#[actix_web::test]
async fn the_week_chart_draws_each_days_steps_and_heart_rate_from_the_statistics() {
    let web = WebFixture::start().await;
    let browser = Browser::start().await;
    browser.goto(&web.app.url("/")).await;
    let zone = browser
        .client
        .execute(
            "return Intl.DateTimeFormat().resolvedOptions().timeZone",
            vec![],
        )
        .await
        .expect("the page runs a script");
    let zone = zone.as_str().unwrap_or("UTC").to_owned();
    for (seq, steps, hr) in [(1, 120, 88), (2, 80, 131), (3, 100, 97)] {
        let extra = json!({"steps": steps, "hr": hr, "act": "walk"});
        web.move_pet(seq, 13.7563 + seq as f64 * 1e-4, 100.5018, extra)
            .await;
    }
    // The roll-ups' figures for today, as the page will ask for them.
    let path = format!(
        "/v1/pets/{}/stats?bucket=day&from={}&to={}&tz={zone}",
        web.collar.pet_id,
        now_ms() - 7 * 86_400_000,
        now_ms() + 60_000
    );
    poll_until("today's roll-up with 300 steps", ROLLUP_TIMEOUT, || async {
        let (status, _, text) = read(web.app.get(&path, web.owner.bearer()).await).await;
        let stats: Value = serde_json::from_str(&text).unwrap_or_default();
        let steps = stats["items"]
            .as_array()
            .and_then(|items| items.last())
            .map(|day| day["steps"].clone());
        (status == StatusCode::OK && steps == Some(json!(300)))
            .then_some(())
            .ok_or(format!("{status}: {text}"))
    })
    .await;

    open_pet(&web, &browser).await;
    browser
        .wait_for_attr("#week-chart", "data-state", "the chart drawn", |v| {
            v == "ready"
        })
        .await;
    let bars = browser
        .client
        .find_all(fantoccini::Locator::Css(
            "#week-chart rect[data-metric='steps']",
        ))
        .await
        .expect("the bars can be listed");
    assert_eq!(bars.len(), 1, "one day with samples, one bar");
    let steps = browser
        .wait_for_attr(
            "#week-chart rect[data-metric='steps']:last-of-type",
            "data-value",
            "today's steps",
            |_| true,
        )
        .await;
    assert_eq!(steps, "300");
    let heart = browser
        .wait_for_attr(
            "#week-chart line[data-metric='hr']:last-of-type",
            "data-value",
            "today's heart rate",
            |_| true,
        )
        .await;
    assert_eq!(heart, "88-131");
    for metric in ["active", "distance"] {
        browser
            .wait_for(&format!("#week-chart figure[data-metric='{metric}']"))
            .await;
    }
    browser.close().await;
}
