//! One open-loop window: requests at a fixed rate, each timed from its intended start (no
//! coordinated omission), and its figures: load reached, latency, statuses, the generator's
//! own lag, CPU per part and per request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;
use tokio::sync::{mpsc, Semaphore};

use crate::cpu::{cpu_sample, cpu_since};
use crate::support::host::cores;
use crate::support::stats::percentile;
use crate::{User, PAGE_LIMIT, POOL_CONNECTIONS};

/// How long a window waits for its last answers after its last request started.
const STRAGGLER_WAIT: Duration = Duration::from_secs(12);

/// Requests in flight at most; a request that finds none free waits, and is counted.
const MAX_IN_FLIGHT: usize = 512;

/// A request that starts this long after its slot is counted as late.
const LATE_AFTER: Duration = Duration::from_millis(2);

/// The feed page every request reads.
pub(crate) fn feed_path() -> String {
    format!("/v1/feed?limit={PAGE_LIMIT}")
}

/// One feed read, its body read in full; the status, or 0 for a transport error or timeout.
pub(crate) async fn read_feed(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    read_path(client, base, &feed_path(), token).await
}

/// One GET of `path` (the feed, or `/healthz` as the HTTP stack's baseline), its body read in
/// full; the status, or 0 for a transport error or timeout.
async fn read_path(client: &reqwest::Client, base: &str, path: &str, token: &str) -> u16 {
    let sent = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            response.bytes().await.map_or(0, |_| status)
        }
        Err(_) => 0,
    }
}

/// What the verdict and the run summary need from a window.
pub(crate) struct Outcome {
    pub(crate) achieved: f64,
    pub(crate) p50: Option<Duration>,
    pub(crate) p99: Option<Duration>,
    pub(crate) errors: usize,
    /// CPU seconds per answered request: the server's threads, PostgreSQL, Redis.
    pub(crate) server_per_request: f64,
    pub(crate) postgres_per_request: f64,
    pub(crate) redis_per_request: f64,
}

/// Requests at `rate` for `length`, evenly spaced, each timed from its intended start; prints
/// the window's figures.
pub(crate) async fn load_window(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    users: &[User],
    rate: u32,
    length: Duration,
    rng: &mut StdRng,
) -> Outcome {
    let planned = (f64::from(rate) * length.as_secs_f64()).round() as usize;
    let slots = std::sync::Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cpu_before = cpu_sample();
    let start = Instant::now() + Duration::from_millis(20);
    // A stalled server makes the generator give up on the rest of the window at this point.
    let give_up = start + length + STRAGGLER_WAIT;
    let (mut started, mut late, mut waited, mut max_lag) = (0, 0, 0, Duration::ZERO);
    for i in 0..planned {
        let intended = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        if intended > Instant::now() {
            tokio::time::sleep_until(intended.into()).await;
        }
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                waited += 1;
                let acquire = slots.clone().acquire_owned();
                match tokio::time::timeout_at(give_up.into(), acquire).await {
                    Ok(Ok(permit)) => permit,
                    _ => break,
                }
            }
        };
        let lag = intended.elapsed();
        late += usize::from(lag > LATE_AFTER);
        max_lag = max_lag.max(lag);
        let token = users[rng.gen_range(0..users.len())].token.clone();
        let (client, base, path, tx) =
            (client.clone(), base.to_owned(), path.to_owned(), tx.clone());
        tokio::spawn(async move {
            let status = read_path(&client, &base, &path, &token).await;
            let _ = tx.send((intended.elapsed(), status, Instant::now()));
            drop(permit);
        });
        started += 1;
    }
    let dispatch = start.elapsed();
    drop(tx);
    let (mut latencies, mut codes, mut last_answer) = (Vec::new(), BTreeMap::new(), start);
    let collect_until = Instant::now() + STRAGGLER_WAIT;
    while let Ok(Some((latency, status, at))) =
        tokio::time::timeout_at(collect_until.into(), rx.recv()).await
    {
        latencies.push(latency);
        *codes.entry(status).or_insert(0usize) += 1;
        last_answer = last_answer.max(at);
    }
    let cpu = cpu_since(&cpu_before);
    latencies.sort_unstable();
    let show = |p| percentile(&latencies, p).map_or("n/a".to_owned(), ms);
    let answered = latencies.len();
    let [server, load, postgres, redis, busy] = cpu.1;
    let per_request = |s: f64| s / answered.max(1) as f64;
    let outcome = Outcome {
        achieved: started as f64 / dispatch.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        errors: planned - codes.get(&200).copied().unwrap_or(0),
        server_per_request: per_request(server),
        postgres_per_request: per_request(postgres),
        redis_per_request: per_request(redis),
    };
    println!(
        "  load: target {rate} req/s; started {started}/{planned} requests in {:.2} s = {:.1} \
         req/s achieved; {answered} answered, {:.1} answers/s until the last one",
        dispatch.as_secs_f64(),
        outcome.achieved,
        answered as f64 / last_answer.duration_since(start).as_secs_f64().max(1e-9),
    );
    println!(
        "  latency from intended start: p50 {}  p90 {}  p99 {}  max {}",
        show(0.5),
        show(0.9),
        show(0.99),
        show(1.0)
    );
    let codes: Vec<String> = codes
        .iter()
        .map(|(code, n)| match code {
            0 => format!("transport error/timeout × {n}"),
            code => format!("{code} × {n}"),
        })
        .collect();
    println!(
        "  status: {}; errors (not 200, or never started/answered): {}",
        codes.join(", "),
        outcome.errors
    );
    println!(
        "  generator: {late} started > {} ms after their slot (max lag {}), {waited} waited for \
         one of {MAX_IN_FLIGHT} in-flight slots; pool of {POOL_CONNECTIONS} keep-alive connections",
        LATE_AFTER.as_millis(),
        ms(max_lag),
    );
    let wall = cpu.0.as_secs_f64();
    let capacity = wall * cores() as f64;
    let others = (busy - server - load - postgres - redis).max(0.0);
    println!(
        "  CPU over {wall:.1} s ({capacity:.1} CPU-s on {} CPUs): bench process {:.2} s (server \
         threads {server:.2}, load generator {load:.2}), PostgreSQL {postgres:.2} (all backends), \
         Redis {redis:.2}, the rest (other processes, kernel) {others:.2}; machine busy {busy:.2} s ({:.0}%)",
        cores(),
        server + load,
        100.0 * busy / capacity.max(1e-9)
    );
    let per = |s: f64| 1000.0 * per_request(s);
    println!(
        "  CPU per answered request: server {:.2} ms, PostgreSQL {:.2} ms, Redis {:.2} ms, \
         load generator {:.2} ms",
        per(server),
        per(postgres),
        per(redis),
        per(load)
    );
    outcome
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
