//! One round: N nodes on fresh stores, C collars set up and warmed (each actor started); a
//! paced phase that times a forward; then M samples as fast as the publishers go, timed until
//! MongoDB holds all of them, with the nodes' and Redis's CPU time and the share of messages
//! forwarded.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use mongodb::bson::Document;
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use crate::fleet;
use crate::nodes::{scrape, series, ticks_of_command, wait_for_members, Node};
use crate::support::cpu::TICKS_PER_SECOND;
use crate::support::server::{isolated_settings, random_secret};

/// How long the warm-up and the measured burst each may take to be stored.
const STORE_BUDGET: Duration = Duration::from_secs(150);

/// Sizes of a round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) collars: usize,
    pub(crate) per_collar: usize,
    /// Seconds of the paced phase (one sample per collar a second) that times a forward.
    pub(crate) paced_s: usize,
}

/// What one round measured.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub(crate) nodes: usize,
    pub(crate) messages: u64,
    pub(crate) stored: u64,
    pub(crate) elapsed: Duration,
    /// Samples stored per second.
    pub(crate) rate: f64,
    /// CPU of every node process, and of the Redis server, per message.
    pub(crate) node_cpu_us: f64,
    pub(crate) redis_cpu_us: f64,
    /// Entries handed to another node's stream during the burst.
    pub(crate) forwarded: u64,
    /// In the paced phase, the delay from a node's receipt of a message to the answer of
    /// its collar's actor on another node (p50, p99 as bucket bounds, ms); None when
    /// nothing was forwarded.
    pub(crate) delay_ms: Option<(f64, f64)>,
    /// The same for messages read by the collar's owner itself.
    pub(crate) local_delay_ms: Option<(f64, f64)>,
}

impl Figures {
    pub(crate) fn complete(&self) -> bool {
        self.stored >= self.messages
    }

    pub(crate) fn forwarded_share(&self) -> f64 {
        self.forwarded as f64 / self.messages.max(1) as f64
    }
}

/// Runs a round with `count` nodes.
pub(crate) async fn round(count: usize, plan: Plan) -> anyhow::Result<Figures> {
    let run = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let mut settings = isolated_settings("cluster", &run)?;
    let admin = random_secret();
    settings.admin_token = Some(SecretString::from(admin.clone()));
    pettysync::migrate::run(&settings)
        .await
        .context("migrating the round's databases")?;
    let env = node_env(&settings);
    let mut nodes = Vec::with_capacity(count);
    for i in 0..count {
        nodes.push(Node::start(&env, &format!("bench-node-{}", i + 1))?);
    }
    let http = reqwest::Client::new();
    wait_for_members(&http, &nodes).await?;
    let mut collars = fleet::set_up(
        &http,
        &nodes[0].base,
        &admin,
        &run,
        &settings.mqtt_topic_prefix,
        plan.collars,
    )
    .await?;
    let broker = url::Url::parse(settings.mqtt_url.expose_secret())?;
    let host = broker.host_str().unwrap_or("127.0.0.1").to_owned();
    let publishers = fleet::publishers(&host, broker.port().unwrap_or(1883), &run).await?;
    let mongo = mongodb::Client::with_uri_str(settings.mongodb_url.expose_secret()).await?;
    let telemetry = mongo
        .default_database()
        .context("the MongoDB URL names the round's database")?
        .collection::<Document>(pettysync::migrate::TELEMETRY_COLLECTION);

    // Warm-up: one sample per collar starts every actor (on its owner) before the clock runs.
    fleet::burst(&publishers, &mut collars, 1).await?;
    wait_stored(&telemetry, collars.len() as u64)
        .await
        .map_err(|got| anyhow::anyhow!("warm-up: {got} of {} samples stored", collars.len()))?;
    // Paced: one sample per collar a second, well below capacity, for the forward's delay.
    let forwarded_before = delay_buckets(&http, &nodes, "forwarded").await?;
    let local_before = delay_buckets(&http, &nodes, "local").await?;
    let mut next = tokio::time::Instant::now();
    for _ in 0..plan.paced_s {
        fleet::burst(&publishers, &mut collars, 1).await?;
        next += Duration::from_secs(1);
        tokio::time::sleep_until(next).await;
    }
    let paced = (collars.len() * (1 + plan.paced_s)) as u64;
    wait_stored(&telemetry, paced)
        .await
        .map_err(|got| anyhow::anyhow!("paced: {got} of {paced} samples stored"))?;
    let delays = delta(
        &delay_buckets(&http, &nodes, "forwarded").await?,
        &forwarded_before,
    );
    let delay_ms = quantile(&delays, 0.5).zip(quantile(&delays, 0.99));
    let local = delta(&delay_buckets(&http, &nodes, "local").await?, &local_before);
    let local_delay_ms = quantile(&local, 0.5).zip(quantile(&local, 0.99));

    let stored_before = telemetry.estimated_document_count().await?;
    let forwarded_before = forwarded(&http, &nodes).await?;
    let node_ticks_before: u64 = nodes.iter().map(Node::ticks).sum();
    let redis_before = ticks_of_command("redis-server");

    let messages = (collars.len() * plan.per_collar) as u64;
    let started = Instant::now();
    fleet::burst(&publishers, &mut collars, plan.per_collar).await?;
    let stored = wait_stored(&telemetry, stored_before + messages)
        .await
        .unwrap_or_else(|got| got)
        - stored_before;
    let elapsed = started.elapsed();

    let cpu_us = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1e6 / messages.max(1) as f64;
    let node_ticks: u64 = nodes.iter().map(Node::ticks).sum::<u64>() - node_ticks_before;
    let redis_ticks = ticks_of_command("redis-server").saturating_sub(redis_before);
    let forwarded = forwarded(&http, &nodes).await? - forwarded_before;
    println!(
        "  {count} node(s): {} of {messages} stored in {:.2} s; broker acknowledged {}",
        stored,
        elapsed.as_secs_f64(),
        fleet::acked(&publishers)
    );
    Ok(Figures {
        nodes: count,
        messages,
        stored,
        elapsed,
        rate: stored.min(messages) as f64 / elapsed.as_secs_f64(),
        node_cpu_us: cpu_us(node_ticks),
        redis_cpu_us: cpu_us(redis_ticks),
        forwarded,
        delay_ms,
        local_delay_ms,
    })
}

