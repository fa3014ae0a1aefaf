//! MongoDB cut off for 30 s behind a TCP proxy while a collar reports, with the real binary:
//! the server stays up and says which store is away, SIGTERM during the outage exits within
//! the drain timeout, and after a restart nothing the broker had acknowledged is missing.

use std::time::{Duration, Instant};

use pettysync::config::Settings;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::wait_for_all_stored;
use crate::collar::{TestCollar, SETTLE};
use crate::fixtures::process::ServerProcess;
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{mongo_database, poll_until, read, Isolation};
use crate::realtime::wait_for_samples;

const OUTAGE: Duration = Duration::from_secs(30);
const DRAIN_TIMEOUT_S: u64 = 5;
const SAMPLES: u64 = 40;

#[actix_web::test]
async fn a_30_s_mongodb_outage_loses_nothing_and_sigterm_during_it_exits_in_time() {
    let base = Settings::load().expect("settings load");
    let (switch, _) = TcpSwitch::in_front_of(base.mongodb_url.expose_secret()).await;
    let isolation = Isolation::new();
    let settings = isolation.settings(|s| {
        s.mongodb_url = SecretString::from(switch.route(s.mongodb_url.expose_secret()));
        s.drain_timeout_s = DRAIN_TIMEOUT_S;
    });
    let (env, server) = ServerProcess::migrated(&settings).await;
    let app = server.app(&settings);
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    collar
        .publish_sample(&collar.reading(1, json!({"hr": 80})))
        .await;
    wait_for_samples(&db, &collar.serial, "the first sample", |s| s.len() == 1).await;

    switch.set(false);
    let outage_ends = Instant::now() + OUTAGE;
    for seq in 2..=SAMPLES {
        collar
            .publish_sample(&collar.reading(seq, json!({"hr": 80})))
            .await;
    }
    collar.link.flushed().await;
    let readiness: Value = poll_until("/readyz to name MongoDB", SETTLE * 2, || async {
        let (status, _, text) = read(app.get("/readyz", None).await).await;
        let body: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if status == StatusCode::SERVICE_UNAVAILABLE && body["checks"]["mongodb"] != "ok" {
            Ok(body)
        } else {
            Err(format!("{status}: {text}"))
        }
    })
    .await;
    assert_eq!(readiness["checks"]["postgres"], "ok", "{readiness}");
    let (health, _, _) = read(app.get("/healthz", None).await).await;
    assert_eq!(health, StatusCode::OK, "the server stays up");
    let state = app.pet_state(&owner, &collar.pet_id).await;
    assert_eq!(
        state["online"], true,
        "live state goes on without MongoDB: {state}"
    );

    let exit = server
        .terminate(Duration::from_secs(DRAIN_TIMEOUT_S + 10))
        .await;
    println!("SIGTERM during the MongoDB outage: exited after {exit:?}");
    assert!(
        exit <= Duration::from_secs(DRAIN_TIMEOUT_S + 3),
        "exit within the drain timeout ({DRAIN_TIMEOUT_S} s), took {exit:?}"
    );
    actix_web::rt::time::sleep_until(outage_ends.into()).await;
    switch.set(true);

    let again = ServerProcess::start(&env).await;
    wait_for_all_stored(
        &db,
        std::slice::from_ref(&collar.serial),
        SAMPLES as usize,
        SETTLE * 3,
    )
    .await;
    again.terminate(Duration::from_secs(60)).await;
}
