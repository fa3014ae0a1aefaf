//! Three nodes, 200 collars publishing through the broker's shared subscription (Mosquitto
//! hands each message to any node, round robin): every sample is stored once, every collar's
//! actor runs on exactly one node, and each fence crossing raises one alert — wherever the
//! crossing's messages were read.

use std::time::Duration;

use pettysync::config::Settings;

use super::*;
use crate::collar::{now_ms, QUIET};
use crate::faults::wait_for_all_stored;
use crate::helpers::mongo_database;
use crate::realtime::wait_for_state;

const COLLARS: usize = 200;
const FENCED: usize = 20;
const INSIDE_SAMPLES: i64 = 5;

#[actix_web::test]
async fn three_nodes_store_each_sample_once_run_each_collar_once_and_alert_once() {
    let base = Settings::load().expect("settings load");
    let isolation = Isolation::new();
    let (settings, env) = cluster_env(&isolation).await;
    let a = start_node(&settings, &env, "node-a").await;
    let b = start_node(&settings, &env, "node-b").await;
    let c = start_node(&settings, &env, "node-c").await;
    let nodes = [&a, &b, &c];
    wait_for_members(&nodes, &["node-a", "node-b", "node-c"]).await;

    let owner = a.app.register_someone().await;
    let mut fenced = Vec::new();
    for _ in 0..FENCED {
        fenced.push(fenced_collar(&a.app, &owner).await);
    }
    let mut serials: Vec<String> = fenced.iter().map(|f| f.serial.clone()).collect();
    for _ in FENCED..COLLARS {
        let serial = unique_serial();
        a.app.provision_collar(&serial).await;
        serials.push(serial);
    }
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    let fleet = Fleet::connect(&a.app).await;

    // Every collar inside the park, a few samples each.
    let start = now_ms();
    for seq in 1..=INSIDE_SAMPLES {
        for serial in &serials {
            fleet
                .publish(serial, "telemetry", fix(seq, start + seq, true))
                .await;
        }
    }
    fleet.flushed(Duration::from_secs(30)).await;
    for collar in &fenced {
        // Read through another node than the one the pets were made on: the state is the
        // owner's, wherever it is asked.
        wait_for_state(&b.app, &owner, &collar.pet_id, "inside the park", |state| {
            state["geofences"]["inside"]
                .as_array()
                .is_some_and(|i| !i.is_empty())
        })
        .await;
    }
    // The fenced collars leave: two fixes outside, each applied before the next is sent
    // (round robin may hand two messages of one collar to two nodes).
    for seq in [INSIDE_SAMPLES + 1, INSIDE_SAMPLES + 2] {
        let ts = now_ms();
        for collar in &fenced {
            fleet
                .publish(&collar.serial, "telemetry", fix(seq, ts, false))
                .await;
        }
        for collar in &fenced {
            wait_for_state(
                &c.app,
                &owner,
                &collar.pet_id,
                "the fix outside applied",
                |s| s["last_seen"] == json!(ts),
            )
            .await;
        }
    }

    let expected = COLLARS * INSIDE_SAMPLES as usize + FENCED * 2;
    wait_for_all_stored(&db, &serials, expected, Duration::from_secs(60)).await;
    let map = wait_for_one_owner_each(&nodes, &serials, Duration::from_secs(20)).await;
    let counts: Vec<usize> = map.values().map(|s| s.len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), COLLARS, "{counts:?}");
    assert!(
        counts.iter().all(|n| *n > 0),
        "every node runs some collars: {counts:?}"
    );

    let pg = a.app.pg().await;
    poll_until(
        "one exit per fenced collar",
        Duration::from_secs(20),
        || async {
            let exits = exits_per_serial(&pg).await?;
            (exits.len() == FENCED)
                .then_some(())
                .ok_or(format!("{exits:?}"))
        },
    )
    .await;
    actix_web::rt::time::sleep(QUIET).await;
    let exits = exits_per_serial(&pg).await.expect("alerts are readable");
    assert!(
        exits.values().all(|n| *n == 1),
        "each crossing raised one alert: {exits:?}"
    );

    let (mut forwarded, mut messages) = (0.0, 0.0);
    for node in nodes {
        forwarded += counter(node, "pettysync_forwarded_total").await;
        messages += counter(node, "pettysync_mqtt_messages_total").await;
    }
    println!(
        "forwarded {forwarded} of {messages} collar messages ({:.0} %) across 3 nodes; actors per node {counts:?}",
        100.0 * forwarded / messages.max(1.0)
    );
}
