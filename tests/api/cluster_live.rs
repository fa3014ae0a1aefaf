//! Live events and changes across nodes: real `serve` processes on the same stores and
//! broker. A phone on one node watches a pet whose collar another node owns; a share link
//! revoked on one node closes its viewer on another; a fence drawn on one node reaches the
//! collar's actor on another.
//!
//! Live mode is summed over the nodes: the owner node's registry knows the pet is watched.
//!
//! Until every node but the owner stops running a collar's actor, either node may read a
//! collar's message (the shared subscription picks); the tests hold either way: the collar's
//! owner is the *other* node, and every sample must reach the phone, whichever node read it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pettysync::cluster::{Members, NodeId};
use reqwest::StatusCode;
use serde_json::json;

use crate::cluster::{actors_on, cluster_env, start_node, wait_for_members, Node};
use crate::collar::{LiveSocket, TestCollar, SETTLE};
use crate::helpers::{expect_json, poll_until, string_at, unique_serial, Isolation};
use crate::realtime::{park, wait_for_state, PARK_CENTRE};
use crate::share::{ShareSocket, CLOSE_REVOKED};

/// Samples whose publish → frame time is measured.
const SAMPLES: u64 = 20;

/// Starts these nodes on one isolated set of stores and waits until each sees all of them.
async fn cluster(isolation: &Isolation, names: &[&str]) -> Vec<Node> {
    let (settings, env) = cluster_env(isolation).await;
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(start_node(&settings, &env, name).await);
    }
    wait_for_members(&nodes.iter().collect::<Vec<_>>(), names).await;
    nodes
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
    let cluster = cluster(&isolation, &nodes).await;
    let phone_side = &cluster[0].app;
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
    wait_for_state(
        &cluster[1].app,
        &owner,
        &pet_id,
        "live mode on node B",
        |s| s["live"] == true,
    )
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
    let cluster = cluster(&isolation, &["node-a", "node-c"]).await;
    let (node_a, node_c) = (&cluster[0].app, &cluster[1].app);
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

#[actix_web::test]
async fn a_fence_drawn_on_one_node_reaches_the_collar_actor_another_node_runs() {
    let isolation = Isolation::new();
    let names = ["node-a", "node-b"];
    let cluster = cluster(&isolation, &names).await;
    let (node_a, node_b) = (&cluster[0], &cluster[1]);
    let owner = node_a.app.register_someone().await;
    let serial = serial_owned_by("node-b", &names);
    let collar = TestCollar::paired_as(&node_a.app, &owner, serial.clone(), false).await;
    let (lat, lon) = PARK_CENTRE;
    let seq = AtomicU64::new(1);
    let report = || async {
        let sample = collar.sample(seq.fetch_add(1, Ordering::SeqCst), lat, lon, 5.0, json!({}));
        collar.publish_sample(&sample).await;
    };
    report().await;
    poll_until("node B runs the collar's actor", SETTLE, || async {
        let running = actors_on(node_b).await?.contains(&serial);
        running.then_some(()).ok_or("not yet".to_owned())
    })
    .await;

    // Drawn through node A, which does not run the actor; B's actor must reload its fences.
    let fence = json!({"name": "Park", "kind": "safe", "geometry": park()});
    let path = format!("/v1/pets/{}/geofences", collar.pet_id);
    let created = node_a.app.post(&path, owner.bearer(), &fence).await;
    expect_json(created, StatusCode::CREATED).await;
    poll_until(
        "the collar's state inside the new fence",
        SETTLE,
        || async {
            report().await;
            let state = node_b.app.pet_state(&owner, &collar.pet_id).await;
            let inside = state["geofences"]["inside"].as_array().map_or(0, Vec::len);
            (inside == 1).then_some(()).ok_or(state.to_string())
        },
    )
    .await;
    assert!(
        actors_on(node_b).await.unwrap().contains(&serial),
        "the actor that placed the fix is still node B's"
    );
}
