//! The feed-read benchmark: `GET /v1/feed` p50/p90/p99/max under open-loop load, printed with
//! the load it ran at (target and achieved) and the machine. Run it with
//! `cargo bench --bench feed -- [--quick]` once `eval "$(scripts/services.sh up)"` has set the
//! services' environment.
//!
//! 1. The server runs in this process on fresh databases, its own Redis prefix and MQTT
//!    identity; U users register over HTTP, each follows [`FOLLOWS_EACH`] random others, and
//!    P published posts by random authors go straight into PostgreSQL with their outbox rows;
//!    the run waits until the fan-out worker has drained the outbox.
//! 2. Warm-up: every user reads their feed once, which builds their timeline.
//! 3. Open-loop windows at [`BASELINE_RATE`] then [`TARGET_RATE`] req/s, each request a random
//!    user's `GET /v1/feed?limit=20`, spaced evenly and timed from its *intended* start, so
//!    queueing shows in the figures (no coordinated omission).
//!
//! The load generator (two threads in this process) shares the CPUs with the server,
//! PostgreSQL and Redis; each one's CPU seconds are printed per window. Every phase has a
//! deadline; the run stops by itself within [`RUN_BUDGET`]. Without `--bench` (as
//! `cargo test --all-targets` runs it) the program only says how to run it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{stream, StreamExt, TryStreamExt};
use pettysync::config::{LogFormat, Settings};
use pettysync::startup::Application;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

/// The whole run stops by itself within this, whatever the server does.
const RUN_BUDGET: Duration = Duration::from_secs(8 * 60);
const SETUP_BUDGET: Duration = Duration::from_secs(180);
const DRAIN_BUDGET: Duration = Duration::from_secs(120);
const WARM_UP_BUDGET: Duration = Duration::from_secs(60);
/// A request not answered within this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a window waits for its last answers after its last request started.
const STRAGGLER_WAIT: Duration = Duration::from_secs(12);
const FOLLOWS_EACH: usize = 20;
const POSTS_PER_TX: usize = 500;
/// Seconds between consecutive posts' `published_at`, newest now.
const POST_SPACING_S: i64 = 10;
/// Keep-alive connections the client keeps; the warm-up opens this many.
const POOL_CONNECTIONS: usize = 64;
/// Requests in flight at most; a request that finds none free waits, and is counted.
const MAX_IN_FLIGHT: usize = 512;
/// Registrations and follows at once.
const SETUP_IN_FLIGHT: usize = 8;
/// A request that starts this long after its slot is counted as late.
const LATE_AFTER: Duration = Duration::from_millis(2);
const PAGE_LIMIT: u32 = 20;
const BASELINE_RATE: u32 = 500;
/// The target: p99 ≤ 5 ms at 2 000 req/s.
const TARGET_RATE: u32 = 2_000;
const TARGET_P99: Duration = Duration::from_millis(5);
/// Linux reports `/proc` CPU times in USER_HZ, which is 100 on every mainstream build.
const TICKS_PER_S: f64 = 100.0;
/// Threads of the load generator's runtime carry this name.
const LOAD_THREAD: &str = "bench-load";

#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    users: usize,
    posts: usize,
    window: Duration,
}

impl Plan {
    fn new(quick: bool) -> Self {
        let (users, posts, window) = if quick {
            (50, 1_000, 5)
        } else {
            (200, 5_000, 10)
        };
        Plan {
            quick,
            users,
            posts,
            window: Duration::from_secs(window),
        }
    }
}

struct Server {
    base: String,
    settings: Settings,
}

struct User {
    id: Uuid,
    token: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench programs without it.
    if !args.iter().any(|arg| arg == "--bench") {
        println!("feed: a benchmark; run it with `cargo bench --bench feed -- [--quick]`");
        return;
    }
    for arg in args.iter().filter(|a| *a != "--quick" && *a != "--bench") {
        eprintln!("feed: ignoring unknown argument {arg:?} (usage: feed [--quick])");
    }
    let plan = Plan::new(args.iter().any(|arg| arg == "--quick"));
    pettysync::telemetry::init_tracing("warn", LogFormat::Text);
    // The load generator and the set-up run on their own threads, never queued behind the
    // server's; the server runs on the actix System of this thread, as in `serve`.
    let load = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(LOAD_THREAD)
        .enable_all()
        .build()
    {
        Ok(load) => load,
        Err(error) => {
            eprintln!("feed: cannot start the load runtime: {error}");
            std::process::exit(1);
        }
    };
    let code = actix_web::rt::System::new().block_on(run(plan, load.handle().clone()));
    load.shutdown_timeout(Duration::from_secs(2));
    std::process::exit(code);
}

