//! The real binary stopped the hard ways: `kill -9` in the middle of ingesting 20 000
//! samples from 200 collars, and SIGTERM just after an alert was raised while PostgreSQL is
//! away. After a restart, every sample is stored once and every alert stored and pushed once.

use std::time::Duration;

use pettysync::config::Settings;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;
use sqlx::PgPool;

use super::{
    inside_the_park, postgres_switch, stored_pairs, wait_for_all_stored, wait_for_outbox, Fleet,
};
use crate::collar::{now_ms, TestCollar, QUIET, SETTLE};
use crate::fixtures::process::ServerProcess;
use crate::helpers::{
    expect_json, mongo_database, poll_until, string_at, unique_serial, Isolation,
};
use crate::notifications::{PushApp, PushPlatforms};
use crate::realtime::PARK_CENTRE;

const COLLARS: usize = 200;
const PAIRED: usize = 20;
const SAMPLES_PER_COLLAR: i64 = 100;

#[actix_web::test]
async fn kill_9_during_ingest_of_20_000_samples_loses_none_and_repeats_no_alert() {
    let base = Settings::load().expect("settings load");
    let isolation = Isolation::new();
    let settings = isolation.settings(|_| {});
    let (env, server) = ServerProcess::migrated(&settings).await;
    let app = server.app(&settings);
    let owner = app.register_someone().await;
    // 20 collars on pets (their battery runs low once: one alert each), 180 only provisioned.
    let mut serials = Vec::new();
    for _ in 0..PAIRED {
        let pet = string_at(&app.create_pet(&owner, "Rex").await, "/id");
        let serial = unique_serial();
        let code = app.provision_collar(&serial).await;
        expect_json(
            app.pair_collar(&owner, &pet, &serial, &code).await,
            StatusCode::OK,
        )
        .await;
        serials.push(serial);
    }
    for _ in PAIRED..COLLARS {
        let serial = unique_serial();
        app.provision_collar(&serial).await;
        serials.push(serial);
    }
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    let fleet = Fleet::connect(&app).await;
    let start = now_ms() - 60_000;
    for seq in 1..=SAMPLES_PER_COLLAR {
        for serial in &serials {
            // Every collar's battery: 80 %, then 10 % from the 50th sample on.
            let bat = if seq < 50 { 80 } else { 10 };
            let sample =
                json!({"v": 1, "seq": seq, "ts": start + seq * 100, "bat": bat, "steps": 2});
            fleet.publish(serial, "telemetry", sample.to_string()).await;
        }
    }
    fleet.flushed(SETTLE * 6).await;
    let total = COLLARS * SAMPLES_PER_COLLAR as usize;
    let before = poll_until("ingest under way", SETTLE * 3, || async {
        let stored = stored_pairs(&db, &serials).await.len();
        if stored >= total / 10 {
            Ok(stored)
        } else {
            Err(format!("{stored} stored"))
        }
    })
    .await;
    server.kill9().await;
    println!("kill -9 with {before} of {total} samples stored");

    let again = ServerProcess::start(&env).await;
    wait_for_all_stored(&db, &serials, total, Duration::from_secs(180)).await;
    let pg = PgPool::connect(settings.database_url.expose_secret())
        .await
        .expect("the test database is reachable");
    let alerts = poll_until(
        "one battery alert per paired collar",
        SETTLE * 3,
        || async {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT serial, count(*) FROM alerts WHERE kind = 'battery_low' GROUP BY serial",
            )
            .fetch_all(&pg)
            .await
            .map_err(|e| e.to_string())?;
            if rows.len() == PAIRED {
                Ok(rows)
            } else {
                Err(format!("{rows:?}"))
            }
        },
    )
    .await;
    actix_web::rt::time::sleep(QUIET).await;
    assert!(
        alerts.iter().all(|(_, count)| *count == 1),
        "no alert twice: {alerts:?}"
    );
    let (all,): (i64,) = sqlx::query_as("SELECT count(*) FROM alerts")
        .fetch_one(&pg)
        .await
        .expect("alerts are readable");
    assert_eq!(all, PAIRED as i64, "no other alert");
    again.terminate(Duration::from_secs(60)).await;
}

#[actix_web::test]
async fn an_alert_raised_just_before_sigterm_is_stored_and_pushed_once_after_the_restart() {
    let base = Settings::load().expect("settings load");
    let switch = postgres_switch().await;
    let platforms = PushPlatforms::create().await;
    let isolation = Isolation::new();
    let settings = isolation.settings(|s| {
        switch.route_postgres(s);
        s.drain_timeout_s = 3;
        platforms.configure(s);
    });
    let (env, server) = ServerProcess::migrated(&settings).await;
    let push = PushApp::on(server.app(&settings), platforms).await;
    let app = &push.app;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(app, &owner).await;
    let phone = push.phone(&owner, "fcm").await;
    inside_the_park(app, &owner, &collar).await;
    let (lat, _) = PARK_CENTRE;

    // PostgreSQL away: the exit can only be stored in the outbox before the stop.
    switch.set(false);
    for seq in 2..=3 {
        let outside = collar.sample(seq, lat, 2.375, 5.0, json!({}));
        collar.publish_sample(&outside).await;
    }
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    wait_for_outbox(&db, 1).await;
    server.terminate(Duration::from_secs(30)).await;
    switch.set(true);

    let again = ServerProcess::start(&env).await;
    let pushed = poll_until("the push after the restart", SETTLE * 4, || async {
        let messages = push.published(&phone.endpoint_arn).await;
        if messages.is_empty() {
            Err("none yet".to_owned())
        } else {
            Ok(messages)
        }
    })
    .await;
    push.settled().await;
    actix_web::rt::time::sleep(QUIET).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        push.published(&phone.endpoint_arn).await.len(),
        1,
        "pushed once"
    );
    let again_app = again.app(&settings);
    let alerts = again_app.pet_alerts(&owner, &collar.pet_id).await;
    let exits = alerts
        .iter()
        .filter(|a| a["kind"] == "geofence_exit")
        .count();
    assert_eq!(exits, 1, "stored once: {alerts:?}");
    again.terminate(Duration::from_secs(60)).await;
}
