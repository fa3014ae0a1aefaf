//! The real-time benchmark: drives the real server through a real broker and prints, in one
//! run, the broker's own QoS 1 drain rate (the baseline), the server's sustained end-to-end
//! ingest rate and its ratio to the baseline, the latency from a collar's publish to the
//! `state` frame on a WebSocket with many sessions open, and the memory of an idle collar
//! actor — and, for each phase, where the CPU went.
//!
//! Run it with `scripts/bench.sh [--quick]` (starts the services, raises the open-file limit)
//! or with `cargo bench --bench realtime -- [--quick]` when the services' environment is set.
//!
//! One run:
//! 0. a private Mosquitto on a free loopback port, its config in a temp dir, killed at the end;
//!    it is restarted before phases 3, 4 and 5, so a phase never inherits what an earlier,
//!    overloaded one left queued or unacknowledged at the broker;
//! 1. baseline: P rumqttc publishers → broker → one rumqttc subscriber, all QoS 1;
//! 2. the server, in this process, against fresh PostgreSQL and MongoDB databases, a Redis
//!    key prefix and a topic prefix of its own; one owner, C pets, each with a paired collar
//!    and a safe circle fence (so every fix is checked against a fence);
//! 3. cold start (every collar's first sample starts its actor), then ingest: N samples as
//!    fast as the publishers go, timed until MongoDB holds all N; then the two MongoDB calls
//!    of a persistence batch, timed alone;
//! 4. latency: S WebSockets, then a window at half the ingest rate (when that is below R) and
//!    one at R samples/s; each `state` frame is matched to its sample by pet and `last_seen`
//!    (= the sample's `ts`, unique per collar). The sockets live in a child process of this
//!    program (`--ws-clients`), one local task each, so their ends do not share this
//!    process's open-file limit with the server's ends; both processes stamp times with the
//!    same system clock;
//! 5. memory: K more collars (provisioned, not paired) send one sample each, in two halves;
//!    the growth of this process's RSS per new actor is the cost of an idle collar actor.
//!
//! Every phase has a deadline, and the run as a whole stops within [`RUN_BUDGET`]. Without
//! `--bench` (as `cargo test --all-targets` runs it) the program only says how to run it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use awc::error::WsProtocolError;
use awc::ws::{Frame, Message};
use futures_util::{stream, FutureExt, Sink, SinkExt, Stream, StreamExt};
use mongodb::bson::{doc, Document};
use pettysync::config::{LogFormat, Settings};
use pettysync::ids::CollarSerial;
use pettysync::startup::Application;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use uuid::Uuid;

/// The whole run stops by itself within this, whatever the server does.
const RUN_BUDGET: Duration = Duration::from_secs(9 * 60 + 30);
const BROKER_START: Duration = Duration::from_secs(10);
const BASELINE_BUDGET: Duration = Duration::from_secs(60);
const SERVER_READY_BUDGET: Duration = Duration::from_secs(30);
const SETUP_BUDGET: Duration = Duration::from_secs(150);
const INGEST_BUDGET: Duration = Duration::from_secs(150);
const SESSIONS_BUDGET: Duration = Duration::from_secs(120);
const MEMORY_BUDGET: Duration = Duration::from_secs(120);
/// How long a broker restart may take, until the server has re-subscribed.
const BROKER_SWAP_BUDGET: Duration = Duration::from_secs(30);
/// How long the collars' first samples (cold actors) may take.
const WARM_UP_BUDGET: Duration = Duration::from_secs(150);
/// Time at the keep-alive rate between opening the sessions and the first window.
const SESSION_SETTLE: Duration = Duration::from_secs(3);
/// How often ingest progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How long the server may take to store the latency phase's backlog.
const DRAIN_BUDGET: Duration = Duration::from_secs(120);
/// How long a phase waits for its publisher tasks to hand their collars back.
const JOIN_WAIT: Duration = Duration::from_secs(15);
/// How long the WebSocket child may take to report what it received.
const REPORT_WAIT: Duration = Duration::from_secs(60);

/// Publisher connections (collars are dealt out over them).
const PUBLISHERS: usize = 4;
/// The baseline's message size: a typical sample is 120 to 190 bytes.
const BASELINE_BYTES: usize = 180;
/// QoS 1 messages a bench publisher has in flight (rumqttc's default is 100).
const PUBLISHER_INFLIGHT: u16 = 1000;
/// Set-up requests (pet, collar, pairing, fence) and provisionings at once.
const SETUP_IN_FLIGHT: usize = 16;
/// WebSocket handshakes (+ subscribe) at once.
const WS_IN_FLIGHT: usize = 200;
/// How long one handshake, `hello` or subscribe answer may take.
const WS_STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the MongoDB sample count is read while ingest runs.
const COUNT_POLL: Duration = Duration::from_millis(100);
/// Radius of each pet's safe circle fence; collars walk within [`WALK_RADIUS_M`] of its centre.
const FENCE_RADIUS_M: f64 = 500.0;
const WALK_RADIUS_M: f64 = 150.0;
const METRES_PER_DEGREE: f64 = 111_195.0;
/// A watched pet's collar is called offline after 3 × 3 s of silence, and an offline alert
/// goes to every session of the owner: while sessions are open every collar reports at
/// least this often, so no alert storm skews the latency.
const KEEPALIVE_EVERY_S: f64 = 2.0;
/// Seconds at the target rate before latencies are recorded.
const WARM_UP: Duration = Duration::from_secs(1);
/// How long frames of the window's last samples are waited for.
const STRAGGLERS: Duration = Duration::from_secs(3);
/// Live mode ends this long after the last watcher leaves (the default is 30 s); the bench
/// keeps the collars reporting until then, then lets them fall back to their normal interval.
const LIVE_GRACE_S: u64 = 2;
/// Pacing tick of the latency publishers, and the most credit a stalled one may catch up.
const PACE_TICK: Duration = Duration::from_millis(1);
const MAX_CATCH_UP_S: f64 = 0.05;
/// Bounds on what the latency phase keeps in memory.
const MAX_SENT: usize = 2_000_000;
const MAX_RECORDS: usize = 5_000_000;
/// The MongoDB probe: `insert_many` calls of this many sample documents.
const PROBE_BATCHES: usize = 5;
const PROBE_BATCH_DOCS: usize = 1000;
/// The extra latency window runs at this share of the measured ingest rate.
const SUSTAINABLE_SHARE: f64 = 0.5;
/// Waits before reading RSS, so in-flight work (snapshots, inserts) has settled.
const MEMORY_SETTLE: Duration = Duration::from_secs(2);
/// The targets of the issue.
const TARGET_INGEST_RATIO: f64 = 0.5;
const TARGET_P99: Duration = Duration::from_millis(20);
const TARGET_RATE: u32 = 5_000;
const TARGET_SESSIONS: usize = 10_000;
const TARGET_ACTOR_BYTES: f64 = 2048.0;
/// The argument that turns this program into the WebSocket client process.
const WS_CLIENTS_FLAG: &str = "--ws-clients";

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    /// N: samples of the baseline and of the ingest phase.
    messages: usize,
    /// C: pets, each with a paired collar and a fence.
    pets: usize,
    /// S: WebSocket sessions, each subscribed to one pet (round robin).
    sessions: usize,
    /// R: samples per second during the latency window.
    rate: u32,
    window: Duration,
    /// K: extra idle collars for the memory figure.
    idle_collars: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Plan {
                quick,
                messages: 20_000,
                pets: 200,
                sessions: 1_000,
                rate: TARGET_RATE,
                window: Duration::from_secs(5),
                idle_collars: 2_000,
            }
        } else {
            Plan {
                quick,
                messages: 100_000,
                pets: 1_000,
                sessions: TARGET_SESSIONS,
                rate: TARGET_RATE,
                window: Duration::from_secs(10),
                idle_collars: 10_000,
            }
        }
    }
}

/// Elapsed time for progress lines, and what is left of the run's budget.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    end: Instant,
}

impl Clock {
    fn start() -> Self {
        let start = Instant::now();
        Clock {
            start,
            end: start + RUN_BUDGET,
        }
    }

    /// `want`, or less when the run's budget runs out first.
    fn budget(&self, want: Duration) -> Duration {
        want.min(self.end.saturating_duration_since(Instant::now()))
    }

