//! MongoDB cut off behind a TCP proxy while a collar reports through two nodes: the samples
//! the non-owner reads still reach the owner's collar actor at once (the owner acknowledges a
//! forwarded entry only once what it left is stored, but reads on meanwhile), and when
//! MongoDB is back every sample is stored once.

use std::time::Duration;

use pettysync::config::Settings;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::collar::{now_ms, SETTLE};
use crate::faults::wait_for_all_stored;
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::mongo_database;

/// 6 s of samples: longer than the owner's adoption of entries idle for a TTL (2 s), which
/// during the outage are the owner's own batches still waiting for the store.
const SAMPLES: i64 = 20;
/// Apart, so each forwarded sample is its own read on the owner.
const EVERY: Duration = Duration::from_millis(300);

#[actix_web::test]
async fn forwarded_samples_reach_the_owners_actor_while_the_telemetry_store_is_away() {
    let base = Settings::load().expect("settings load");
    let (switch, _) = TcpSwitch::in_front_of(base.mongodb_url.expose_secret()).await;
    let isolation = Isolation::new();
    let settings = isolation.settings(|s| {
        s.mongodb_url = SecretString::from(switch.route(s.mongodb_url.expose_secret()));
    });
    let mut env = env_of(&settings);
    env.push(("PETTYSYNC_NODE_TTL_S", TTL_S.to_string()));
    run_ok(&env, &["migrate"]).await;
    let a = start_node(&settings, &env, "node-a").await;
    let b = start_node(&settings, &env, "node-b").await;
    wait_for_members(&[&a, &b], &["node-a", "node-b"]).await;
    let owner = a.app.register_someone().await;
    let collar = fenced_collar(&a.app, &owner).await;
    let fleet = Fleet::connect(&a.app).await;
    let start = now_ms();
    fleet
        .publish(&collar.serial, "telemetry", fix(1, start, true))
        .await;
    let map =
        wait_for_one_owner_each(&[&a, &b], std::slice::from_ref(&collar.serial), SETTLE).await;
    let (runs, reads) = if map["node-a"].contains(&collar.serial) {
        (&a, &b)
    } else {
        (&b, &a)
    };

    switch.set(false);
    let forwarded_before = counter(reads, "pettysync_forwarded_total").await;
    for seq in 2..=SAMPLES {
        fleet
            .publish(&collar.serial, "telemetry", fix(seq, start + seq, true))
            .await;
        actix_web::rt::time::sleep(EVERY).await;
    }
    // Round robin hands about half of them to the node that does not run the actor; each is
    // in the owner's actor while the store is still away.
    poll_until(
        "every forwarded sample in the owner's actor while MongoDB is away",
        SETTLE,
        || async {
            let forwarded = counter(reads, "pettysync_forwarded_total").await - forwarded_before;
            let applied = counter(runs, "pettysync_forward_applied_total").await;
            if forwarded >= 2.0 && applied >= forwarded {
                Ok(())
            } else {
                Err(format!("{forwarded} forwarded, {applied} applied"))
            }
        },
    )
    .await;

    switch.set(true);
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    wait_for_all_stored(
        &db,
        std::slice::from_ref(&collar.serial),
        SAMPLES as usize,
        SETTLE * 4,
    )
    .await;
}
