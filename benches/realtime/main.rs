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
//!    fast as the publishers go, timed until MongoDB holds all N, beside MongoDB's own
//!    `insert_many` of the same documents just before; then the duplicate check of a
//!    persistence batch, timed alone;
//! 4. latency: S WebSockets, then a window at 80 % of the measured ingest rate (the target's)
//!    and one at R samples/s (skipped in a quick run when above the ingest rate); each `state` frame is matched to its sample by pet and `last_seen`
//!    (= the sample's `ts`, unique per collar). The sockets live in a child process of this
//!    program (`--ws-clients`), one local task each, so their ends do not share this
//!    process's open-file limit with the server's ends; both processes stamp times with the
//!    same system clock;
//! 5. memory: K more collars (provisioned, not paired) send one sample each, in two halves;
//!    the growth of this process's RSS per new actor is the cost of an idle collar actor.
//!
//! Every phase has a deadline, and the run as a whole stops within [`plan::RUN_BUDGET`].
//! Without `--bench` (as `cargo test --all-targets` runs it) the program only says how to run
//! it.
//!
//! - `plan`: sizes, budget, targets; `broker`: the private Mosquitto; `mqtt`: publishers;
//! - `baseline` (1); `server` (2); `collars`, `setup`: the pets and their collars;
//! - `measure`: the phases in order; `telemetry`: the stored-sample count, drains, the
//!   MongoDB probe; `ingest` (3); `latency`, `windows`, `figures`, `ws_clients` (4);
//!   `memory`, `rss` (5);
//! - `metrics`: the server's `/metrics`; `cpu`: where the CPU went; `summary`: the figures
//!   as rows of the run summary, and the final table; `units`: clocks and number formats;
//! - `support` (shared with the `feed` benchmark): the machine, server start-up, CPU ticks,
//!   percentiles.

#[path = "../support/mod.rs"]
mod support;

mod baseline;
mod broker;
mod collars;
mod cpu;
mod figures;
mod ingest;
mod latency;
mod measure;
mod memory;
mod metrics;
mod mqtt;
mod plan;
mod rss;
mod server;
mod setup;
mod summary;
mod telemetry;
mod units;
mod windows;
mod ws_clients;

use std::time::Duration;

use pettysync::config::LogFormat;
use tokio::runtime::Handle;
use uuid::Uuid;

use self::baseline::baseline;
use self::broker::Broker;
use self::measure::measure;
use self::mqtt::PUBLISHERS;
use self::plan::{Clock, Plan};
use self::server::{start_server, Ctx};
use self::summary::Summary;
use self::support::host::{load_average, machine};
use self::support::server::load_runtime;
use self::units::grouped;
use self::ws_clients::{ws_clients_main, WS_CLIENTS_FLAG};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == WS_CLIENTS_FLAG) {
        std::process::exit(ws_clients_main());
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench programs without
    // it, and a benchmark has no place in a test run.
    if !args.iter().any(|arg| arg == "--bench") {
        support::summary::check_format();
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
    let load = match load_runtime() {
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
        Ok(Ok(figure)) => summary.set_baseline(figure),
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

fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