async fn run(plan: Plan, load: Handle) -> i32 {
    let started = Instant::now();
    let run_id = Uuid::new_v4().simple().to_string();
    println!(
        "feed read benchmark ({}): GET /v1/feed?limit={PAGE_LIMIT}, run {run_id}",
        if plan.quick { "quick" } else { "full" }
    );
    println!("machine: {}; load average {}", machine(), load_average());
    println!(
        "note: the load generator ({LOAD_THREAD} threads, in this process), the server (this \
         process), PostgreSQL and Redis all share these CPUs"
    );
    let server = match start_server(&run_id).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("feed: cannot start the server: {error:#}");
            return 1;
        }
    };
    let driver = load.spawn(tokio::time::timeout(
        RUN_BUDGET.saturating_sub(started.elapsed()),
        drive(plan, server, started),
    ));
    let failure = match driver.await {
        Ok(Ok(Ok(true))) => return 0,
        Ok(Ok(Ok(false))) => "some requests were not answered 200".to_owned(),
        Ok(Ok(Err(error))) => format!("the run failed: {error:#}"),
        Ok(Err(_)) => format!("the run did not finish within {RUN_BUDGET:?}"),
        Err(error) => format!("the run panicked: {error}"),
    };
    eprintln!("feed: {failure}");
    1
}

/// Starts the server on this thread with isolated databases, Redis prefix and MQTT identity.
async fn start_server(run_id: &str) -> anyhow::Result<Server> {
    let mut settings = Settings::load()
        .context("loading settings from PETTYSYNC_* (eval \"$(scripts/services.sh up)\")")?;
    let database = format!("pettysync_bench_feed_{run_id}");
    settings.http_addr = "127.0.0.1:0".to_owned();
    settings.database_url =
        SecretString::from(with_path(settings.database_url.expose_secret(), &database)?);
    settings.mongodb_url =
        SecretString::from(with_path(settings.mongodb_url.expose_secret(), &database)?);
    settings.redis_prefix = format!("pettysync:bench:feed:{run_id}:");
    let mut mqtt = url::Url::parse(settings.mqtt_url.expose_secret()).context("MQTT URL")?;
    let kept: Vec<(String, String)> = mqtt
        .query_pairs()
        .filter(|(key, _)| key != "client_id")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    mqtt.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("client_id", &format!("pettysync-bench-feed-{run_id}"));
    settings.mqtt_url = SecretString::from(mqtt.to_string());
    settings.mqtt_topic_prefix = format!("bench-feed/{run_id}");
    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    settings.jwt_secret = Some(SecretString::from(secret));
    // Every user registers from this one address: lift the per-address budget.
    settings.auth_attempts_per_minute = u32::MAX;
    settings.validate()?;
    pettysync::migrate::run(&settings)
        .await
        .context("migrating the bench databases")?;
    let application = Application::build(settings.clone())
        .await
        .context("building the server")?;
    let base = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(async move {
        if let Err(error) = application.run_until_stopped().await {
            eprintln!("feed: the server stopped: {error:#}");
        }
    });
    Ok(Server { base, settings })
}

fn with_path(raw: &str, database: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(raw).context("a store URL does not parse")?;
    url.set_path(&format!("/{database}"));
    Ok(url.to_string())
}

