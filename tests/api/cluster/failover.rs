//! `kill -9` of one node of three while its collars report and, right then, leave their
//! fence: within 10 s their actors run on the other nodes and their live state moves again,
//! each crossing raises one alert, and once the dead node is back (its broker session holds
//! what the broker had handed it) every sample is stored exactly once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pettysync::config::Settings;

use super::*;
use crate::collar::{now_ms, QUIET};
use crate::faults::wait_for_all_stored;
use crate::helpers::mongo_database;
use crate::realtime::wait_for_state;

/// Not a multiple of three: Mosquitto keeps handing a share of the messages to the dead
/// node's broker session (held there until it returns), round robin over the group's three
/// sessions; with a multiple of three collars per round, one collar's messages would all land
/// in the same session, and a collar whose messages all went to the dead node's session
/// would never be heard by the others.
const COLLARS: usize = 25;
/// How often every collar reports during the test.
const EVERY: Duration = Duration::from_millis(300);
/// The failover must be done within this (issue 13).
const FAILOVER: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn a_killed_nodes_collars_are_live_again_elsewhere_within_10_s_with_one_alert_per_crossing() {
    let base = Settings::load().expect("settings load");
    let isolation = Isolation::new();
    let (settings, env) = cluster_env(&isolation).await;
    let a = start_node(&settings, &env, "node-a").await;
    let b = start_node(&settings, &env, "node-b").await;
    let c = start_node(&settings, &env, "node-c").await;
    wait_for_members(&[&a, &b, &c], &["node-a", "node-b", "node-c"]).await;

    let owner = a.app.register_someone().await;
    let mut collars = Vec::new();
    for _ in 0..COLLARS {
        collars.push(fenced_collar(&a.app, &owner).await);
    }
    let serials: Vec<String> = collars.iter().map(|c| c.serial.clone()).collect();
    let fleet = Arc::new(Fleet::connect(&a.app).await);
    let outside: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let where_is = {
        let outside = Arc::clone(&outside);
        Arc::new(move |serial: &str| outside.lock().expect("the set").contains(serial))
    };
    let reporter = Reporter::start(Arc::clone(&fleet), serials.clone(), 1, EVERY, where_is);
    let map = wait_for_one_owner_each(&[&a, &b, &c], &serials, Duration::from_secs(20)).await;
    for collar in &collars {
        wait_for_state(&a.app, &owner, &collar.pet_id, "inside the park", |state| {
            state["geofences"]["inside"]
                .as_array()
                .is_some_and(|i| !i.is_empty())
        })
        .await;
    }
    let on_b = map["node-b"].clone();
    assert!(!on_b.is_empty(), "node-b runs some collars: {map:?}");

    // B dies; right then its collars leave the park.
    b.process.kill9().await;
    let killed_at = (Instant::now(), now_ms());
    outside
        .lock()
        .expect("the set")
        .extend(on_b.iter().cloned());

    let survivors = [&a, &c];
    poll_until("node-b's collars running on A or C", FAILOVER, || async {
        let map = actor_map(&survivors).await?;
        let running: BTreeSet<String> = map.values().flatten().cloned().collect();
        let left = on_b.difference(&running).count();
        (left == 0)
            .then_some(())
            .ok_or(format!("{left} of node-b's collars not running"))
    })
    .await;
    for collar in collars.iter().filter(|c| on_b.contains(&c.serial)) {
        let remaining = FAILOVER.saturating_sub(killed_at.0.elapsed());
        let pet = &collar.pet_id;
        poll_until("node-b's collar live again", remaining, || async {
            let state = a.app.pet_state(&owner, pet).await;
            let seen = state["last_seen"].as_i64().unwrap_or(0);
            (seen > killed_at.1).then_some(()).ok_or(state.to_string())
        })
        .await;
    }
    println!(
        "failover: node-b's {} collars live on A or C {:?} after kill -9",
        on_b.len(),
        killed_at.0.elapsed()
    );

    let pg = a.app.pg().await;
    poll_until(
        "one exit per collar that crossed",
        Duration::from_secs(20),
        || async {
            let exits = exits_per_serial(&pg).await?;
            let crossed: BTreeSet<String> = exits.keys().cloned().collect();
            (crossed == on_b).then_some(()).ok_or(format!("{exits:?}"))
        },
    )
    .await;
    let last_seq = reporter.stop().await;
    actix_web::rt::time::sleep(QUIET).await;
    let exits = exits_per_serial(&pg).await.expect("alerts are readable");
    assert!(
        exits.values().all(|n| *n == 1),
        "one alert per crossing: {exits:?}"
    );

    // B comes back under its id: its broker session hands over what was queued for it.
    let _b = start_node(&settings, &env, "node-b").await;
    fleet.flushed(Duration::from_secs(30)).await;
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    let expected = COLLARS * last_seq as usize;
    wait_for_all_stored(&db, &serials, expected, Duration::from_secs(60)).await;
}