/// The round's stores as the environment of its nodes (the rest comes from this process's
/// environment, as `scripts/services.sh` set it).
fn node_env(settings: &pettysync::config::Settings) -> Vec<(String, String)> {
    let secret = |s: &SecretString| s.expose_secret().to_owned();
    let mut env = vec![
        ("PETTYSYNC_DATABASE_URL", secret(&settings.database_url)),
        ("PETTYSYNC_MONGODB_URL", secret(&settings.mongodb_url)),
        ("PETTYSYNC_REDIS_PREFIX", settings.redis_prefix.clone()),
        ("PETTYSYNC_MQTT_URL", secret(&settings.mqtt_url)),
        (
            "PETTYSYNC_MQTT_TOPIC_PREFIX",
            settings.mqtt_topic_prefix.clone(),
        ),
        // No voice in this bench: no seed model to train at each node's start.
        ("PETTYSYNC_MOOD_SEED_PER_CLASS", "0".to_owned()),
    ];
    for (name, value) in [
        ("PETTYSYNC_JWT_SECRET", &settings.jwt_secret),
        ("PETTYSYNC_ADMIN_TOKEN", &settings.admin_token),
    ] {
        if let Some(value) = value {
            env.push((name, secret(value)));
        }
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Waits until the telemetry collection holds `want` samples; Err(what it holds) at the budget.
async fn wait_stored(telemetry: &mongodb::Collection<Document>, want: u64) -> Result<u64, u64> {
    let deadline = Instant::now() + STORE_BUDGET;
    loop {
        let stored = telemetry.estimated_document_count().await.unwrap_or(0);
        if stored >= want {
            return Ok(stored);
        }
        if Instant::now() >= deadline {
            return Err(stored);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Entries every node has appended to another node's stream.
async fn forwarded(http: &reqwest::Client, nodes: &[Node]) -> anyhow::Result<u64> {
    let mut total = 0.0;
    for node in nodes {
        total += series(&scrape(http, node).await?, "pettysync_forwarded_total", "");
    }
    Ok(total as u64)
}

/// Per bucket bound of `pettysync_actor_delay_seconds{path}` (seconds; `+Inf` as
/// infinity), the number of messages at most that late, summed over the nodes.
async fn delay_buckets(
    http: &reqwest::Client,
    nodes: &[Node],
    path: &str,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let label = format!("path=\"{path}\"");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for node in nodes {
        let metrics = scrape(http, node).await?;
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix("pettysync_actor_delay_seconds_bucket{") else {
                continue;
            };
            if !rest.contains(&label) {
                continue;
            }
            let bound = rest.split("le=\"").nth(1).and_then(|v| v.split('"').next());
            let bound = match bound {
                Some("+Inf") => f64::INFINITY,
                Some(v) => v.parse().unwrap_or(f64::NAN),
                None => continue,
            };
            let count: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            match buckets.iter_mut().find(|(b, _)| *b == bound) {
                Some((_, total)) => *total += count,
                None => buckets.push((bound, count)),
            }
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(buckets)
}

/// `after` minus `before`, bucket by bucket.
fn delta(after: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|&(bound, count)| {
            let was = before
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0.0, |(_, c)| *c);
            (bound, count - was)
        })
        .collect()
}

/// The bucket bound (ms) at or below which a share `q` of the entries fell; None when there
/// were none. A bucket's upper bound: the true quantile is at most this.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let (bound, _) = buckets.iter().find(|(_, count)| *count >= q * total)?;
    Some(bound * 1e3)
}