/// Set-up, warm-up and both windows; `Ok(false)` when a window had non-200 answers.
async fn drive(plan: Plan, server: Server, started: Instant) -> anyhow::Result<bool> {
    let say = |message: String| println!("[{:6.1} s] {message}", started.elapsed().as_secs_f64());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(POOL_CONNECTIONS)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let base = server.base.as_str();
    let mut rng = StdRng::seed_from_u64(0x00fe_edbe_9c41);

    let run = Uuid::new_v4().simple();
    let registered = stream::iter(0..plan.users)
        .map(|i| {
            let body = json!({"email": format!("feed-{i}-{run}@example.com"),
                "password": "correct horse battery staple", "display_name": format!("Bench {i}")});
            let url = format!("{base}/v1/auth/register");
            post(client.clone(), url, None, Some(body), 201)
        })
        .buffered(SETUP_IN_FLIGHT)
        .try_collect::<Vec<Value>>();
    let registered = tokio::time::timeout(SETUP_BUDGET, registered)
        .await
        .context("registering took too long")??;
    let users = registered
        .iter()
        .map(|auth| {
            let id = auth.pointer("/user/id").and_then(Value::as_str);
            let token = auth.pointer("/access_token").and_then(Value::as_str);
            match (id.and_then(|id| id.parse().ok()), token) {
                (Some(id), Some(token)) => Ok(User {
                    id,
                    token: token.to_owned(),
                }),
                _ => bail!("register answered without an id or token: {auth}"),
            }
        })
        .collect::<anyhow::Result<Vec<User>>>()?;
    let mut follows = Vec::with_capacity(users.len() * FOLLOWS_EACH);
    for (i, user) in users.iter().enumerate() {
        let mut others: Vec<usize> = (0..users.len()).filter(|&j| j != i).collect();
        others.shuffle(&mut rng);
        for &j in others.iter().take(FOLLOWS_EACH) {
            follows.push((user.token.clone(), users[j].id));
        }
    }
    let follow_count = follows.len();
    let follows = stream::iter(follows)
        .map(|(token, followee)| {
            let url = format!("{base}/v1/users/{followee}/follow");
            post(client.clone(), url, Some(token), None, 204)
        })
        .buffer_unordered(SETUP_IN_FLIGHT)
        .try_collect::<Vec<Value>>();
    tokio::time::timeout(SETUP_BUDGET, follows)
        .await
        .context("following took too long")??;
    say(format!(
        "{} users registered, {follow_count} follows ({FOLLOWS_EACH} each)",
        users.len()
    ));

    let pg = PgPoolOptions::new()
        .max_connections(2)
        .connect(server.settings.database_url.expose_secret())
        .await
        .context("connecting to the bench database")?;
    let authors: Vec<Uuid> = (0..plan.posts)
        .map(|_| users[rng.gen_range(0..users.len())].id)
        .collect();
    insert_posts(&pg, &authors).await?;
    let drain_started = Instant::now();
    wait_drained(&pg).await?;
    say(format!(
        "{} published posts inserted ({POSTS_PER_TX} per transaction); outbox drained in {:.1} s",
        plan.posts,
        drain_started.elapsed().as_secs_f64()
    ));
    pg.close().await;

    let warm = Instant::now();
    let tokens: Vec<String> = users.iter().map(|user| user.token.clone()).collect();
    let reads = stream::iter(tokens)
        .map(|token| {
            let (client, base) = (client.clone(), base.to_owned());
            async move { read_feed(&client, &base, &token).await }
        })
        .buffer_unordered(POOL_CONNECTIONS)
        .collect::<Vec<u16>>();
    let statuses = tokio::time::timeout(WARM_UP_BUDGET, reads)
        .await
        .context("the warm-up took too long")?;
    let bad = statuses.iter().filter(|&&s| s != 200).count();
    if bad > 0 {
        bail!("{bad} of {} warm-up reads were not 200", statuses.len());
    }
    say(format!(
        "warm-up: {} feeds read (timelines built) in {:.2} s, up to {POOL_CONNECTIONS} at once",
        users.len(),
        warm.elapsed().as_secs_f64()
    ));

    let mut all_ok = true;
    let mut last = None;
    for rate in [BASELINE_RATE, TARGET_RATE] {
        say(format!(
            "window: {rate} req/s for {} s, open loop",
            plan.window.as_secs()
        ));
        let window = load_window(&client, base, &users, rate, plan.window, &mut rng).await;
        all_ok &= window.errors == 0;
        last = Some(window);
    }
    if let Some(window) = last {
        let p99 = window.p99;
        let met = window.errors == 0 && p99.is_some_and(|p| p <= TARGET_P99);
        println!(
            "target: p99 ≤ {} ms at {TARGET_RATE} req/s → {} (p99 {} at {:.0} req/s achieved, \
             {} errors{})",
            TARGET_P99.as_millis(),
            if met { "MET" } else { "MISSED" },
            p99.map_or("n/a".to_owned(), ms),
            window.achieved,
            window.errors,
            if plan.quick { "; quick run" } else { "" }
        );
    }
    Ok(all_ok)
}

