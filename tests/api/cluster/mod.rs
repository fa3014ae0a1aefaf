//! Several `pettysync serve` processes on the same stores and broker (issue 13): each collar's
//! actor runs on exactly one node, messages read by another node are stored there and
//! forwarded to the owner, and ownership moves when a node dies or joins.
//!
//! - `three_nodes`: 200 collars through the shared subscription of three nodes;
//! - `failover`: `kill -9` of one node while its collars report and cross a fence;
//! - `join`: a third node joins two; no collar has two owners for longer than a TTL;
//! - `store_outage`: MongoDB away; forwarded samples still reach the owner's actor.

mod failover;
mod join;
mod store_outage;
mod three_nodes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pettysync::config::Settings;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::faults::Fleet;
use crate::fixtures::process::{env_of, run_ok, ServerProcess};
use crate::helpers::{
    expect_json, poll_until, string_at, unique_serial, Isolation, TestApp, TestUser,
};
use crate::realtime::{park, PARK_CENTRE};

/// The heartbeat TTL of the test nodes (seconds): a dead node is out after this long.
pub const TTL_S: u64 = 2;

/// A node of the test cluster: its process and a client of it.
pub struct Node {
    pub name: String,
    pub process: ServerProcess,
    pub app: TestApp,
}

/// The environment of a test cluster's nodes, on fresh isolated stores (migrated).
pub async fn cluster_env(isolation: &Isolation) -> (Settings, Vec<(&'static str, String)>) {
    let settings = isolation.settings(|_| {});
    let mut env = env_of(&settings);
    env.push(("PETTYSYNC_NODE_TTL_S", TTL_S.to_string()));
    run_ok(&env, &["migrate"]).await;
    (settings, env)
}

/// Starts a node named `name`.
pub async fn start_node(settings: &Settings, env: &[(&str, String)], name: &str) -> Node {
    let process = ServerProcess::start_node(env, name).await;
    let app = process.app(settings);
    Node {
        name: name.to_owned(),
        process,
        app,
    }
}

/// Waits until every node in `nodes` sees exactly the members `names`.
pub async fn wait_for_members(nodes: &[&Node], names: &[&str]) {
    let want: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    poll_until(
        "every node to see the members",
        Duration::from_secs(15),
        || async {
            for node in nodes {
                let response = node.app.get("/readyz", None).await;
                let body: Value = response.json().await.map_err(|e| e.to_string())?;
                let seen: BTreeSet<String> = body["members"]
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .filter_map(|n| n.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if seen != want {
                    return Err(format!("{} sees {seen:?}", node.name));
                }
            }
            Ok(())
        },
    )
    .await;
}

/// The serials whose actors run on `node` (admin route).
pub async fn actors_on(node: &Node) -> Result<BTreeSet<String>, String> {
    let response = node
        .app
        .get("/v1/admin/cluster/actors", Some(&node.app.admin_token))
        .await;
    if response.status() != StatusCode::OK {
        return Err(format!("{}: {}", node.name, response.status()));
    }
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    Ok(body["serials"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// Per node, the serials whose actors run there.
pub async fn actor_map(nodes: &[&Node]) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut map = BTreeMap::new();
    for node in nodes {
        map.insert(node.name.clone(), actors_on(node).await?);
    }
    Ok(map)
}

/// The serials that run on more than one node in `map`.
pub fn doubly_owned(map: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut twice = BTreeSet::new();
    for serials in map.values() {
        for serial in serials {
            if !seen.insert(serial.clone()) {
                twice.insert(serial.clone());
            }
        }
    }
    twice
}

/// Waits until every serial of `serials` runs on exactly one of `nodes`; returns the map.
pub async fn wait_for_one_owner_each(
    nodes: &[&Node],
    serials: &[String],
    within: Duration,
) -> BTreeMap<String, BTreeSet<String>> {
    let want: BTreeSet<String> = serials.iter().cloned().collect();
    poll_until(
        "each collar's actor on exactly one node",
        within,
        || async {
            let map = actor_map(nodes).await?;
            let twice = doubly_owned(&map);
            let all: BTreeSet<String> = map.values().flatten().cloned().collect();
            let missing = want.difference(&all).count();
            if twice.is_empty() && missing == 0 {
                Ok(map)
            } else {
                Err(format!(
                    "{missing} collars without an actor, {} on two nodes",
                    twice.len()
                ))
            }
        },
    )
    .await
}

/// The sum of a counter (every label set) in a node's `/metrics`.
pub async fn counter(node: &Node, name: &str) -> f64 {
    counter_at(&node.app, name).await
}

/// The sum of a counter (every label set) in a server's `/metrics` (a `serve` process's own;
/// in-process servers share one recorder).
pub async fn counter_at(app: &TestApp, name: &str) -> f64 {
    let text = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A collar paired to a new pet whose safe fence is the park.
pub struct FencedCollar {
    pub serial: String,
    pub pet_id: String,
}

/// Pairs a new collar to a new pet of `owner` with a safe fence around the park.
pub async fn fenced_collar(app: &TestApp, owner: &TestUser) -> FencedCollar {
    let pet_id = string_at(&app.create_pet(owner, "Rex").await, "/id");
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;
    expect_json(
        app.pair_collar(owner, &pet_id, &serial, &code).await,
        StatusCode::OK,
    )
    .await;
    let fence = json!({"name": "Park", "kind": "safe", "geometry": park()});
    let created = app
        .post(
            &format!("/v1/pets/{pet_id}/geofences"),
            owner.bearer(),
            &fence,
        )
        .await;
    expect_json(created, StatusCode::CREATED).await;
    FencedCollar { serial, pet_id }
}

/// A sample at the park's centre (`inside`) or 1 km east of it.
pub fn fix(seq: i64, ts: i64, inside: bool) -> String {
    let (lat, lon) = PARK_CENTRE;
    let lon = if inside { lon } else { lon + 0.02 };
    json!({"v": 1, "seq": seq, "ts": ts, "lat": lat, "lon": lon, "acc": 5.0}).to_string()
}

/// A publisher that keeps every collar of a fleet reporting, one sample per collar every
/// `every`, until stopped; a collar in `outside` reports from outside the park.
pub struct Reporter {
    stop: Arc<AtomicBool>,
    task: actix_web::rt::task::JoinHandle<i64>,
}

impl Reporter {
    /// Starts at `first_seq`; `outside(serial)` says where each collar is at each round.
    pub fn start(
        fleet: Arc<Fleet>,
        serials: Vec<String>,
        first_seq: i64,
        every: Duration,
        outside: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    ) -> Reporter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = actix_web::rt::spawn(async move {
            let mut seq = first_seq;
            while !flag.load(Ordering::SeqCst) {
                let ts = crate::collar::now_ms();
                for serial in &serials {
                    let payload = fix(seq, ts, !outside(serial));
                    fleet.publish(serial, "telemetry", payload).await;
                }
                seq += 1;
                actix_web::rt::time::sleep(every).await;
            }
            seq
        });
        Reporter { stop, task }
    }

    /// Stops publishing; returns the last seq published.
    pub async fn stop(self) -> i64 {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the reporter ends") - 1
    }
}

/// How many geofence exits PostgreSQL holds per serial.
pub async fn exits_per_serial(pg: &sqlx::PgPool) -> Result<BTreeMap<String, i64>, String> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT serial, count(*) FROM alerts WHERE kind = 'geofence_exit' GROUP BY serial",
    )
    .fetch_all(pg)
    .await
    .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().collect())
}
