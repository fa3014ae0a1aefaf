//! Live events across nodes: real `serve` processes on the same stores and broker. A phone
//! on one node watches a pet whose collar another node owns; a share link revoked on one
//! node closes its viewer on another.
//!
//! Live mode is summed over the nodes: the owner node's registry knows the pet is watched.
//!
//! Until every node but the owner stops running a collar's actor, either node may read a
//! collar's message (the shared subscription picks); the tests hold either way: the collar's
//! owner is the *other* node, and every sample must reach the phone, whichever node read it.

use std::time::{Duration, Instant};

use pettysync::cluster::{Members, NodeId};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collar::{LiveSocket, TestCollar, SETTLE};
use crate::fixtures::process::{env_of, run_ok, ServerProcess};
use crate::helpers::{poll_until, string_at, unique_serial, Isolation, TestApp};
use crate::realtime::wait_for_state;
use crate::share::{ShareSocket, CLOSE_REVOKED};

/// Samples whose publish → frame time is measured.
const SAMPLES: u64 = 20;

/// Starts these nodes on one isolated set of stores (heartbeat TTL 2 s) and waits until
/// each sees all of them.
async fn cluster(isolation: &Isolation, nodes: &[&str]) -> (Vec<ServerProcess>, Vec<TestApp>) {
    let settings = isolation.settings(|_| {});
    let mut env = env_of(&settings);
    env.push(("PETTYSYNC_NODE_TTL_S", "2".to_owned()));
    run_ok(&env, &["migrate"]).await;
    let mut servers = Vec::new();
    for node in nodes {
        servers.push(ServerProcess::start_node(&env, node).await);
    }
    let apps: Vec<TestApp> = servers.iter().map(|s| s.app(&settings)).collect();
    for app in &apps {
        poll_until("every node sees the others", SETTLE * 2, || async {
            let ready: Value = app
                .get("/readyz", None)
                .await
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let seen = ready["members"].as_array().map_or(0, Vec::len);
            (seen == nodes.len()).then_some(()).ok_or(ready.to_string())
        })
        .await;
    }
    (servers, apps)
}

/// A serial whose rendezvous owner among `nodes` is `owner`.
fn serial_owned_by(owner: &str, nodes: &[&str]) -> String {
    let ids: Vec<NodeId> = nodes.iter().filter_map(|n| NodeId::parse(n)).collect();
    let members = Members::new(ids[0].clone(), ids[1..].iter().cloned());
    std::iter::repeat_with(unique_serial)
        .find(|serial| members.owner(serial).as_str() == owner)
        .expect("an endless supply of serials")
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[actix_web::test]
async fn a_phone_on_one_node_sees_the_states_of_a_collar_another_node_owns() {
    let isolation = Isolation::new();
    let nodes = ["node-a", "node-b"];
    let (_servers, apps) = cluster(&isolation, &nodes).await;
    let phone_side = &apps[0];
    let owner = phone_side.register_someone().await;
    let serial = serial_owned_by("node-b", &nodes);
    let mut collar = TestCollar::paired_as(phone_side, &owner, serial, false).await;
    let pet_id = collar.pet_id.clone();

    let mut phone = LiveSocket::open(phone_side, &owner).await;
    phone.subscribe(&[&pet_id]).await;
    phone
        .next_state(&pet_id, "the subscribe answer", |_| true)
        .await;
    let live = collar.link.next_command(SETTLE).await;
    assert_eq!(live["cmd"], "set_interval", "{live}");
    assert_eq!(live["interval_s"], 3, "live mode: {live}");
    // The owner node knows the pet is in live mode, though nobody watches it there.
    wait_for_state(&apps[1], &owner, &pet_id, "live mode on node B", |s| {
        s["live"] == true
    })
    .await;

    let mut took = Vec::new();
    for seq in 1..=SAMPLES {
        let sample = collar.sample(seq, 48.85 + seq as f64 * 1e-4, 2.35, 5.0, json!({}));
        let sent = Instant::now();
        collar.publish_sample(&sample).await;
        phone.next_state_with(&pet_id, &sample).await;
        took.push(sent.elapsed());
    }
    took.sort();
    println!(
        "publish -> state frame across nodes, {SAMPLES} samples: p50 {:?}, p99 {:?}",
        percentile(&took, 50),
        percentile(&took, 99)
    );
}

#[actix_web::test]
async fn a_share_link_revoked_on_one_node_closes_its_viewer_on_another_within_a_second() {
    let isolation = Isolation::new();
    let (_servers, apps) = cluster(&isolation, &["node-a", "node-c"]).await;
    let (node_a, node_c) = (&apps[0], &apps[1]);
    let owner = node_a.register_someone().await;
    let pet_id = string_at(&node_a.create_pet(&owner, "Rex").await, "/id");
    let link = node_a
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let mut viewer = ShareSocket::open(node_c, &string_at(&link, "/token")).await;
    viewer.assert_answers_ping().await;

    let path = format!("/v1/share-links/{}", string_at(&link, "/id"));
    let revoked = node_a.delete(&path, owner.bearer()).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (frames, code) = viewer.until_closed(Duration::from_secs(1)).await;
    assert!(
        frames.iter().any(|f| *f == json!({"type": "revoked"})),
        "`revoked` before the close: {frames:?}"
    );
    assert_eq!(code, Some(CLOSE_REVOKED));
}