    fn say(&self, message: impl Display) {
        println!("[{:6.1} s] {message}", self.start.elapsed().as_secs_f64());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == WS_CLIENTS_FLAG) {
        std::process::exit(ws_clients_main());
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench programs without
    // it, and a benchmark has no place in a test run.
    if !args.iter().any(|arg| arg == "--bench") {
        println!(
            "realtime: a benchmark; run it with scripts/bench.sh or `cargo bench --bench realtime`"
        );
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    for arg in &args {
        // Cargo passes `--bench` to every bench program.
        if arg != "--quick" && arg != "--bench" {
            eprintln!("realtime: ignoring unknown argument {arg:?} (usage: realtime [--quick])");
        }
    }
    // Warnings only: at info the server logs every provisioning and alert. Persistence warns
    // once per acknowledgement it could not queue, tens of thousands of lines under overload;
    // the bench prints that counter (and the write-failure one) instead.
    pettysync::telemetry::init_tracing(
        "warn,pettysync::actors::persistence=error",
        LogFormat::Text,
    );
    // The load generator (publishers, HTTP set-up, MongoDB polls) runs on its own threads, so
    // it never queues behind the server's main thread (MQTT loop, pipeline, persistence).
    let load = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-load")
        .enable_all()
        .build()
    {
        Ok(load) => load,
        Err(error) => {
            eprintln!("realtime: cannot start the load runtime: {error}");
            std::process::exit(1);
        }
    };
    let code = actix_web::rt::System::new().block_on(run(Plan::new(quick), load.handle().clone()));
    load.shutdown_timeout(Duration::from_secs(2));
    std::process::exit(code);
}

/// Runs every phase; the server runs on this (the actix System's) thread, as in `serve`.
async fn run(plan: Plan, load: Handle) -> i32 {
    let clock = Clock::start();
    let run_id = Uuid::new_v4().simple().to_string();
    print_header(&plan, &run_id);
    let broker = match Broker::start() {
        Ok(broker) => broker,
        Err(error) => {
            println!("cannot start the private broker: {error:#}");
            return 1;
        }
    };
    clock.say(format!(
        "private Mosquitto on 127.0.0.1:{} (pid {}), config {}",
        broker.port,
        broker.child.id(),
        broker.dir.join("mosquitto.conf").display()
    ));

    let mut summary = Summary::new(plan);
    let port = broker.port;
    let baseline_run = load.spawn(baseline(port, plan, clock));
    match baseline_run.await {
        Ok(Ok(figure)) => summary.baseline = Some(figure),
        Ok(Err(error)) => summary.fail(format!("baseline: {error:#}")),
        Err(error) => summary.fail(format!("baseline: {error}")),
    }

    match start_server(&run_id, port).await {
        Ok(server) => {
            clock.say(format!(
                "server on {} (topic prefix {}, databases {})",
                server.base, server.prefix, server.database
            ));
            let context = Ctx {
                plan,
                clock,
                server,
                broker_port: port,
                broker: std::sync::Mutex::new(broker),
            };
            match load.spawn(measure(context, summary)).await {
                Ok(done) => summary = done,
                Err(error) => {
                    summary = Summary::new(plan);
                    summary.fail(format!("the measuring task failed: {error}"));
                }
            }
        }
        Err(error) => {
            summary.fail(format!("server: {error:#}"));
            drop(broker);
        }
    }
    summary.print();
    0
}

fn print_header(plan: &Plan, run_id: &str) {
    println!(
        "PettySync real-time benchmark ({})",
        if plan.quick { "quick" } else { "full" }
    );
    println!("  machine: {}", machine());
    println!("  load average at start: {}", load_average());
    println!(
        "  plan: N = {} messages, P = {PUBLISHERS} publishers, C = {} pets, S = {} sessions, \
         R = {} msg/s for {} s, K = {} idle collars; run {run_id}",
        grouped(plan.messages as u64),
        grouped(plan.pets as u64),
        grouped(plan.sessions as u64),
        grouped(u64::from(plan.rate)),
        plan.window.as_secs(),
        grouped(plan.idle_collars as u64),
    );
    if let Some(limit) = open_file_limit() {
        if limit < plan.sessions as u64 + 1_000 {
            println!(
                "  warning: the open-file limit is {limit}; {} sessions need more (scripts/bench.sh raises it)",
                plan.sessions
            );
        }
    }
}

// ------------------------------------------------------------------- the private broker

/// A Mosquitto of the bench's own, on a free loopback port; killed when dropped.
struct Broker {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Broker {
    fn start() -> anyhow::Result<Broker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("pettysync-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        // max_inflight_messages: the default 20 lets the broker send the server only 20 QoS 1
        // messages per acknowledgement round trip; the server acknowledges after its MongoDB
        // write, so the window bounds its batches. (Mosquitto 2.0.11 holds a client that never
        // acknowledges to it, but one that acknowledges in bursts gets many more: then the
        // server's persistence buffer bounds what is unacknowledged.) max_queued_messages: the
        // default 1000 drops messages while a subscriber is behind. set_tcp_nodelay: no Nagle
        // delay on small frames.
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 1000\n\
                 max_queued_messages 1000000\npersistence false\nset_tcp_nodelay true\n"
            ),
        )?;
        let child = Self::spawn(&dir)?;
        let mut broker = Broker { child, dir, port };
        broker.wait_listening()?;
        Ok(broker)
    }

    fn spawn(dir: &std::path::Path) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("mosquitto.log"))?;
        Command::new(mosquitto_binary())
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting mosquitto (scripts/services.sh up installs it)")
    }

    fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + BROKER_START;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log =
                    std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
                bail!("mosquitto exited with {status}: {log}");
            }
            if Instant::now() >= deadline {
                bail!(
                    "mosquitto did not listen on port {} within {BROKER_START:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the broker by a new one on the same port: no sessions, nothing in flight.
    fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.dir)?;
        self.wait_listening()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mosquitto_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("mosquitto"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/mosquitto"))
}

// ------------------------------------------------------------------------ MQTT clients

/// A QoS 1 publisher connection and its count of PUBACKs.
struct Publisher {
    client: AsyncClient,
    acked: Arc<AtomicU64>,
    /// CONNACKs so far: it grows when the client reconnects to a restarted broker.
    connacks: Arc<AtomicU64>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

fn client_options(client_id: String, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_inflight(PUBLISHER_INFLIGHT)
        .set_max_packet_size(64 * 1024, 64 * 1024);
    options
}

/// Connects and waits for the broker's CONNACK.
async fn publisher(port: u16, client_id: String) -> anyhow::Result<Publisher> {
    let (client, mut event_loop) = AsyncClient::new(client_options(client_id, port), 1000);
    let acked = Arc::new(AtomicU64::new(0));
    let connacks = Arc::new(AtomicU64::new(0));
    let (up_tx, up_rx) = oneshot::channel();
    let driver = tokio::spawn({
        let (acked, connacks) = (Arc::clone(&acked), Arc::clone(&connacks));
        async move {
            let mut up = Some(up_tx);
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connacks.fetch_add(1, Ordering::Relaxed);
                        if let Some(up) = up.take() {
                            let _ = up.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    // rumqttc reconnects on the next poll; the phase's deadline bounds the wait.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    });
    let publisher = Publisher {
        client,
        acked,
        connacks,
        driver,
    };
    tokio::time::timeout(Duration::from_secs(10), up_rx)
        .await
        .context("no CONNACK from the broker within 10 s")?
        .context("the MQTT event loop stopped")?;
    Ok(publisher)
}

async fn publishers(port: u16, name: &str) -> anyhow::Result<Vec<Publisher>> {
    let mut connected = Vec::with_capacity(PUBLISHERS);
    for p in 0..PUBLISHERS {
        connected.push(publisher(port, format!("{name}-{p}")).await?);
    }
    Ok(connected)
}

// -------------------------------------------------------------------------- 1. baseline

#[derive(Debug, Clone, Copy)]
struct BaselineFigure {
    rate: f64,
    received: u64,
    elapsed: Duration,
    complete: bool,
}

/// P publishers → broker → one subscriber, QoS 1 both ways: the broker's own drain rate.
async fn baseline(port: u16, plan: Plan, clock: Clock) -> anyhow::Result<BaselineFigure> {
    let n = plan.messages as u64;
    let id = Uuid::new_v4().simple().to_string();
    let mut options = client_options(format!("bench-baseline-sub-{id}"), port);
    options.set_inflight(PUBLISHER_INFLIGHT);
    let (subscriber, mut event_loop) = AsyncClient::new(options, 100);
    let received = Arc::new(AtomicU64::new(0));
    let (subscribed_tx, subscribed_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel::<Instant>();
    let driver = tokio::spawn({
        let received = Arc::clone(&received);
        async move {
            let (mut subscribed, mut done) = (Some(subscribed_tx), Some(done_tx));
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(_))) => {
                        if received.fetch_add(1, Ordering::Relaxed) + 1 == n {
                            if let Some(tx) = done.take() {
                                let _ = tx.send(Instant::now());
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    });
    let result = async {
        subscriber
            .subscribe("bench/baseline/#", QoS::AtLeastOnce)
            .await?;
        tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
            .await
            .context("no SUBACK within 10 s")??;
        let publishers = publishers(port, &format!("bench-baseline-pub-{id}")).await?;
        let payload = baseline_payload();
        clock.say(format!(
            "baseline: {} messages of {} bytes, QoS 1, {PUBLISHERS} publishers → broker → 1 subscriber",
            grouped(n),
            payload.len()
        ));
        let started = Instant::now();
        let tasks: Vec<_> = publishers
            .iter()
            .enumerate()
            .map(|(p, publisher)| {
                let (client, payload) = (publisher.client.clone(), payload.clone());
                let share = share_of(plan.messages, p);
                let topic = format!("bench/baseline/{p}");
                tokio::spawn(async move {
                    for _ in 0..share {
                        client
                            .publish(topic.clone(), QoS::AtLeastOnce, false, payload.clone())
                            .await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        let budget = clock.budget(BASELINE_BUDGET);
        let figure = match tokio::time::timeout(budget, done_rx).await {
            Ok(Ok(finished)) => {
                let elapsed = finished.duration_since(started);
                BaselineFigure {
                    rate: n as f64 / elapsed.as_secs_f64(),
                    received: n,
                    elapsed,
                    complete: true,
                }
            }
            _ => {
                let elapsed = started.elapsed();
                let got = received.load(Ordering::Relaxed);
                BaselineFigure {
                    rate: got as f64 / elapsed.as_secs_f64(),
                    received: got,
                    elapsed,
                    complete: false,
                }
            }
        };
        for task in tasks {
            task.abort();
        }
        let _ = subscriber.disconnect().await;
        anyhow::Ok(figure)
    }
    .await;
    driver.abort();
    let figure = result?;
    if figure.complete {
        clock.say(format!(
            "baseline: all {} received in {:.2} s → {} msg/s",
            grouped(figure.received),
            figure.elapsed.as_secs_f64(),
            grouped(figure.rate as u64)
        ));
    } else {
        clock.say(format!(
            "baseline: timed out: {} of {} received in {:.1} s",
            grouped(figure.received),
            grouped(n),
            figure.elapsed.as_secs_f64()
        ));
    }
    Ok(figure)
}

/// 180 bytes shaped like a sample.
fn baseline_payload() -> Vec<u8> {
    let head = r#"{"v":1,"seq":48213,"ts":1764151500000,"lat":13.756331,"lon":100.501762,"acc":6.5,"hr":96,"steps":41,"act":"walk","bat":83,"temp":38.6,"pad":""#;
    let mut payload = head.as_bytes().to_vec();
    payload.resize(BASELINE_BYTES - 2, b'x');
    payload.extend_from_slice(b"\"}");
    payload
}

/// This publisher's part of `total`.
fn share_of(total: usize, publisher: usize) -> usize {
    total / PUBLISHERS + usize::from(publisher < total % PUBLISHERS)
}

// ---------------------------------------------------------------------------- 2. server

/// The server under test and how to reach it.
#[derive(Clone)]
struct ServerInfo {
    base: String,
    settings: Settings,
    admin_token: String,
    prefix: String,
    database: String,
}

/// What the measuring task needs.
struct Ctx {
    plan: Plan,
    clock: Clock,
    server: ServerInfo,
    broker_port: u16,
    /// The private broker, restarted before each phase; killed when the context is dropped.
    broker: std::sync::Mutex<Broker>,
}

impl Ctx {
    /// Processes whose CPU time is shown beside this one's threads.
    fn watched(&self) -> Vec<(&'static str, u32)> {
        let broker = self.broker.lock().map_or(0, |broker| broker.child.id());
        vec![("broker: private Mosquitto", broker)]
    }
}

/// Starts the server on this thread with isolated databases, prefix and MQTT identity.
async fn start_server(run_id: &str, broker_port: u16) -> anyhow::Result<ServerInfo> {
    let mut settings = Settings::load()
        .context("loading settings from PETTYSYNC_* (scripts/bench.sh sets them)")?;
    let database = format!("pettysync_bench_{run_id}");
    let admin_token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let jwt_secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    settings.http_addr = "127.0.0.1:0".to_owned();
    settings.database_url = SecretString::from(with_database(
        settings.database_url.expose_secret(),
        &database,
    )?);
    settings.mongodb_url = SecretString::from(with_database(
        settings.mongodb_url.expose_secret(),
        &database,
    )?);
    settings.redis_prefix = format!("pettysync:bench:{run_id}:");
    settings.mqtt_url = SecretString::from(format!(
        "mqtt://127.0.0.1:{broker_port}?client_id=pettysync-bench-{run_id}"
    ));
    let prefix = format!("bench/{run_id}");
    settings.mqtt_topic_prefix = prefix.clone();
    settings.jwt_secret = Some(SecretString::from(jwt_secret));
    settings.admin_token = Some(SecretString::from(admin_token.clone()));
    settings.live_grace_s = LIVE_GRACE_S;
    settings.validate()?;
    pettysync::migrate::run(&settings)
        .await
        .context("migrating the bench databases")?;
    let application = Application::build(settings.clone())
        .await
        .context("building the server")?;
    let base = format!("http://127.0.0.1:{}", application.port());
    note_server_threads();
    actix_web::rt::spawn(async move {
        if let Err(error) = application.run_until_stopped().await {
            eprintln!("realtime: the server stopped: {error:#}");
        }
    });
    Ok(ServerInfo {
        base,
        settings,
        admin_token,
        prefix,
        database,
    })
}

fn with_database(raw: &str, database: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(raw).context("a store URL does not parse")?;
    url.set_path(&format!("/{database}"));
    Ok(url.to_string())
}

/// Waits until `/readyz` says the stores and the broker answer (S3 and SNS are not used).
async fn wait_ready(
    http: &reqwest::Client,
    server: &ServerInfo,
    budget: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + budget;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(response) = http.get(format!("{}/readyz", server.base)).send().await {
            if let Ok(body) = response.json::<Value>().await {
                let ok = ["postgres", "mongodb", "redis", "mqtt"]
                    .iter()
                    .all(|name| body["checks"][name] == "ok");
                if ok {
                    return Ok(());
                }
                last = body.to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server was not ready within {budget:?}: {last}")
}

/// One bench collar: its pet and where it walks, and the state that makes samples valid.
#[derive(Debug, Clone)]
struct Collar {
    /// Index of the pet (and of the collar): the key that matches frames to samples.
    idx: u32,
    serial: String,
    pet_id: String,
    topic: String,
    home: (f64, f64),
    offset_m: (f64, f64),
    seq: u64,
    last_ts: i64,
}

impl Collar {
    fn new(idx: u32, serial: &str, pet_id: String, prefix: &str, home: (f64, f64)) -> Self {
        Collar {
            idx,
            serial: serial.to_owned(),
            pet_id,
            topic: format!("{prefix}/collars/{serial}/telemetry"),
            home,
            offset_m: (0.0, 0.0),
            seq: 0,
            last_ts: 0,
        }
    }

    /// The next sample: seq one up, `ts` now and later than every earlier one (so unique per
    /// collar), a few metres of random walk that stays well inside the fence.
    fn next_sample(&mut self, rng: &mut StdRng) -> (i64, Vec<u8>) {
        self.seq += 1;
        self.last_ts = now_ms().max(self.last_ts + 1);
        let (mut east, mut north) = self.offset_m;
        east += rng.gen_range(-3.0..3.0);
        north += rng.gen_range(-3.0..3.0);
        let distance = east.hypot(north);
        if distance > WALK_RADIUS_M {
            let back = 0.9 * WALK_RADIUS_M / distance;
            east *= back;
            north *= back;
        }
        self.offset_m = (east, north);
        let lat = self.home.0 + north / METRES_PER_DEGREE;
        let lon = self.home.1 + east / (METRES_PER_DEGREE * self.home.0.to_radians().cos());
        let hr: u32 = rng.gen_range(80..120);
        let steps: u32 = rng.gen_range(0..40);
        let payload = format!(
            r#"{{"v":1,"seq":{},"ts":{},"lat":{lat:.6},"lon":{lon:.6},"acc":6.5,"hr":{hr},"steps":{steps},"act":"walk","bat":83,"temp":38.6}}"#,
            self.seq, self.last_ts
        );
        (self.last_ts, payload.into_bytes())
    }
}

/// Centre of pet `i`'s fence: a grid over Paris, 2 km apart.
fn home_of(i: usize) -> (f64, f64) {
    (
        48.70 + (i / 100) as f64 * 0.02,
        2.20 + (i % 100) as f64 * 0.02,
    )
}

/// Registers the owner, then creates C pets, each with a provisioned and paired collar and
/// a safe circle fence, 16 pets at a time.
async fn setup(
    http: &reqwest::Client,
    server: &ServerInfo,
    plan: Plan,
    budget: Duration,
) -> anyhow::Result<(String, Vec<Collar>)> {
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    let body =
        json!({"email": email, "password": "correct horse battery", "display_name": "Bench"});
    let auth = call(http, server, "/v1/auth/register", None, &body, 201).await;
    let auth = auth.map_err(anyhow::Error::msg)?;
    let token = auth["access_token"]
        .as_str()
        .context("register answers with an access token")?
        .to_owned();
    let run = &server.database["pettysync_bench_".len()..][..8];
    let made = tokio::time::timeout(
        budget,
        stream::iter(0..plan.pets)
            .map(|i| setup_pet(http, server, &token, run, i))
            .buffer_unordered(SETUP_IN_FLIGHT)
            .collect::<Vec<_>>(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("set-up did not finish within {budget:?}"))?;
    let mut collars = Vec::with_capacity(plan.pets);
    let mut failures = 0;
    let mut first_failure = None;
    for result in made {
        match result {
            Ok(collar) => collars.push(collar),
            Err(error) => {
                failures += 1;
                first_failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_failure {
        println!("  {failures} pets failed to set up; first: {error}");
    }
    if collars.is_empty() {
        bail!("no pet could be set up");
    }
    // Dense indices 0..C, so a pet's index is its collar's.
    collars.sort_by_key(|c| c.idx);
    for (i, collar) in collars.iter_mut().enumerate() {
        collar.idx = i as u32;
    }
    Ok((token, collars))
}

async fn setup_pet(
    http: &reqwest::Client,
    server: &ServerInfo,
    token: &str,
    run: &str,
    i: usize,
) -> Result<Collar, String> {
    let pet = call(
        http,
        server,
        "/v1/pets",
        Some(token),
        &json!({"name": format!("Bench {i}"), "species": "dog"}),
        201,
    )
    .await?;
    let pet_id = pet["id"].as_str().ok_or("a pet has an id")?.to_owned();
    let serial = format!("BENCH-{run}-{i:05}");
    let admin = Some(server.admin_token.as_str());
    let provisioned = call(
        http,
        server,
        "/v1/admin/collars",
        admin,
        &json!({"serial": serial}),
        201,
    )
    .await?;
    let code = provisioned["pairing_code"]
        .as_str()
        .ok_or("a pairing code")?;
    let pairing = json!({"serial": serial, "pairing_code": code});
    call(
        http,
        server,
        &format!("/v1/pets/{pet_id}/collar"),
        Some(token),
        &pairing,
        200,
    )
    .await?;
    let home = home_of(i);
    let fence = json!({"name": "Home", "kind": "safe",
        "geometry": {"type": "Circle", "center": [home.1, home.0], "radius_m": FENCE_RADIUS_M}});
    call(
        http,
        server,
        &format!("/v1/pets/{pet_id}/geofences"),
        Some(token),
        &fence,
        201,
    )
    .await?;
    Ok(Collar::new(i as u32, &serial, pet_id, &server.prefix, home))
}

/// POSTs JSON and returns the answer's JSON when the status is `expect`.
async fn call(
    http: &reqwest::Client,
    server: &ServerInfo,
    path: &str,
    bearer: Option<&str>,
    body: &Value,
    expect: u16,
) -> Result<Value, String> {
    let mut request = http.post(format!("{}{path}", server.base)).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    if status != expect {
        return Err(format!("POST {path}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("POST {path}: {e}: {text}"))
}

/// Collars dealt out over the publishers (one collar always on one connection, so its
/// samples reach the broker in order).
fn deal(collars: Vec<Collar>) -> Vec<Vec<Collar>> {
    let mut hands: Vec<Vec<Collar>> = (0..PUBLISHERS).map(|_| Vec::new()).collect();
    for (i, collar) in collars.into_iter().enumerate() {
        hands[i % PUBLISHERS].push(collar);
    }
    hands
}

fn gather(hands: Vec<Vec<Collar>>) -> Vec<Collar> {
    let mut collars: Vec<Collar> = hands.into_iter().flatten().collect();
    collars.sort_by_key(|c| c.idx);
    collars
}

/// Publishes `count` samples round-robin over `hand`, as fast as the client takes them.
async fn burst(
    client: AsyncClient,
    mut hand: Vec<Collar>,
    count: usize,
    seed: u64,
) -> anyhow::Result<Vec<Collar>> {
    let mut rng = StdRng::seed_from_u64(seed);
    if hand.is_empty() {
        return Ok(hand);
    }
    let len = hand.len();
    for k in 0..count {
        let collar = &mut hand[k % len];
        let (_, payload) = collar.next_sample(&mut rng);
        client
            .publish(collar.topic.clone(), QoS::AtLeastOnce, false, payload)
            .await?;
    }
    Ok(hand)
}

/// Waits for publisher tasks to hand their collars back.
async fn join_hands(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Collar>>>>,
) -> anyhow::Result<Vec<Collar>> {
    let mut hands = Vec::with_capacity(tasks.len());
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout(JOIN_WAIT, task).await {
            Ok(Ok(Ok(hand))) => hands.push(hand),
            Ok(Ok(Err(error))) => return Err(error.context("a publisher failed")),
            Ok(Err(error)) => bail!("a publisher task failed: {error}"),
            Err(_) => {
                abort.abort();
                bail!("a publisher was still blocked {JOIN_WAIT:?} after its phase ended");
            }
        }
    }
    Ok(gather(hands))
}

// ----------------------------------------------------------------- measuring, in order

async fn measure(ctx: Ctx, mut summary: Summary) -> Summary {
    let clock = ctx.clock;
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(SETUP_IN_FLIGHT * 2)
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            summary.fail(format!("HTTP client: {error}"));
            return summary;
        }
    };
    if let Err(error) = wait_ready(&http, &ctx.server, clock.budget(SERVER_READY_BUDGET)).await {
        summary.fail(format!("server: {error:#}"));
        return summary;
    }
    let started = Instant::now();
    let (token, collars) =
        match setup(&http, &ctx.server, ctx.plan, clock.budget(SETUP_BUDGET)).await {
            Ok(made) => made,
            Err(error) => {
                summary.fail(format!("set-up: {error:#}"));
                return summary;
            }
        };
    clock.say(format!(
        "set-up: owner, {} pets with a paired collar and a safe circle fence each, in {:.1} s",
        grouped(collars.len() as u64),
        started.elapsed().as_secs_f64()
    ));
    let mongo = match mongodb::Client::with_uri_str(ctx.server.settings.mongodb_url.expose_secret())
        .await
    {
        Ok(client) => client.database(&ctx.server.settings.mongodb_database()),
        Err(error) => {
            summary.fail(format!("MongoDB: {error}"));
            return summary;
        }
    };
    let telemetry = mongo.collection::<Document>(pettysync::migrate::TELEMETRY_COLLECTION);
    let run = &ctx.server.database["pettysync_bench_".len()..];
    let publishers = match publishers(ctx.broker_port, &format!("bench-collars-{run}")).await {
        Ok(publishers) => publishers,
        Err(error) => {
            summary.fail(format!("publishers: {error:#}"));
            return summary;
        }
    };

    let mut collars = collars;
    if let Err(error) = fresh_broker(&ctx, &publishers, &telemetry, &mut collars[0]).await {
        summary.fail(format!("ingest: {error:#}"));
        return summary;
    }
    let Some(collars) = warm_up(&ctx, &publishers, collars, &telemetry, &mut summary).await else {
        return summary;
    };
    let Some(mut collars) =
        ingest(&ctx, &publishers, collars, &telemetry, &http, &mut summary).await
    else {
        return summary;
    };
    if let Some(metrics) = scrape(&http, &ctx.server).await {
        print_persistence(&metrics);
    }
    probe_mongodb(&mongo, &collars).await;

    if let Err(error) = fresh_broker(&ctx, &publishers, &telemetry, &mut collars[0]).await {
        summary.fail(format!("latency: {error:#}"));
        return summary;
    }
    let stored_before = stored_count(&telemetry).await.unwrap_or(0);
    let (mut collars, published) =
        latency(&ctx, &publishers, collars, &token, &http, &mut summary).await;
    if !drain(&ctx, &telemetry, stored_before + published).await {
        summary.fail("memory: skipped, the server was still behind".to_owned());
        return summary;
    }
    let Some(probe) = collars.first_mut() else {
        summary.fail("memory: skipped, no collar left to probe the broker with".to_owned());
        return summary;
    };
    if let Err(error) = fresh_broker(&ctx, &publishers, &telemetry, probe).await {
        summary.fail(format!("memory: {error:#}"));
        return summary;
    }
    memory(&ctx, &publishers, &http, &telemetry, &mut summary).await;
    if let Some(metrics) = scrape(&http, &ctx.server).await {
        let failed = metric_sum(&metrics, "pettysync_mqtt_ack_failures_total").unwrap_or(0.0);
        if failed > 0.0 {
            summary.notes.push(format!(
                "the server could not queue {} MQTT acknowledgements (its MQTT request queue \
                 overflowed under back-pressure); each phase ran on a fresh broker",
                grouped(failed as u64)
            ));
        }
    }
    summary
}

/// Restarts the private broker so a phase starts with nothing queued or in flight (an earlier,
/// overloaded phase may have left both, and lost acknowledgements hold the broker's window),
/// then waits until the bench's publishers are back and the server has re-subscribed: a probe
/// sample is stored.
async fn fresh_broker(
    ctx: &Ctx,
    publishers: &[Publisher],
    telemetry: &mongodb::Collection<Document>,
    probe: &mut Collar,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + ctx.clock.budget(BROKER_SWAP_BUDGET);
    let connacks: Vec<u64> = publishers
        .iter()
        .map(|p| p.connacks.load(Ordering::Relaxed))
        .collect();
    tokio::task::block_in_place(|| match ctx.broker.lock() {
        Ok(mut broker) => broker.restart(),
        Err(_) => bail!("the broker's lock is poisoned"),
    })?;
    while publishers
        .iter()
        .zip(&connacks)
        .any(|(p, before)| p.connacks.load(Ordering::Relaxed) <= *before)
    {
        if Instant::now() >= deadline {
            bail!("the bench's publishers did not reconnect to the restarted broker");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored_before = stored_count(telemetry).await?;
    let mut rng = StdRng::seed_from_u64(7);
    // Until the server has re-subscribed, the new broker drops what it is sent: probe again.
    while Instant::now() < deadline {
        let (_, payload) = probe.next_sample(&mut rng);
        publishers[0]
            .client
            .publish(probe.topic.clone(), QoS::AtLeastOnce, false, payload)
            .await?;
        let again = Instant::now() + Duration::from_secs(1);
        while Instant::now() < again {
            if stored_count(telemetry).await? > stored_before {
                ctx.clock.say(format!(
                    "fresh broker: restarted; the server reconnected and re-subscribed in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    bail!("the server did not re-subscribe to the restarted broker within {BROKER_SWAP_BUDGET:?}")
}

/// Starts every collar's actor (one sample each) and waits until MongoDB holds the samples,
/// so the ingest clock then times running actors; prints how fast collars came online.
async fn warm_up(
    ctx: &Ctx,
    publishers: &[Publisher],
    collars: Vec<Collar>,
    telemetry: &mongodb::Collection<Document>,
    summary: &mut Summary,
) -> Option<Vec<Collar>> {
    let clock = ctx.clock;
    let count = collars.len() as u64;
    let stored_before = stored_count(telemetry).await.unwrap_or(0);
    let budget = clock.budget(WARM_UP_BUDGET);
    let cpu_before = CpuTimes::take(&ctx.watched());
    let started = Instant::now();
    let tasks: Vec<_> = deal(collars)
        .into_iter()
        .enumerate()
        .map(|(p, hand)| {
            let count = hand.len();
            tokio::spawn(burst(
                publishers[p].client.clone(),
                hand,
                count,
                50 + p as u64,
            ))
        })
        .collect();
    let mut stored = stored_before;
    let complete = loop {
        stored = stored_count(telemetry).await.unwrap_or(stored);
        if stored >= stored_before + count {
            break true;
        }
        if started.elapsed() >= budget {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed();
    if complete {
        let line = format!(
            "cold start: {} collar actors (each with a fence to index) started and their first \
             samples stored in {:.1} s → {:.0} collars/s",
            grouped(count),
            took.as_secs_f64(),
            count as f64 / took.as_secs_f64()
        );
        clock.say(&line);
        summary.notes.push(line);
    } else {
        clock.say(format!(
            "cold start: timed out: {} of {} first samples stored in {:.1} s",
            grouped(stored.saturating_sub(stored_before)),
            grouped(count),
            took.as_secs_f64()
        ));
    }
    CpuTimes::take(&ctx.watched()).print_since(&cpu_before, took);
    match join_hands(tasks).await {
        Ok(collars) if complete => Some(collars),
        Ok(_) => {
            summary.fail("cold start timed out; later phases skipped".to_owned());
            None
        }
        Err(error) => {
            summary.fail(format!("cold start: {error:#}; later phases skipped"));
            None
        }
    }
}

/// The number of samples stored. `count_documents` is exact but is an aggregation over
/// every document; on the MongoDB wire server here that takes seconds per 40 000 documents
/// of the store's one thread, stolen from the server's writes. The `count` command reads the
/// collection's size; a server that refuses it (a time-series view) gets `count_documents`.
async fn stored_count(telemetry: &mongodb::Collection<Document>) -> mongodb::error::Result<u64> {
    match telemetry.estimated_document_count().await {
        Ok(count) => Ok(count),
        Err(_) => telemetry.count_documents(doc! {}).await,
    }
}

/// One line of how ingest is going: stored, and the server's ingest gauges and counters.
async fn progress(http: &reqwest::Client, server: &ServerInfo, started: Instant, stored: u64) {
    let metrics = scrape(http, server).await.unwrap_or_default();
    let value = |name: &str| metric_sum(&metrics, name).unwrap_or(0.0);
    println!(
        "  {:5.1} s: {} stored; {} MQTT messages taken; persistence buffer {}; \
         back-pressure waits {}; failed acknowledgements {}",
        started.elapsed().as_secs_f64(),
        grouped(stored),
        grouped(value("pettysync_mqtt_messages_total") as u64),
        value("pettysync_persistence_buffered"),
        value("pettysync_ingest_backpressure_total"),
        value("pettysync_mqtt_ack_failures_total"),
    );
}

/// Waits until MongoDB holds every sample published so far, so the next phase starts on an
/// idle server; false when the run's budget ran out first.
async fn drain(ctx: &Ctx, telemetry: &mongodb::Collection<Document>, expected: u64) -> bool {
    let budget = ctx.clock.budget(DRAIN_BUDGET);
    let started = Instant::now();
    let mut stored = 0;
    while started.elapsed() < budget {
        stored = stored_count(telemetry).await.unwrap_or(stored);
        if stored >= expected {
            ctx.clock.say(format!(
                "backlog: all {} samples published so far are stored ({:.1} s after the last phase)",
                grouped(expected),
                started.elapsed().as_secs_f64()
            ));
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ctx.clock.say(format!(
        "backlog: timed out: {} of {} published samples stored",
        grouped(stored),
        grouped(expected)
    ));
    false
}

/// Times, with a plain client on an idle server, the two MongoDB calls a persistence batch
/// makes: the duplicate check (`find` with `$in` on serials and on seqs) and `insert_many`.
async fn probe_mongodb(mongo: &mongodb::Database, collars: &[Collar]) {
    let telemetry = mongo.collection::<Document>(pettysync::migrate::TELEMETRY_COLLECTION);
    let serials: Vec<&str> = collars.iter().map(|c| c.serial.as_str()).collect();
    let mut seqs: Vec<i64> = collars.iter().map(|c| c.seq as i64).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let filter = doc! { "meta.collar": { "$in": &serials }, "seq": { "$in": &seqs } };
    let asked = Instant::now();
    let mut found = 0u64;
    let checked = async {
        let mut cursor = telemetry.find(filter).await?;
        while cursor.advance().await? {
            found += 1;
        }
        mongodb::error::Result::Ok(())
    }
    .await;
    let check_time = asked.elapsed();
    let probe = mongo.collection::<Document>("bench_probe");
    let mut insert_time = Duration::ZERO;
    let mut inserted = 0;
    for batch in 0..PROBE_BATCHES {
        let docs: Vec<Document> = (0..PROBE_BATCH_DOCS)
            .map(|i| {
                let now = mongodb::bson::DateTime::now();
                doc! {
                    "at": now, "meta": { "collar": format!("PROBE-{i:05}"), "pet": Uuid::new_v4().to_string() },
                    "seq": (batch * PROBE_BATCH_DOCS + i) as i64, "received_at": now,
                    "lat": 48.8566, "lon": 2.3522, "acc": 6.5, "hr": 96, "steps": 41_i64,
                    "act": "walk", "bat": 83, "temp": 38.6,
                }
            })
            .collect();
        let asked = Instant::now();
        if probe.insert_many(docs).await.is_err() {
            break;
        }
        insert_time += asked.elapsed();
        inserted += PROBE_BATCH_DOCS;
    }
    let _ = probe.drop().await;
    println!("  MongoDB probe (plain client, idle server):");
    match checked {
        Ok(()) => println!(
            "    duplicate check as persistence does it, for a batch over all {} collars: {:.0} ms ({} documents matched)",
            grouped(collars.len() as u64),
            ms(check_time),
            grouped(found)
        ),
        Err(error) => println!("    duplicate check failed: {error}"),
    }
    if inserted > 0 {
        println!(
            "    insert_many of {} sample documents: {:.0} ms per call → {} docs/s",
            grouped(PROBE_BATCH_DOCS as u64),
            ms(insert_time) / (inserted / PROBE_BATCH_DOCS) as f64,
            grouped((inserted as f64 / insert_time.as_secs_f64()) as u64)
        );
    }
}

// ----------------------------------------------------------------------------- 3. ingest

#[derive(Debug, Clone, Copy)]
struct IngestFigure {
    rate: f64,
    stored: u64,
    elapsed: Duration,
    complete: bool,
}

/// N samples as fast as the publishers go; the clock stops when MongoDB holds all N.
async fn ingest(
    ctx: &Ctx,
    publishers: &[Publisher],
    collars: Vec<Collar>,
    telemetry: &mongodb::Collection<Document>,
    http: &reqwest::Client,
    summary: &mut Summary,
) -> Option<Vec<Collar>> {
    let clock = ctx.clock;
    let n = ctx.plan.messages;
    let sample_bytes = collars[0]
        .clone()
        .next_sample(&mut StdRng::seed_from_u64(0))
        .1
        .len();
    clock.say(format!(
        "ingest: {} samples of ~{sample_bytes} bytes over {} collars, {PUBLISHERS} publishers, as fast as they go",
        grouped(n as u64),
        grouped(collars.len() as u64)
    ));
    let budget = clock.budget(INGEST_BUDGET);
    let acked_before: Vec<u64> = publishers
        .iter()
        .map(|p| p.acked.load(Ordering::Relaxed))
        .collect();
    // Samples stored before (the cold start's, the broker probes') do not count.
    let stored_before = stored_count(telemetry).await.unwrap_or(0);
    let cpu_before = CpuTimes::take(&ctx.watched());
    let started = Instant::now();
    let tasks: Vec<_> = deal(collars)
        .into_iter()
        .enumerate()
        .map(|(p, hand)| {
            let client = publishers[p].client.clone();
            tokio::spawn(burst(client, hand, share_of(n, p), p as u64))
        })
        .collect();
    let deadline = started + budget;
    let (mut stored, mut polls, mut poll_time) = (0u64, 0u32, Duration::ZERO);
    let (mut published_after, mut acked_after) = (None, None);
    let mut poll_error = None;
    let mut next_progress = started + PROGRESS_EVERY;
    let complete = loop {
        if Instant::now() >= next_progress {
            next_progress += PROGRESS_EVERY;
            progress(http, &ctx.server, started, stored).await;
        }
        if published_after.is_none() && tasks.iter().all(|t| t.is_finished()) {
            published_after = Some(started.elapsed());
        }
        let acked: u64 = publishers
            .iter()
            .zip(&acked_before)
            .map(|(p, before)| p.acked.load(Ordering::Relaxed) - before)
            .sum();
        if acked_after.is_none() && acked >= n as u64 {
            acked_after = Some(started.elapsed());
        }
        let asked = Instant::now();
        match stored_count(telemetry).await {
            Ok(count) => stored = count.saturating_sub(stored_before),
            Err(error) => {
                poll_error.get_or_insert(error.to_string());
            }
        }
        poll_time += asked.elapsed();
        polls += 1;
        if stored >= n as u64 {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(COUNT_POLL).await;
    };
    let elapsed = started.elapsed();
    let cpu_after = CpuTimes::take(&ctx.watched());
    let rate = stored.min(n as u64) as f64 / elapsed.as_secs_f64();
    let figure = IngestFigure {
        rate,
        stored,
        elapsed,
        complete,
    };
    summary.ingest = Some(figure);
    let at = |t: Option<Duration>| {
        t.map_or("not yet".to_owned(), |t| {
            format!("{:.2} s", t.as_secs_f64())
        })
    };
    println!(
        "  all published (handed to the client) after {}, acknowledged by the broker after {}",
        at(published_after),
        at(acked_after)
    );
    if let Some(error) = poll_error {
        println!("  a MongoDB count failed: {error}");
    }
    println!(
        "  {polls} counts of the telemetry collection took {:.1} ms on average",
        poll_time.as_secs_f64() * 1000.0 / f64::from(polls.max(1))
    );
    if complete {
        clock.say(format!(
            "ingest: all {} stored after {:.2} s → {} msg/s{}",
            grouped(n as u64),
            elapsed.as_secs_f64(),
            grouped(rate as u64),
            summary.ratio_text(rate)
        ));
    } else {
        clock.say(format!(
            "ingest: timed out: {} of {} stored in {:.1} s ({} msg/s)",
            grouped(stored),
            grouped(n as u64),
            elapsed.as_secs_f64(),
            grouped(rate as u64)
        ));
    }
    cpu_after.print_since(&cpu_before, elapsed);
    match join_hands(tasks).await {
        Ok(collars) => Some(collars),
        Err(error) => {
            summary.fail(format!("ingest: {error:#}; later phases skipped"));
            None
        }
    }
}

// ---------------------------------------------------------------------------- 4. latency

/// One recording window: its target rate and what was measured.
#[derive(Debug, Clone)]
struct LatencyFigure {
    target_rate: u32,
    sessions: usize,
    achieved_rate: f64,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    matched: u64,
    expected: u64,
}

/// How fast the pacing publishers go, and whether (for which window) they note what they send.
struct Pace {
    /// Messages per second of each publisher, as `f64` bits.
    per_publisher: AtomicU64,
    /// 0 while not recording, else the window's number (from 1).
    recording: AtomicUsize,
    stop: AtomicBool,
}

impl Pace {
    fn set_total(&self, per_second: f64) {
        self.per_publisher.store(
            (per_second / PUBLISHERS as f64).to_bits(),
            Ordering::Relaxed,
        );
    }
}

/// A sample sent while recording: which collar, its `ts`, when it was published, in which window.
#[derive(Debug, Clone, Copy)]
struct Sent {
    collar: u32,
    ts: i64,
    at_ns: u64,
    window: usize,
}

/// A `state` frame as a client saw it.
#[derive(Debug, Clone, Copy)]
struct Received {
    pet: u32,
    ts: i64,
    at_ns: u64,
}

/// What a pacing publisher hands back.
struct PacedRun {
    hand: Vec<Collar>,
    sent: Vec<Sent>,
    published: u64,
}

/// Publishes at the pace's rate, round-robin over `hand`, until told to stop.
async fn paced(
    client: AsyncClient,
    mut hand: Vec<Collar>,
    pace: Arc<Pace>,
    seed: u64,
    hard_stop: Instant,
) -> anyhow::Result<PacedRun> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sent = Vec::new();
    let mut published = 0;
    if hand.is_empty() {
        return Ok(PacedRun {
            hand,
            sent,
            published,
        });
    }
    let (mut next, mut credit, mut last) = (0usize, 0.0f64, Instant::now());
    while !pace.stop.load(Ordering::Relaxed) && Instant::now() < hard_stop {
        let rate = f64::from_bits(pace.per_publisher.load(Ordering::Relaxed));
        let now = Instant::now();
        credit = (credit + now.duration_since(last).as_secs_f64() * rate)
            .min(rate * MAX_CATCH_UP_S + 1.0);
        last = now;
        while credit >= 1.0 {
            credit -= 1.0;
            let len = hand.len();
            let collar = &mut hand[next % len];
            next += 1;
            let (ts, payload) = collar.next_sample(&mut rng);
            let window = pace.recording.load(Ordering::Relaxed);
            let at_ns = wall_ns();
            client
                .publish(collar.topic.clone(), QoS::AtLeastOnce, false, payload)
                .await?;
            published += 1;
            if window > 0 && sent.len() < MAX_SENT {
                sent.push(Sent {
                    collar: collar.idx,
                    ts,
                    at_ns,
                    window,
                });
            }
        }
        tokio::time::sleep(PACE_TICK).await;
    }
    Ok(PacedRun {
        hand,
        sent,
        published,
    })
}

/// The windows to record: first one within what ingest sustained (so the real-time path is
/// seen without a storage backlog), when that is below the target; then the target rate.
fn window_rates(plan: &Plan, ingest: Option<IngestFigure>, keepalive: f64) -> Vec<u32> {
    let mut rates = Vec::new();
    if let Some(ingest) = ingest {
        if ingest.rate < f64::from(plan.rate) {
            let half = (ingest.rate * SUSTAINABLE_SHARE / 50.0).floor() as u32 * 50;
            rates.push(half.max(keepalive.ceil() as u32));
        }
    }
    rates.push(plan.rate);
    rates
}

/// S WebSockets watching the pets; for each window, publish → `state` latency. Returns how
/// many samples it published (all of which the server will store).
async fn latency(
    ctx: &Ctx,
    publishers: &[Publisher],
    collars: Vec<Collar>,
    token: &str,
    http: &reqwest::Client,
    summary: &mut Summary,
) -> (Vec<Collar>, u64) {
    let clock = ctx.clock;
    let plan = ctx.plan;
    let pets = collars.len();
    let keepalive = pets as f64 / KEEPALIVE_EVERY_S;
    let rates = window_rates(&plan, summary.ingest, keepalive);
    let sessions: Vec<(u32, String)> = (0..plan.sessions)
        .map(|s| {
            let collar = &collars[s % pets];
            (collar.idx, collar.pet_id.clone())
        })
        .collect();
    clock.say(format!(
        "latency: opening {} WebSockets ({WS_IN_FLIGHT} at a time), each subscribed to one of {} pets; \
         meanwhile every collar reports every {KEEPALIVE_EVERY_S} s",
        grouped(plan.sessions as u64),
        grouped(pets as u64)
    ));
    let pace = Arc::new(Pace {
        per_publisher: AtomicU64::new(0),
        recording: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    pace.set_total(keepalive);
    let tasks: Vec<_> = deal(collars)
        .into_iter()
        .enumerate()
        .map(|(p, hand)| {
            let client = publishers[p].client.clone();
            tokio::spawn(paced(
                client,
                hand,
                Arc::clone(&pace),
                100 + p as u64,
                clock.end,
            ))
        })
        .collect();

    let outcome = watch_windows(ctx, &pace, keepalive, &sessions, token, &rates).await;

    // The sessions are closed: keep reporting through the live-mode grace, then stop.
    tokio::time::sleep(Duration::from_secs(LIVE_GRACE_S + 2)).await;
    pace.stop.store(true, Ordering::Relaxed);
    let (mut hands, mut sent, mut published) = (Vec::new(), Vec::new(), 0);
    for task in tasks {
        match tokio::time::timeout(JOIN_WAIT, task).await {
            Ok(Ok(Ok(run))) => {
                hands.push(run.hand);
                sent.extend(run.sent);
                published += run.published;
            }
            Ok(Ok(Err(error))) => summary.fail(format!("latency: a publisher failed: {error:#}")),
            Ok(Err(error)) => summary.fail(format!("latency: a publisher task failed: {error}")),
            Err(_) => summary.fail("latency: a publisher was blocked after the phase".to_owned()),
        }
    }
    let window = match outcome {
        Ok(window) => window,
        Err(error) => {
            summary.fail(format!("latency: {error:#}"));
            return (gather(hands), published);
        }
    };
    let figures = latency_figures(&window, &sent, pets);
    if let Some(metrics) = scrape(http, &ctx.server).await {
        let slow = metric_sum(&metrics, "pettysync_ws_slow_closed_total").unwrap_or(0.0);
        println!("  sessions the server closed as too slow: {slow}");
        print_failed_acks(&metrics);
    }
    for figure in figures.into_iter().flatten() {
        if figure.target_rate == plan.rate {
            summary.latency = Some(figure);
        } else {
            summary.sustainable = Some(figure);
        }
    }
    (gather(hands), published)
}

/// One recording window as it ran.
struct WindowRun {
    rate: u32,
    start_ns: u64,
    length: Duration,
    cpu: (CpuTimes, CpuTimes),
}

/// What the WebSocket clients saw, and when the windows ran.
struct Window {
    opened: usize,
    per_pet: Vec<u64>,
    runs: Vec<WindowRun>,
    records: Vec<Received>,
}

/// Opens the sessions in the child process, runs the windows, collects the frames.
async fn watch_windows(
    ctx: &Ctx,
    pace: &Pace,
    keepalive: f64,
    sessions: &[(u32, String)],
    token: &str,
    rates: &[u32],
) -> anyhow::Result<Window> {
    let clock = ctx.clock;
    let open_budget = clock.budget(SESSIONS_BUDGET);
    let hold = open_budget
        + SESSION_SETTLE
        + (WARM_UP + ctx.plan.window) * rates.len() as u32
        + STRAGGLERS
        + REPORT_WAIT;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg(WS_CLIENTS_FLAG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the WebSocket client process")?;
    let child_pid = child.id().unwrap_or(0);
    let mut stdin = child.stdin.take().context("the child's stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("the child's stdout")?).lines();
    let job = json!({
        "url": format!("{}/v1/ws", ctx.server.base),
        "token": token,
        "sessions": sessions,
        "open_budget_ms": open_budget.as_millis() as u64,
        "hold_ms": hold.as_millis() as u64,
    });
    stdin.write_all(format!("{job}\n").as_bytes()).await?;
    stdin.flush().await?;
    let ready = read_tagged(&mut lines, "ready ", open_budget + Duration::from_secs(10)).await?;
    let ready: Value = serde_json::from_str(&ready)?;
    let opened = ready["opened"].as_u64().unwrap_or(0) as usize;
    let per_pet: Vec<u64> = ready["per_pet"]
        .as_array()
        .map(|counts| counts.iter().map(|c| c.as_u64().unwrap_or(0)).collect())
        .unwrap_or_default();
    clock.say(format!(
        "latency: {} sessions open and subscribed in {:.1} s ({} failed, {} not tried{})",
        grouped(opened as u64),
        ready["elapsed_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        ready["failed"],
        ready["not_attempted"],
        ready["first_error"]
            .as_str()
            .map_or(String::new(), |e| format!("; first error: {e}"))
    ));
    if opened == 0 {
        bail!("no WebSocket session could be opened");
    }

    tokio::time::sleep(SESSION_SETTLE).await;
    let mut watched = ctx.watched();
    watched.push(("bench: WebSocket clients (child process)", child_pid));
    let mut runs = Vec::with_capacity(rates.len());
    for (i, &rate) in rates.iter().enumerate() {
        if clock.budget(WARM_UP + ctx.plan.window + STRAGGLERS)
            < WARM_UP + ctx.plan.window + STRAGGLERS
        {
            println!("  timed out: no time left for the {rate} msg/s window");
            break;
        }
        pace.set_total(f64::from(rate));
        tokio::time::sleep(WARM_UP).await;
        let cpu_before = CpuTimes::take(&watched);
        let start_ns = wall_ns();
        let started = Instant::now();
        pace.recording.store(i + 1, Ordering::Relaxed);
        clock.say(format!(
            "latency: window {}: {} msg/s for {} s (after {} s of warm-up)",
            i + 1,
            grouped(u64::from(rate)),
            ctx.plan.window.as_secs(),
            WARM_UP.as_secs()
        ));
        tokio::time::sleep(ctx.plan.window).await;
        pace.recording.store(0, Ordering::Relaxed);
        let length = started.elapsed();
        let cpu_after = CpuTimes::take(&watched);
        runs.push(WindowRun {
            rate,
            start_ns,
            length,
            cpu: (cpu_before, cpu_after),
        });
    }
    pace.set_total(keepalive);
    tokio::time::sleep(STRAGGLERS).await;

    stdin.write_all(b"stop\n").await?;
    stdin.flush().await?;
    let mut records = Vec::new();
    let report = tokio::time::timeout(REPORT_WAIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("r ") {
                let mut fields = rest.split(' ').map(str::parse::<i64>);
                if let (Some(Ok(pet)), Some(Ok(ts)), Some(Ok(at))) =
                    (fields.next(), fields.next(), fields.next())
                {
                    records.push(Received {
                        pet: pet as u32,
                        ts,
                        at_ns: at as u64,
                    });
                }
            } else if let Some(done) = line.strip_prefix("done ") {
                return anyhow::Ok(done.to_owned());
            }
        }
        bail!("the WebSocket client process ended without its report")
    })
    .await
    .context("the WebSocket client process did not report in time")??;
    let done: Value = serde_json::from_str(&report)?;
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    println!(
        "  client side: {} new states recorded, {} alerts, {} other frames; {} sessions closed \
         by the server, {} read errors, {} still open at the end",
        grouped(done["records"].as_u64().unwrap_or(0)),
        done["alerts"],
        done["other"],
        done["closed_by_server"],
        done["errors"],
        done["still_open"],
    );
    Ok(Window {
        opened,
        per_pet,
        runs,
        records,
    })
}

/// Matches frames to samples and prints each window's distribution and CPU.
fn latency_figures(window: &Window, sent: &[Sent], pets: usize) -> Vec<Option<LatencyFigure>> {
    let published: HashMap<(u32, i64), (u64, usize)> = sent
        .iter()
        .map(|s| ((s.collar, s.ts), (s.at_ns, s.window)))
        .collect();
    // (publish time, latency) of every matched frame, per window.
    let mut matched: Vec<Vec<(u64, u64)>> = vec![Vec::new(); window.runs.len()];
    for record in &window.records {
        if let Some(&(at, number)) = published.get(&(record.pet, record.ts)) {
            if let Some(run) = matched.get_mut(number - 1) {
                run.push((at, record.at_ns.saturating_sub(at)));
            }
        }
    }
    window
        .runs
        .iter()
        .zip(matched)
        .enumerate()
        .map(|(i, (run, frames))| window_figure(window, run, i + 1, sent, frames, pets))
        .collect()
}

fn window_figure(
    window: &Window,
    run: &WindowRun,
    number: usize,
    sent: &[Sent],
    frames: Vec<(u64, u64)>,
    pets: usize,
) -> Option<LatencyFigure> {
    let sent: Vec<&Sent> = sent.iter().filter(|s| s.window == number).collect();
    let expected: u64 = sent
        .iter()
        .map(|s| window.per_pet.get(s.collar as usize).copied().unwrap_or(0))
        .sum();
    let achieved = sent.len() as f64 / run.length.as_secs_f64();
    println!(
        "  window {number} ({} msg/s): published {} samples in {:.2} s → {:.0} msg/s over {} collars",
        grouped(u64::from(run.rate)),
        grouped(sent.len() as u64),
        run.length.as_secs_f64(),
        achieved,
        grouped(pets as u64)
    );
    println!(
        "    state frames expected (each sample × the sessions watching its pet): {}, received: {} ({:.2} %)",
        grouped(expected),
        grouped(frames.len() as u64),
        100.0 * frames.len() as f64 / expected.max(1) as f64
    );
    let seconds = run.length.as_secs().max(1) as usize;
    let mut by_second: Vec<Vec<u64>> = vec![Vec::new(); seconds];
    let mut all: Vec<u64> = Vec::with_capacity(frames.len());
    for (at, latency) in frames {
        let second = (at.saturating_sub(run.start_ns) / 1_000_000_000) as usize;
        by_second[second.min(seconds - 1)].push(latency);
        all.push(latency);
    }
    run.cpu.1.print_since(&run.cpu.0, run.length);
    if all.is_empty() {
        return None;
    }
    all.sort_unstable();
    let q = |p: f64| Duration::from_nanos(percentile(&all, p));
    let max = Duration::from_nanos(*all.last().unwrap_or(&0));
    println!(
        "    publish → state frame: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
        ms(q(0.50)),
        ms(q(0.90)),
        ms(q(0.99)),
        ms(max),
        grouped(all.len() as u64)
    );
    let per_second: Vec<String> = by_second
        .iter_mut()
        .map(|latencies| {
            latencies.sort_unstable();
            match latencies.is_empty() {
                true => "-".to_owned(),
                false => format!("{:.1}", percentile(latencies, 0.99) as f64 / 1e6),
            }
        })
        .collect();
    println!(
        "    p99 by second of publishing (ms): {}",
        per_second.join("  ")
    );
    Some(LatencyFigure {
        target_rate: run.rate,
        sessions: window.opened,
        achieved_rate: achieved,
        p50: q(0.50),
        p90: q(0.90),
        p99: q(0.99),
        max,
        matched: all.len() as u64,
        expected,
    })
}

/// The next line starting with `tag`, without it.
async fn read_tagged<R>(
    lines: &mut tokio::io::Lines<R>,
    tag: &str,
    within: Duration,
) -> anyhow::Result<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let read = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(tag) {
                return anyhow::Ok(rest.to_owned());
            }
        }
        bail!("the WebSocket client process ended early")
    };
    tokio::time::timeout(within, read)
        .await
        .with_context(|| format!("no {tag:?} line within {within:?}"))?
}

// ------------------------------------------- the WebSocket client process (`--ws-clients`)

/// awc's framed connection, named by what it does (its type is not exported).
trait Frames:
    Stream<Item = Result<Frame, WsProtocolError>> + Sink<Message, Error = WsProtocolError> + Unpin
{
}

impl<T> Frames for T where
    T: Stream<Item = Result<Frame, WsProtocolError>>
        + Sink<Message, Error = WsProtocolError>
        + Unpin
{
}

/// What every reader task of the client process adds to.
#[derive(Default)]
struct Seen {
    records: RefCell<Vec<Received>>,
    alerts: Cell<u64>,
    other: Cell<u64>,
    closed_by_server: Cell<u64>,
    errors: Cell<u64>,
}

fn ws_clients_main() -> i32 {
    actix_web::rt::System::new().block_on(async {
        match ws_clients().await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("realtime {WS_CLIENTS_FLAG}: {error:#}");
                1
            }
        }
    })
}

/// Reads a job line, opens and subscribes the sessions, says `ready`, reads frames until
/// `stop`, then prints one `r pet ts ns` line per new `state` and a `done` line.
async fn ws_clients() -> anyhow::Result<()> {
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    let job = input.next_line().await?.context("no job on stdin")?;
    let job: Value = serde_json::from_str(&job)?;
    let url = job["url"].as_str().context("job.url")?.to_owned();
    let token = job["token"].as_str().context("job.token")?.to_owned();
    let sessions: Vec<(u32, String)> = serde_json::from_value(job["sessions"].clone())?;
    let open_budget = Duration::from_millis(job["open_budget_ms"].as_u64().unwrap_or(60_000));
    let hold = Duration::from_millis(job["hold_ms"].as_u64().unwrap_or(300_000));
    let client = awc::Client::builder()
        .max_http_version(awc::http::Version::HTTP_11)
        // A WebSocket keeps its pool permit while open; the default pool allows 100.
        .connector(awc::Connector::new().limit(0))
        .timeout(WS_STEP_TIMEOUT)
        .finish();
    let seen = Rc::new(Seen::default());
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + open_budget;
    let mut readers = Vec::with_capacity(sessions.len());
    let mut per_pet: Vec<u64> = Vec::new();
    let (mut failed, mut first_error) = (0usize, None::<String>);
    {
        let mut opening = stream::iter(&sessions)
            .map(|(pet, pet_id)| {
                let pet = *pet;
                open_session(&client, &url, &token, pet_id).map(move |opened| (pet, opened))
            })
            .buffer_unordered(WS_IN_FLIGHT);
        loop {
            match tokio::time::timeout_at(deadline, opening.next()).await {
                Ok(Some((pet, Ok(framed)))) => {
                    let slot = pet as usize;
                    if per_pet.len() <= slot {
                        per_pet.resize(slot + 1, 0);
                    }
                    per_pet[slot] += 1;
                    readers.push(actix_web::rt::spawn(read_socket(
                        framed,
                        pet,
                        Rc::clone(&seen),
                    )));
                }
                Ok(Some((_, Err(error)))) => {
                    failed += 1;
                    first_error.get_or_insert(error);
                }
                Ok(None) => break,
                Err(_) => {
                    first_error
                        .get_or_insert(format!("opening did not finish within {open_budget:?}"));
                    break;
                }
            }
        }
    }
    let opened = readers.len();
    let ready = json!({
        "opened": opened,
        "failed": failed,
        "not_attempted": sessions.len() - opened - failed,
        "elapsed_ms": started.elapsed().as_millis() as u64,
        "first_error": first_error,
        "per_pet": per_pet,
    });
    println!("ready {ready}");
    let _ = tokio::time::timeout(hold, async {
        while let Ok(Some(line)) = input.next_line().await {
            if line.trim() == "stop" {
                break;
            }
        }
    })
    .await;
    let still_open = readers.iter().filter(|r| !r.is_finished()).count();
    for reader in &readers {
        reader.abort();
    }
    let records = seen.records.take();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in &records {
        writeln!(out, "r {} {} {}", r.pet, r.ts, r.at_ns)?;
    }
    let done = json!({
        "records": records.len(),
        "alerts": seen.alerts.get(),
        "other": seen.other.get(),
        "closed_by_server": seen.closed_by_server.get(),
        "errors": seen.errors.get(),
        "still_open": still_open,
    });
    writeln!(out, "done {done}")?;
    out.flush()?;
    Ok(())
}

/// Handshake, `hello`, subscribe, and the subscribe's answer.
async fn open_session(
    client: &awc::Client,
    url: &str,
    token: &str,
    pet_id: &str,
) -> Result<Box<dyn Frames>, String> {
    let (response, mut framed) = client
        .ws(url)
        .bearer_auth(token)
        .connect()
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    if response.status().as_u16() != 101 {
        return Err(format!("handshake: status {}", response.status()));
    }
    expect_frame(&mut framed, "hello").await?;
    let subscribe = json!({"type": "subscribe", "pet_ids": [pet_id]}).to_string();
    framed
        .send(Message::Text(subscribe.into()))
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    expect_frame(&mut framed, "state").await?;
    Ok(Box::new(framed))
}

async fn expect_frame<F: Frames>(framed: &mut F, kind: &str) -> Result<(), String> {
    let prefix = format!("{{\"type\":\"{kind}\"");
    let until = tokio::time::Instant::now() + WS_STEP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(until, framed.next()).await {
            Err(_) => return Err(format!("no {kind} frame within {WS_STEP_TIMEOUT:?}")),
            Ok(None) => return Err(format!("closed before {kind}")),
            Ok(Some(Err(e))) => return Err(format!("before {kind}: {e}")),
            Ok(Some(Ok(Frame::Text(text)))) => {
                if text.starts_with(prefix.as_bytes()) {
                    return Ok(());
                }
                if text.starts_with(b"{\"type\":\"error\"") {
                    return Err(String::from_utf8_lossy(&text).into_owned());
                }
            }
            Ok(Some(Ok(Frame::Ping(payload)))) => {
                framed
                    .send(Message::Pong(payload))
                    .await
                    .map_err(|e| format!("pong: {e}"))?;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Reads one socket: notes each `state` whose `last_seen` is new, answers pings.
async fn read_socket<F: Frames>(mut framed: F, pet: u32, seen: Rc<Seen>) {
    let mut newest = i64::MIN;
    while let Some(frame) = framed.next().await {
        match frame {
            Ok(Frame::Text(text)) => {
                let at_ns = wall_ns();
                if text.starts_with(b"{\"type\":\"state\"") {
                    if let Some(ts) = last_seen(&text) {
                        if ts != newest {
                            newest = ts;
                            let mut records = seen.records.borrow_mut();
                            if records.len() < MAX_RECORDS {
                                records.push(Received { pet, ts, at_ns });
                            }
                        }
                    }
                } else if text.starts_with(b"{\"type\":\"alert\"") {
                    seen.alerts.set(seen.alerts.get() + 1);
                } else {
                    seen.other.set(seen.other.get() + 1);
                }
            }
            Ok(Frame::Ping(payload)) => {
                if framed.send(Message::Pong(payload)).await.is_err() {
                    break;
                }
            }
            Ok(Frame::Close(_)) => break,
            Ok(_) => {}
            Err(_) => {
                seen.errors.set(seen.errors.get() + 1);
                return;
            }
        }
    }
    seen.closed_by_server.set(seen.closed_by_server.get() + 1);
}

/// `state.last_seen` of a `state` frame, found without parsing the whole frame.
fn last_seen(frame: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"last_seen\":";
    let start = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = frame[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&frame[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

// ----------------------------------------------------------------------------- 5. memory

#[derive(Debug, Clone, Copy)]
struct MemoryFigure {
    /// Growth per actor of the second half: the cost of one more actor, without one-time
    /// growth (pools, maps doubling). RSS, and the allocator's bytes in use when known.
    rss_marginal: f64,
    heap_marginal: Option<f64>,
    /// Growth per actor over all K.
    rss_overall: f64,
    heap_overall: Option<f64>,
    collars: u64,
    complete: bool,
}

/// The process's memory at one moment.
#[derive(Debug, Clone, Copy)]
struct Reading {
    rss: u64,
    /// glibc's bytes in use (all arenas, mmapped chunks included), modulo 2^32.
    heap: Option<u32>,
}

/// Growth per new actor between two readings: (RSS, heap).
fn per_actor(from: Reading, to: Reading, actors: u64) -> (f64, Option<f64>) {
    let actors = actors.max(1) as f64;
    let rss = to.rss.saturating_sub(from.rss) as f64 / actors;
    let heap = from
        .heap
        .zip(to.heap)
        .map(|(a, b)| f64::from(b.wrapping_sub(a)) / actors);
    (rss, heap)
}

/// K unpaired collars send one sample each, in two halves; the memory growth per new actor
/// is the cost of an idle collar actor.
async fn memory(
    ctx: &Ctx,
    publishers: &[Publisher],
    http: &reqwest::Client,
    telemetry: &mongodb::Collection<Document>,
    summary: &mut Summary,
) {
    let clock = ctx.clock;
    let budget = clock.budget(MEMORY_BUDGET);
    if budget.is_zero() {
        summary.fail("memory: timed out before it started".to_owned());
        return;
    }
    let deadline = Instant::now() + budget;
    let k = ctx.plan.idle_collars;
    clock.say(format!(
        "memory: provisioning {} more collars (not paired) directly in PostgreSQL",
        grouped(k as u64)
    ));
    let run = &ctx.server.database["pettysync_bench_".len()..][..8];
    let serials: Vec<String> = (0..k).map(|i| format!("IDLE-{run}-{i:05}")).collect();
    if let Err(error) = provision(ctx, &serials, deadline).await {
        summary.fail(format!("memory: provisioning: {error}"));
        return;
    }
    // Everything the bench itself keeps for these collars exists before the first reading.
    let mut collars: Vec<Collar> = serials
        .iter()
        .enumerate()
        .map(|(i, serial)| {
            Collar::new(
                i as u32,
                serial,
                String::new(),
                &ctx.server.prefix,
                home_of(i),
            )
        })
        .collect();
    let second = deal(collars.split_off(k / 2));
    let first = deal(collars);
    let actors_before = collar_actors(http, &ctx.server).await.unwrap_or(0.0) as u64;
    let stored_before = stored_count(telemetry).await.unwrap_or(0);
    let Some(before) = settled().await else {
        summary.fail("memory: /proc/self/status has no VmRSS".to_owned());
        return;
    };
    clock.say(format!(
        "memory: {} collar actors running, RSS {:.1} MiB; starting {} more in two halves",
        grouped(actors_before),
        mib(before.rss),
        grouped(k as u64)
    ));
    let mut readings: Vec<(u64, Reading)> = Vec::new();
    let mut complete = true;
    for (half, hands) in [first, second].into_iter().enumerate() {
        let count: usize = hands.iter().map(Vec::len).sum();
        let started = Instant::now();
        let tasks: Vec<_> = hands
            .into_iter()
            .enumerate()
            .map(|(p, hand)| {
                let count = hand.len();
                tokio::spawn(burst(
                    publishers[p].client.clone(),
                    hand,
                    count,
                    1000 + p as u64,
                ))
            })
            .collect();
        let started_so_far = readings.last().map_or(0, |(actors, _)| *actors) + count as u64;
        let (actors, stored, done) = wait_for_actors(
            http,
            &ctx.server,
            telemetry,
            actors_before + started_so_far,
            stored_before + started_so_far,
            deadline,
        )
        .await;
        let took = started.elapsed();
        if let Err(error) = join_hands(tasks).await {
            summary.fail(format!("memory: {error:#}"));
        }
        let added = actors.saturating_sub(actors_before);
        let reading = settled().await.unwrap_or(before);
        if done {
            clock.say(format!(
                "memory: half {}: {} new collar actors started and their samples stored in {:.1} s \
                 ({:.0} cold collars/s); RSS {:.1} MiB",
                half + 1,
                grouped(count as u64),
                took.as_secs_f64(),
                count as f64 / took.as_secs_f64(),
                mib(reading.rss)
            ));
        } else {
            clock.say(format!(
                "memory: half {}: timed out: {} of {} new actors, {} of {} samples stored",
                half + 1,
                grouped(added),
                grouped(started_so_far),
                grouped(stored.saturating_sub(stored_before)),
                grouped(started_so_far)
            ));
        }
        readings.push((added, reading));
        if !done {
            complete = false;
            break;
        }
    }
    let Some(&(added, after)) = readings.last() else {
        return;
    };
    let (rss_overall, heap_overall) = per_actor(before, after, added);
    let (rss_marginal, heap_marginal) = match readings.as_slice() {
        [(half, middle), (all, end)] if all > half => per_actor(*middle, *end, all - half),
        _ => (rss_overall, heap_overall),
    };
    println!(
        "  RSS growth per new idle collar actor: {rss_marginal:.0} bytes over the second half, \
         {rss_overall:.0} bytes over all {} (malloc_trim before each reading)",
        grouped(added)
    );
    if let (Some(marginal), Some(overall)) = (heap_marginal, heap_overall) {
        println!(
            "  allocator bytes in use (glibc mallinfo) per new actor: {marginal:.0} over the \
             second half, {overall:.0} over all"
        );
    }
    println!(
        "  this counts the actor, its mailbox and timers, its entries in the registry's and the \
         pipeline's maps, and its live state; RSS also counts allocator slack and pools that grew"
    );
    if let Some(metrics) = scrape(http, &ctx.server).await {
        print_failed_acks(&metrics);
    }
    summary.memory = Some(MemoryFigure {
        rss_marginal,
        heap_marginal,
        rss_overall,
        heap_overall,
        collars: added,
        complete,
    });
}

/// Provisions `serials` straight in PostgreSQL, a few at a time.
async fn provision(ctx: &Ctx, serials: &[String], deadline: Instant) -> Result<(), String> {
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(SETUP_IN_FLIGHT as u32)
        .connect(ctx.server.settings.database_url.expose_secret())
        .await
        .map_err(|e| e.to_string())?;
    let provisioned = tokio::time::timeout_at(
        deadline.into(),
        stream::iter(serials.to_vec())
            .map(|serial| {
                let pg = pg.clone();
                async move {
                    let serial = CollarSerial::parse(&serial).map_err(|e| e.to_owned())?;
                    match pettysync::store::collars::provision(&pg, &serial).await {
                        Ok(Some(_)) => Ok(()),
                        Ok(None) => Err("already provisioned".to_owned()),
                        Err(error) => Err(error.to_string()),
                    }
                }
            })
            .buffer_unordered(SETUP_IN_FLIGHT)
            .collect::<Vec<Result<(), String>>>(),
    )
    .await
    .map_err(|_| "timed out".to_owned())?;
    pg.close().await;
    provisioned.into_iter().collect()
}

/// Polls until the server runs `actors` collar actors and MongoDB holds `stored` samples;
/// returns what it saw last and whether both were reached before `deadline`.
async fn wait_for_actors(
    http: &reqwest::Client,
    server: &ServerInfo,
    telemetry: &mongodb::Collection<Document>,
    actors: u64,
    stored: u64,
    deadline: Instant,
) -> (u64, u64, bool) {
    let (mut seen_actors, mut seen_stored) = (0, 0);
    loop {
        seen_actors = collar_actors(http, server)
            .await
            .map_or(seen_actors, |a| a as u64);
        seen_stored = stored_count(telemetry).await.unwrap_or(seen_stored);
        if seen_actors >= actors && seen_stored >= stored {
            return (seen_actors, seen_stored, true);
        }
        if Instant::now() >= deadline {
            return (seen_actors, seen_stored, false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Memory once in-flight work (snapshot writes, inserts) has settled and free pages are
/// returned to the kernel.
async fn settled() -> Option<Reading> {
    tokio::time::sleep(MEMORY_SETTLE).await;
    release_free_memory();
    Some(Reading {
        rss: rss_bytes()?,
        heap: heap_in_use(),
    })
}

/// glibc's count of heap bytes in use, over every arena and mmapped chunk (`mallinfo`'s
/// fields are C `int`s: the sum is right modulo 2^32, which a difference survives).
fn heap_in_use() -> Option<u32> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::raw::c_int;
        #[repr(C)]
        struct MallInfo {
            arena: c_int,
            ordblks: c_int,
            smblks: c_int,
            hblks: c_int,
            hblkhd: c_int,
            usmblks: c_int,
            fsmblks: c_int,
            uordblks: c_int,
            fordblks: c_int,
            keepcost: c_int,
        }
        extern "C" {
            fn mallinfo() -> MallInfo;
        }
        // SAFETY: glibc's mallinfo only reads the allocator's statistics (under its locks)
        // and returns them by value.
        let info = unsafe { mallinfo() };
        Some((info.uordblks as u32).wrapping_add(info.hblkhd as u32))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// Gives freed heap pages back to the kernel, so RSS shows what is in use.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim only returns free pages of the heap to the kernel; it
        // takes no pointers and is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// -------------------------------------------------------------------------- /metrics

async fn scrape(http: &reqwest::Client, server: &ServerInfo) -> Option<String> {
    let response = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

async fn collar_actors(http: &reqwest::Client, server: &ServerInfo) -> Option<f64> {
    metric_sum(&scrape(http, server).await?, "pettysync_collar_actors")
}

/// The sum of every series of `name` (all label sets), if it has any.
fn metric_sum(metrics: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(value) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

/// A Prometheus summary: count, mean and quantiles, scaled (e.g. seconds → ms).
fn summary_of(metrics: &str, name: &str, scale: f64, unit: &str) -> Option<String> {
    let count = metric_sum(metrics, &format!("{name}_count"))?;
    let sum = metric_sum(metrics, &format!("{name}_sum"))?;
    let mut parts = vec![
        format!("n = {}", grouped(count as u64)),
        format!("mean {:.1}{unit}", sum / count.max(1.0) * scale),
    ];
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(&format!("{name}{{quantile=\"")) else {
            continue;
        };
        if let Some((quantile, value)) = rest.split_once("\"} ") {
            if let Ok(value) = value.parse::<f64>() {
                parts.push(format!("q{quantile} {:.1}{unit}", value * scale));
            }
        }
    }
    Some(parts.join(", "))
}

/// Stored messages whose PUBACK could not be queued: the broker keeps each one in flight
/// until the server reconnects, and enough of them stop its deliveries to the server.
fn print_failed_acks(metrics: &str) {
    let failed = metric_sum(metrics, "pettysync_mqtt_ack_failures_total").unwrap_or(0.0);
    if failed > 0.0 {
        println!(
            "  failed MQTT acknowledgements so far: {failed} (the MQTT client's request queue was \
             full; each leaves a message in flight at the broker until a reconnect)"
        );
    }
}

/// What the persistence actor did: batch sizes, MongoDB write time, back-pressure.
fn print_persistence(metrics: &str) {
    println!("  server metrics after ingest (quantiles over the exporter's recent window):");
    if let Some(batches) = summary_of(metrics, "pettysync_persistence_batch_docs", 1.0, "") {
        println!("    pettysync_persistence_batch_docs:    {batches}");
    }
    if let Some(writes) = summary_of(
        metrics,
        "pettysync_persistence_write_seconds",
        1000.0,
        " ms",
    ) {
        println!("    pettysync_persistence_write_seconds: {writes}");
    }
    let batch = metric_sum(metrics, "pettysync_persistence_batch_docs_sum").zip(metric_sum(
        metrics,
        "pettysync_persistence_batch_docs_count",
    ));
    let write = metric_sum(metrics, "pettysync_persistence_write_seconds_sum");
    if let (Some((docs, batches)), Some(seconds)) = (batch, write) {
        if seconds > 0.0 && batches > 0.0 {
            println!(
                "    one writer, one batch at a time: {:.0} docs per second of MongoDB write time",
                docs / seconds
            );
        }
    }
    for name in [
        "pettysync_ingest_backpressure_total",
        "pettysync_duplicate_samples_total",
        "pettysync_dead_letters_total",
        "pettysync_unknown_serial_total",
        "pettysync_persistence_failures_total",
        "pettysync_mqtt_ack_failures_total",
    ] {
        println!("    {name}: {}", metric_sum(metrics, name).unwrap_or(0.0));
    }
}

// ------------------------------------------------------------------ where the CPU went

/// CPU ticks (1/100 s) per part: this process's threads by role, and the other processes
/// that take part (the private broker, the stores, the WebSocket client process).
#[derive(Debug, Clone, Default)]
struct CpuTimes {
    /// Other processes, by role.
    parts: BTreeMap<String, u64>,
    /// This process's live threads: id → (role, ticks).
    threads: HashMap<u32, (String, u64)>,
    /// This process as a whole, which also counts threads that have exited.
    own_total: u64,
}

/// Linux reports `/proc` CPU times in USER_HZ, which is 100 on every mainstream build.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuTimes {
    fn take(watched: &[(&'static str, u32)]) -> CpuTimes {
        let mut parts: BTreeMap<String, u64> = BTreeMap::new();
        let mut threads = HashMap::new();
        let me = std::process::id();
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let tid: u32 = task.file_name().to_string_lossy().parse().unwrap_or(0);
                if let Some((comm, ticks)) = read_stat(&task.path().join("stat")) {
                    threads.insert(tid, (thread_role(tid, tid == me, &comm), ticks));
                }
            }
        }
        let own_total = read_stat(std::path::Path::new("/proc/self/stat")).map_or(0, |(_, t)| t);
        let mut known: Vec<u32> = vec![me];
        for &(label, pid) in watched {
            if let Some((_, ticks)) = read_stat(&PathBuf::from(format!("/proc/{pid}/stat"))) {
                *parts.entry(label.to_owned()).or_default() += ticks;
            }
            known.push(pid);
        }
        if let Ok(processes) = std::fs::read_dir("/proc") {
            for process in processes.flatten() {
                let Ok(pid) = process.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                if known.contains(&pid) {
                    continue;
                }
                let Some(role) = service_role(&process.path()) else {
                    continue;
                };
                if let Some((_, ticks)) = read_stat(&process.path().join("stat")) {
                    *parts.entry(role.to_owned()).or_default() += ticks;
                }
            }
        }
        CpuTimes {
            parts,
            threads,
            own_total,
        }
    }

    /// CPU seconds per part since `before`, and the share of one core over `wall`.
    fn print_since(&self, before: &CpuTimes, wall: Duration) {
        let mut spent: BTreeMap<String, u64> = BTreeMap::new();
        for (label, ticks) in &self.parts {
            let since = ticks.saturating_sub(*before.parts.get(label).unwrap_or(&0));
            *spent.entry(label.clone()).or_default() += since;
        }
        // A thread alive at both readings counts its difference, one started meanwhile all it
        // spent; what the process spent beyond that went to threads that exited meanwhile (the
        // blocking pool's threads end after 10 s idle).
        let mut live = 0;
        for (tid, (role, ticks)) in &self.threads {
            let since = ticks.saturating_sub(before.threads.get(tid).map_or(0, |(_, t)| *t));
            *spent.entry(role.clone()).or_default() += since;
            live += since;
        }
        let exited = self
            .own_total
            .saturating_sub(before.own_total)
            .saturating_sub(live);
        if exited > 0 {
            spent.insert(
                "this process: threads that exited meanwhile (blocking pool)".to_owned(),
                exited,
            );
        }
        let mut rows: Vec<(String, f64)> = spent
            .into_iter()
            .map(|(label, ticks)| (label, ticks as f64 / TICKS_PER_SECOND))
            .collect();
        rows.retain(|(_, seconds)| *seconds > 0.0);
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "  CPU over these {:.1} s ({cores} cores = {} % available):",
            wall.as_secs_f64(),
            cores * 100
        );
        for (label, seconds) in rows {
            println!(
                "    {label:<62} {seconds:7.2} s  {:5.0} %",
                100.0 * seconds / wall.as_secs_f64()
            );
        }
    }
}

/// The command name and utime + stime of a `/proc/.../stat` file.
fn read_stat(path: &std::path::Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the command: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Roles of the server's actix threads, by thread id (see [`note_server_threads`]).
static SERVER_THREADS: std::sync::OnceLock<HashMap<u32, &'static str>> = std::sync::OnceLock::new();
const ARBITER_ROLE: &str = "server: collar-actor arbiters";
const WORKER_ROLE: &str = "server: HTTP/WebSocket workers (sessions)";

/// Tells the server's collar-actor arbiters from its HTTP workers, which the kernel names
/// alike (`actix-rt|system:0|arbiter:N`, cut to 15 characters). `Application::build` starts
/// one arbiter per core before the HTTP server's workers (which start once the System runs
/// again), and thread ids grow in creation order: the first ones are the arbiters.
fn note_server_threads() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut actix: Vec<u32> = std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|task| {
                    let tid = task.file_name().to_string_lossy().parse().ok()?;
                    let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                    comm.starts_with("actix-rt|system").then_some(tid)
                })
                .collect()
        })
        .unwrap_or_default();
    actix.sort_unstable();
    let roles = actix
        .iter()
        .take(cores)
        .map(|tid| (*tid, ARBITER_ROLE))
        .collect();
    let _ = SERVER_THREADS.set(roles);
}

fn thread_role(tid: u32, main: bool, comm: &str) -> String {
    let known = SERVER_THREADS.get().and_then(|roles| roles.get(&tid));
    let role = if main {
        "server: main thread (MQTT loop, pipeline, persistence, hub)"
    } else if let Some(role) = known {
        role
    } else if comm.starts_with("actix-rt|system") || comm.starts_with("actix-server") {
        WORKER_ROLE
    } else if comm.starts_with("bench-load") {
        "bench: publishers, HTTP and MongoDB clients"
    } else if comm.starts_with("tokio-rt-worker") {
        "server: blocking pool (fence indexing, Argon2)"
    } else {
        return format!("other threads of this process ({comm})");
    };
    role.to_owned()
}

fn service_role(process: &std::path::Path) -> Option<&'static str> {
    let comm = std::fs::read_to_string(process.join("comm")).ok()?;
    let comm = comm.trim();
    if comm == "postgres" {
        return Some("store: PostgreSQL");
    }
    if comm.starts_with("redis-server") {
        return Some("store: Redis");
    }
    let cmdline = std::fs::read(process.join("cmdline")).ok()?;
    let needle = b"nx-27017";
    cmdline
        .windows(needle.len())
        .any(|w| w == needle)
        .then_some("store: MongoDB (nx-27017)")
}

// --------------------------------------------------------------------------- summary

/// The run's figures, printed as a table at the end.
struct Summary {
    plan: Plan,
    baseline: Option<BaselineFigure>,
    ingest: Option<IngestFigure>,
    latency: Option<LatencyFigure>,
    /// The extra window within what ingest sustained, when ingest is below the target rate.
    sustainable: Option<LatencyFigure>,
    memory: Option<MemoryFigure>,
    problems: Vec<String>,
    /// Other findings worth repeating under the table.
    notes: Vec<String>,
}

impl Summary {
    fn new(plan: Plan) -> Self {
        Summary {
            plan,
            baseline: None,
            ingest: None,
            latency: None,
            sustainable: None,
            memory: None,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn fail(&mut self, problem: String) {
        println!("  problem: {problem}");
        self.problems.push(problem);
    }

    /// ", = 27.5 % of the baseline" when there is a baseline.
    fn ratio_text(&self, rate: f64) -> String {
        match self.baseline {
            Some(baseline) if baseline.rate > 0.0 => {
                format!(" = {:.1} % of the baseline", 100.0 * rate / baseline.rate)
            }
            _ => String::new(),
        }
    }

    fn print(&self) {
        let mut rows: Vec<[String; 4]> = Vec::new();
        let baseline_rate = self.baseline.filter(|b| b.rate > 0.0).map(|b| b.rate);
        rows.push(match self.baseline {
            Some(b) => [
                "broker QoS 1 drain (baseline)".into(),
                format!(
                    "{} msg/s{}",
                    grouped(b.rate as u64),
                    if b.complete { "" } else { " (timed out)" }
                ),
                "reference".into(),
                "".into(),
            ],
            None => [
                "broker QoS 1 drain (baseline)".into(),
                "not measured".into(),
                "reference".into(),
                "".into(),
            ],
        });
        rows.push(match (self.ingest, baseline_rate) {
            (Some(i), Some(base)) => {
                let ratio = i.rate / base;
                [
                    "ingest, end to end (stored, actor, fences)".into(),
                    format!(
                        "{} msg/s = {:.1} %{}",
                        grouped(i.rate as u64),
                        100.0 * ratio,
                        if i.complete {
                            format!(" ({:.1} s)", i.elapsed.as_secs_f64())
                        } else {
                            format!(" (timed out at {} stored)", grouped(i.stored))
                        }
                    ),
                    format!("≥ {:.0} % of baseline", 100.0 * TARGET_INGEST_RATIO),
                    yes_no(i.complete && ratio >= TARGET_INGEST_RATIO),
                ]
            }
            (Some(i), None) => [
                "ingest, end to end (stored, actor, fences)".into(),
                format!("{} msg/s (no baseline)", grouped(i.rate as u64)),
                format!("≥ {:.0} % of baseline", 100.0 * TARGET_INGEST_RATIO),
                "?".into(),
            ],
            (None, _) => [
                "ingest, end to end (stored, actor, fences)".into(),
                "not measured".into(),
                format!("≥ {:.0} % of baseline", 100.0 * TARGET_INGEST_RATIO),
                "no".into(),
            ],
        });
        if let Some(l) = &self.sustainable {
            rows.push([
                format!("publish → state, within ingest capacity ({})", load_text(l)),
                latency_text(l),
                "(diagnostic)".into(),
                "".into(),
            ]);
        }
        let target = format!(
            "p99 ≤ {} ms at {} msg/s, {} sessions",
            TARGET_P99.as_millis(),
            grouped(TARGET_RATE.into()),
            grouped(TARGET_SESSIONS as u64)
        );
        rows.push(match &self.latency {
            Some(l) => {
                let delivered = l.matched as f64 >= 0.99 * l.expected as f64;
                let full_load = l.sessions >= TARGET_SESSIONS
                    && l.achieved_rate >= 0.98 * f64::from(TARGET_RATE);
                let met = if self.plan.quick {
                    format!("n/a (quick: {} sessions)", grouped(l.sessions as u64))
                } else if !full_load {
                    "no (load not reached)".to_owned()
                } else if !delivered {
                    "no (frames missing)".to_owned()
                } else {
                    yes_no(l.p99 <= TARGET_P99)
                };
                [
                    format!("publish → state ({})", load_text(l)),
                    latency_text(l),
                    target,
                    met,
                ]
            }
            None => [
                "publish → state".into(),
                "not measured".into(),
                target,
                "no".into(),
            ],
        });
        rows.push(match self.memory {
            Some(m) => {
                // The allocator's count when there is one: RSS adds page and arena slack that
                // moves by hundreds of bytes per actor from run to run.
                let cost = m.heap_marginal.unwrap_or(m.rss_marginal);
                let heap = m
                    .heap_marginal
                    .zip(m.heap_overall)
                    .map_or(String::new(), |(a, b)| {
                        format!("heap {a:.0} B ({b:.0} B overall), ")
                    });
                [
                    "memory per idle collar actor".into(),
                    format!(
                        "{heap}RSS {:.0} B ({:.0} B overall), over {} actors{}",
                        m.rss_marginal,
                        m.rss_overall,
                        grouped(m.collars),
                        if m.complete { "" } else { ", timed out" }
                    ),
                    format!("≤ {TARGET_ACTOR_BYTES:.0} B"),
                    yes_no(m.complete && cost <= TARGET_ACTOR_BYTES),
                ]
            }
            None => [
                "memory per idle collar actor".into(),
                "not measured".into(),
                format!("≤ {TARGET_ACTOR_BYTES:.0} B"),
                "no".into(),
            ],
        });

        println!();
        println!("Summary");
        let widths: Vec<usize> = (0..4)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([["figure", "value", "target", "met?"][c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: [&str; 4]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
                .collect();
            println!("  {}", padded.join("  ").trim_end());
        };
        line(["figure", "value", "target", "met?"]);
        line(["------", "-----", "------", "----"]);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3]]);
        }
        println!("  machine: {}", machine());
        println!("  load average at the end: {}", load_average());
        for note in &self.notes {
            println!("  note: {note}");
        }
        for problem in &self.problems {
            println!("  problem: {problem}");
        }
    }
}

fn load_text(l: &LatencyFigure) -> String {
    format!(
        "{:.0} msg/s, {} sessions",
        l.achieved_rate,
        grouped(l.sessions as u64)
    )
}

fn latency_text(l: &LatencyFigure) -> String {
    format!(
        "p50 {:.1} / p90 {:.1} / p99 {:.1} ms, max {:.0} ms; {:.1} % of frames",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.max),
        100.0 * l.matched as f64 / l.expected.max(1) as f64
    )
}

fn yes_no(met: bool) -> String {
    if met { "yes" } else { "no" }.to_owned()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

// --------------------------------------------------------------------------- helpers

fn now_ms() -> i64 {
    (wall_ns() / 1_000_000) as i64
}

/// Wall-clock nanoseconds: the one clock this process and the WebSocket client process share.
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The value at quantile `q` of sorted values (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `12345678` as `12 345 678`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
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
        "{cores} CPUs (nproc), {model}, {:.1} GiB RAM",
        mem_kib / 1_048_576.0
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