/// POSTs to `url` (with a bearer token and a JSON body when given) and checks the status;
/// returns the JSON answer (null when there is none).
async fn post(
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    body: Option<Value>,
    want: u16,
) -> anyhow::Result<Value> {
    let mut request = client.post(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    if status != want {
        bail!("POST {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Published posts by `authors` (one each, `published_at` spaced back from now), with their
/// outbox rows, as the publish path writes them.
async fn insert_posts(pg: &PgPool, authors: &[Uuid]) -> anyhow::Result<()> {
    let now = Utc::now();
    for (chunk_no, chunk) in authors.chunks(POSTS_PER_TX).enumerate() {
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::new_v4()).collect();
        let keys: Vec<String> = chunk
            .iter()
            .zip(&ids)
            .map(|(author, post)| format!("media/{author}/{post}.jpg"))
            .collect();
        let at: Vec<DateTime<Utc>> = (0..chunk.len())
            .map(|k| {
                let age = (authors.len() - chunk_no * POSTS_PER_TX - k) as i64 * POST_SPACING_S;
                now - TimeDelta::seconds(age)
            })
            .collect();
        let mut tx = pg.begin().await?;
        sqlx::query(
            "INSERT INTO posts (id, author_id, caption, media_key, media_content_type,
                                media_size_bytes, status, published_at)
             SELECT id, author, 'a walk in the park', key, 'image/jpeg', 1000, 'published', at
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[])
                  AS t(id, author, key, at)",
        )
        .bind(&ids)
        .bind(chunk)
        .bind(&keys)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .context("inserting posts")?;
        sqlx::query(
            "INSERT INTO feed_outbox (post_id, author_id)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[])",
        )
        .bind(&ids)
        .bind(chunk)
        .execute(&mut *tx)
        .await
        .context("inserting outbox rows")?;
        tx.commit().await?;
    }
    Ok(())
}

async fn wait_drained(pg: &PgPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + DRAIN_BUDGET;
    loop {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM feed_outbox WHERE processed_at IS NULL")
                .fetch_one(pg)
                .await?;
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{pending} outbox rows still pending after {DRAIN_BUDGET:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One feed read, its body read in full; the status, or 0 for a transport error or timeout.
async fn read_feed(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    let sent = client
        .get(format!("{base}/v1/feed?limit={PAGE_LIMIT}"))
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

/// What the verdict needs from a window.
struct Outcome {
    achieved: f64,
    p99: Option<Duration>,
    errors: usize,
}

/// Requests at `rate` for `length`, evenly spaced, each timed from its intended start; prints
/// the window's figures.
async fn load_window(
    client: &reqwest::Client,
    base: &str,
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
        let (client, base, tx) = (client.clone(), base.to_owned(), tx.clone());
        tokio::spawn(async move {
            let status = read_feed(&client, &base, &token).await;
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
    let percentile = |p: f64| {
        let rank = (p * latencies.len() as f64).ceil() as usize;
        latencies.get(rank.max(1) - 1).copied()
    };
    let show = |p| percentile(p).map_or("n/a".to_owned(), ms);
    let answered = latencies.len();
    let outcome = Outcome {
        achieved: started as f64 / dispatch.as_secs_f64(),
        p99: percentile(0.99),
        errors: planned - codes.get(&200).copied().unwrap_or(0),
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
    let [server, load, postgres, redis, busy] = cpu.1;
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
    let per = |s: f64| 1000.0 * s / answered.max(1) as f64;
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

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// CPU ticks now: this process's server threads and load-generator threads, PostgreSQL's and
/// Redis's processes, and the whole machine's busy time.
fn cpu_sample() -> (Instant, [u64; 5]) {
    let mut ticks = [0; 5];
    for task in list_dir("/proc/self/task") {
        if let Some((comm, t)) = read_stat(&format!("/proc/self/task/{task}/stat")) {
            ticks[usize::from(comm.starts_with(LOAD_THREAD))] += t;
        }
    }
    for pid in list_dir("/proc").filter(|name| name.bytes().all(|b| b.is_ascii_digit())) {
        match read_stat(&format!("/proc/{pid}/stat")) {
            Some((comm, t)) if comm.starts_with("postgres") => ticks[2] += t,
            Some((comm, t)) if comm.starts_with("redis-server") => ticks[3] += t,
            _ => {}
        }
    }
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    ticks[4] = fields.iter().take(8).sum::<u64>().saturating_sub(idle);
    (Instant::now(), ticks)
}

/// Wall time and CPU seconds since `before`, in [`cpu_sample`]'s order.
fn cpu_since(before: &(Instant, [u64; 5])) -> (Duration, [f64; 5]) {
    let now = cpu_sample();
    let seconds =
        std::array::from_fn(|i| now.1[i].saturating_sub(before.1[i]) as f64 / TICKS_PER_S);
    (now.0.duration_since(before.0), seconds)
}

fn list_dir(path: &str) -> impl Iterator<Item = String> {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
}

/// The command name and CPU ticks of a `/proc/.../stat` file: utime + stime, plus the
/// reaped children's (so PostgreSQL backends that exit stay counted, in the postmaster's).
fn read_stat(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the command: state is field 3; utime, stime, cutime, cstime are fields 14 to 17.
    let ticks = fields.get(11..15)?.iter().map(|f| f.parse::<u64>().ok());
    Some((comm, ticks.sum::<Option<u64>>()?))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    format!(
        "{} CPUs (nproc), {model}, {:.1} GiB RAM",
        cores(),
        mem_kib / 1_048_576.0
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
