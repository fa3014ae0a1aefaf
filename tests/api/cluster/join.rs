//! A third node joins two while every collar reports: ownership rebalances (the new node
//! takes its share), and sampling each node's actors every 200 ms, no collar runs on two
//! nodes for longer than one heartbeat TTL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::*;

const COLLARS: usize = 40;
const EVERY: Duration = Duration::from_millis(300);
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// How long the actors are sampled after the new node is up.
const WATCH_AFTER_JOIN: Duration = Duration::from_secs(3 * TTL_S);

#[actix_web::test]
async fn a_joining_node_takes_its_share_and_no_collar_has_two_owners_longer_than_a_ttl() {
    let isolation = Isolation::new();
    let (settings, env) = cluster_env(&isolation).await;
    let a = start_node(&settings, &env, "node-a").await;
    let b = start_node(&settings, &env, "node-b").await;
    wait_for_members(&[&a, &b], &["node-a", "node-b"]).await;
    let mut serials = Vec::new();
    for _ in 0..COLLARS {
        let serial = unique_serial();
        a.app.provision_collar(&serial).await;
        serials.push(serial);
    }
    let fleet = Arc::new(Fleet::connect(&a.app).await);
    let reporter = Reporter::start(fleet, serials.clone(), 1, EVERY, Arc::new(|_: &str| false));
    wait_for_one_owner_each(&[&a, &b], &serials, Duration::from_secs(20)).await;

    // Sample A, B and (once it is up) C while C starts.
    let joined: Mutex<Option<Node>> = Mutex::new(None);
    let done = std::sync::atomic::AtomicBool::new(false);
    let sampler = async {
        let mut since: BTreeMap<String, Instant> = BTreeMap::new();
        let mut longest = Duration::ZERO;
        let mut joined_at = None;
        loop {
            let c = joined.lock().await;
            let mut nodes = vec![&a, &b];
            if let Some(c) = c.as_ref() {
                nodes.push(c);
                joined_at.get_or_insert_with(Instant::now);
            }
            if let Ok(map) = actor_map(&nodes).await {
                let twice = doubly_owned(&map);
                since.retain(|serial, _| twice.contains(serial));
                for serial in twice {
                    let first = *since.entry(serial).or_insert_with(Instant::now);
                    longest = longest.max(first.elapsed());
                }
            }
            drop(c);
            if done.load(std::sync::atomic::Ordering::SeqCst)
                && joined_at.is_some_and(|at: Instant| at.elapsed() >= WATCH_AFTER_JOIN)
            {
                return longest;
            }
            actix_web::rt::time::sleep(SAMPLE_EVERY).await;
        }
    };
    let starter = async {
        let c = start_node(&settings, &env, "node-c").await;
        *joined.lock().await = Some(c);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (longest, ()) = tokio::join!(sampler, starter);
    println!("longest double ownership while node-c joined: {longest:?}");
    assert!(
        longest <= Duration::from_secs(TTL_S),
        "a collar ran on two nodes for {longest:?}"
    );

    let c = joined.lock().await.take().expect("node-c started");
    let map = wait_for_one_owner_each(&[&a, &b, &c], &serials, Duration::from_secs(10)).await;
    assert!(
        !map["node-c"].is_empty(),
        "the new node took its share: {map:?}"
    );
    reporter.stop().await;
}
