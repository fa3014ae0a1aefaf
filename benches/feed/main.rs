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
//! 4. A baseline window: `GET /healthz` at [`TARGET_RATE`] with the same generator, so the
//!    HTTP stack's own CPU per request stands beside the feed's; and, before the windows, the
//!    stores' own rates with the server's client crates: Redis `GET`, PostgreSQL `SELECT 1`.
//!
//! Each figure is a row of the run summary (`support::summary`), judged against issue 12.
//!
//! The load generator (two threads in this process) shares the CPUs with the server,
//! PostgreSQL and Redis; each one's CPU seconds are printed per window. Every phase has a
//! deadline; the run stops by itself within [`RUN_BUDGET`]. Without `--bench` (as
//! `cargo test --all-targets` runs it) the program only says how to run it.
//!
//! - here: the plan of a run, the entry point, the verdict's exit code;
//! - `server`: the server under test (on top of `support`, shared with `realtime`);
//! - `drive`: set-up, warm-up, the windows and the target's verdict;
//! - `setup`: registering, following, the published posts and their fan-out;
//! - `window`: one open-loop window and its figures; `cpu`: where the CPU went;
//! - `baseline`: the stores' own rates; `figures`: the rows of the run summary.

#[path = "../support/mod.rs"]
mod support;

mod baseline;
mod cpu;
mod drive;
mod figures;
mod server;
mod setup;
mod window;

use std::time::{Duration, Instant};

use pettysync::config::{LogFormat, Settings};
use tokio::runtime::Handle;
use uuid::Uuid;

use self::drive::drive;
use self::server::start_server;
use self::support::host::{load_average, machine};
use self::support::server::{load_runtime, LOAD_THREAD};

/// The whole run stops by itself within this, whatever the server does.
const RUN_BUDGET: Duration = Duration::from_secs(8 * 60);
const SETUP_BUDGET: Duration = Duration::from_secs(180);
const WARM_UP_BUDGET: Duration = Duration::from_secs(60);
/// A request not answered within this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const FOLLOWS_EACH: usize = 20;
/// Keep-alive connections the client keeps; the warm-up opens this many.
const POOL_CONNECTIONS: usize = 64;
/// Registrations and follows at once.
const SETUP_IN_FLIGHT: usize = 8;
const PAGE_LIMIT: u32 = 20;
const BASELINE_RATE: u32 = 500;
/// Issue 12's targets: 2 000 req/s with p50 ≤ 1 ms and p99 ≤ 5 ms, ≤ 150 µs of server CPU
/// per request.
const TARGET_RATE: u32 = 2_000;
const TARGET_P50: Duration = Duration::from_millis(1);
const TARGET_P99: Duration = Duration::from_millis(5);
const TARGET_SERVER_CPU: f64 = 150.0;

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
            (50, 1_000, 3)
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
        support::summary::check_format();
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
    let load = match load_runtime() {
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
