//! The mood pipeline benchmark: publish → `mood` frame latency. The server runs in this
//! process against databases of its own and trains its seed model at start (the default
//! seed set, timed); then one paired collar publishes generator clips over MQTT at a steady
//! rate (default 10 clips/s for 30 s; `--quick`: 5 s), and the owner's WebSocket takes the
//! `mood` frames. Each frame is matched to its clip by the clip's `ts` (the frame's `at`).
//! Printed: seed training time, frames received of clips sent, latency p50/p99/max from the
//! publish call to the frame's arrival, and the server process's CPU per clip.
//!
//! Run it with `cargo bench --bench mood_live -- [--quick] [--rate N]` once
//! `eval "$(scripts/services.sh up)"` has set the services' environment. Without `--bench`
//! (as `cargo test --all-targets` runs it) the program only says how to run it.

#[path = "../support/mod.rs"]
mod support;

mod setup;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pettysync::config::LogFormat;

use self::support::cpu::read_stat;
use self::support::host::{load_average, machine};
use self::support::stats::percentile;
use self::support::summary::{Better, Row};

const BENCH: &str = "mood_live";
/// publish → `mood` frame p99 target, ms.
const TARGET_P99_MS: f64 = 2_000.0;

/// The whole run's budget, set-up and seed training included.
const RUN_BUDGET: Duration = Duration::from_secs(900);
/// How long after the last publish frames are still awaited.
const DRAIN: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        support::summary::check_format();
        println!("mood_live: a benchmark; run it with `cargo bench --bench mood_live -- [--quick] [--rate N]`");
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    let rate: u32 = args
        .iter()
        .position(|arg| arg == "--rate")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let seconds = if quick { 5 } else { 30 };
    pettysync::telemetry::init_tracing("warn", LogFormat::Text);
    let code = actix_web::rt::System::new().block_on(async move {
        match tokio::time::timeout(RUN_BUDGET, run(rate.max(1), seconds)).await {
            Ok(Ok(())) => 0,
            Ok(Err(error)) => {
                eprintln!("mood_live: {error:#}");
                1
            }
            Err(_) => {
                eprintln!("mood_live: the run did not finish within {RUN_BUDGET:?}");
                1
            }
        }
    });
    std::process::exit(code);
}

async fn run(rate: u32, seconds: u32) -> anyhow::Result<()> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    println!("mood pipeline benchmark: {rate} clips/s for {seconds} s, run {run_id}");
    println!("machine: {}; load average {}", machine(), load_average());
    let bench = setup::start(&run_id).await?;
    println!(
        "seed model trained and active {:.1} s after the server started",
        bench.seed_trained.as_secs_f64()
    );
    Row::reference(
        BENCH,
        "seed model active after the server started",
        bench.seed_trained.as_secs_f64(),
        "s",
    )
    .better(Better::Lower)
    .record();
    let clips = (rate * seconds) as usize;
    let payloads = setup::clips(clips);
    let cpu_before = read_stat("/proc/self/stat");
    let mut frames = setup::watch_moods(&bench).await?;
    let mut sent: HashMap<i64, Instant> = HashMap::with_capacity(clips);
    let mut ts = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    for (k, clip) in payloads.into_iter().enumerate() {
        let due = started + Duration::from_secs_f64(k as f64 / f64::from(rate));
        tokio::time::sleep_until(due.into()).await;
        ts = ts.max(chrono::Utc::now().timestamp_millis()) + 1;
        bench.publish_clip(k as i64 + 1, ts, clip).await?;
        sent.insert(ts, Instant::now());
    }
    let publishing = started.elapsed();
    let until = Instant::now() + DRAIN;
    let mut latencies = Vec::with_capacity(clips);
    while latencies.len() < clips {
        let Ok(Some((at, arrived))) = tokio::time::timeout_at(until.into(), frames.recv()).await
        else {
            break;
        };
        if let Some(published) = sent.remove(&at) {
            latencies.push(arrived.saturating_duration_since(published));
        }
    }
    let cpu_after = read_stat("/proc/self/stat");
    latencies.sort();
    let ms = |q: f64| percentile(&latencies, q).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "published {clips} clips (2 s, 16 kHz, the five moods in turn) in {:.1} s; {} mood frames received",
        publishing.as_secs_f64(),
        latencies.len()
    );
    println!(
        "publish → mood frame: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (target p99 ≤ 2 000 ms)",
        ms(0.5),
        ms(0.99),
        ms(1.0)
    );
    let received = 100.0 * latencies.len() as f64 / clips.max(1) as f64;
    let all = latencies.len() == clips;
    let row = Row::at_most(
        BENCH,
        "publish → mood frame p99",
        ms(0.99),
        "ms",
        TARGET_P99_MS,
    )
    .detail(format!(
        "{rate} clips/s for {seconds} s; p50 {:.0} ms; {received:.1} % of frames",
        ms(0.5)
    ));
    (if all {
        row
    } else {
        Row {
            met: Some(false),
            ..row
        }
    })
    .record();
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let cpu_s = (after.ticks - before.ticks) as f64 / support::cpu::TICKS_PER_SECOND;
        println!(
            "bench process CPU (server + this client): {:.1} ms per clip",
            cpu_s * 1000.0 / clips as f64
        );
        Row::reference(
            BENCH,
            "bench process CPU per clip (server + client)",
            cpu_s * 1000.0 / clips as f64,
            "ms",
        )
        .better(Better::Lower)
        .record();
    }
    Ok(())
}
