//! The data-lifecycle benchmark: a roll-up pass over 5 000 stale pet-hours (500 quick), and
//! `GET /v1/pets/{id}/stats?bucket=day` over a year, p50/p99. Run it with
//! `cargo bench --bench lifecycle -- [--quick]` once `eval "$(scripts/services.sh up)"` has set
//! the services' environment (`scripts/bench.sh` does).
//!
//! 1. The server runs in this process on fresh databases; one user registers over HTTP and
//!    owns [`PETS`] pets (rows inserted as `POST /v1/pets` writes them).
//! 2. Each pet gets `hours / PETS` hours of samples at the collar's normal interval (5 min,
//!    a fix, heart rate, steps and an activity each), inserted into MongoDB as the persistence
//!    actor stores them; the hours are marked stale as ingest marks them; one pass is timed.
//! 3. One pet gets a year of quarter-hour roll-ups; [`READS`] sequential reads of a year of
//!    days in Europe/Berlin are timed.
//!
//! - here: the plan, the entry point and the printed figures;
//! - `setup`: the server, the pets, the samples and the year of roll-ups.

#[path = "../support/mod.rs"]
mod support;

mod setup;

use std::time::{Duration, Instant};

use pettysync::config::LogFormat;
use pettysync::store::rollups;

use self::support::host::{load_average, machine};
use self::support::stats::percentile;
use self::support::summary::{Better, Row};

const BENCH: &str = "lifecycle";

/// Stale pet-hours of one pass, full and quick: the MongoDB stand-in's scans make a pass slow
/// (~50 pet-hours/s), and the whole of `scripts/bench.sh` has fifteen minutes.
const FULL_HOURS: usize = 5_000;
const QUICK_HOURS: usize = 500;
/// Pets the stale hours are spread over.
const PETS: usize = 100;
/// Samples per hour: one per normal interval (300 s).
const SAMPLES_PER_HOUR: i64 = 12;
/// Timed `GET …/stats?bucket=day` requests over a year.
const READS: usize = 200;
const HOUR_MS: i64 = 3_600_000;
/// The whole run stops by itself within this, whatever the stores do (the actix System
/// takes SIGTERM for itself, so an outer `timeout` does not stop it).
const RUN_BUDGET: Duration = Duration::from_secs(20 * 60);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench programs without it.
    if !args.iter().any(|arg| arg == "--bench") {
        support::summary::check_format();
        println!(
            "lifecycle: a benchmark; run it with `cargo bench --bench lifecycle -- [--quick]`"
        );
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    pettysync::telemetry::init_tracing("warn", LogFormat::Text);
    let code = actix_web::rt::System::new().block_on(async move {
        match tokio::time::timeout(RUN_BUDGET, run(quick)).await {
            Ok(Ok(())) => 0,
            Ok(Err(error)) => {
                eprintln!("lifecycle: {error:#}");
                1
            }
            Err(_) => {
                eprintln!("lifecycle: the run did not finish within {RUN_BUDGET:?}");
                1
            }
        }
    });
    std::process::exit(code);
}

async fn run(quick: bool) -> anyhow::Result<()> {
    let hours = if quick { QUICK_HOURS } else { FULL_HOURS };
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    println!(
        "data-lifecycle benchmark ({}), run {run_id}",
        if quick { "quick" } else { "full" }
    );
    println!("machine: {}; load average {}", machine(), load_average());
    let bench = setup::start(&run_id).await?;
    let pets = setup::pets(&bench, PETS).await?;

    let hours_each = (hours / PETS) as i64;
    let first_hour = (chrono::Utc::now().timestamp_millis() / HOUR_MS - hours_each - 1) * HOUR_MS;
    let inserted = setup::samples(&bench, &pets, first_hour, hours_each, SAMPLES_PER_HOUR).await?;
    let marks: Vec<_> = pets
        .iter()
        .flat_map(|&pet| (0..hours_each).map(move |h| (pet, first_hour + h * HOUR_MS)))
        .collect();
    rollups::mark_dirty(&bench.pg, marks).await?;
    let started = Instant::now();
    let report = pettysync::actors::rollup::run_pass(&bench.history).await?;
    let took = started.elapsed();
    println!(
        "roll-up pass: {} stale pet-hours ({inserted} samples stored) in {:.2} s: {:.0} pet-hours/s, {:.0} samples/s; {} quarter buckets written",
        report.hours,
        took.as_secs_f64(),
        report.hours as f64 / took.as_secs_f64(),
        report.samples as f64 / took.as_secs_f64(),
        report.buckets
    );
    Row::reference(
        BENCH,
        "roll-up pass",
        report.hours as f64 / took.as_secs_f64(),
        "pet-hours/s",
    )
    .better(Better::Higher)
    .detail(format!(
        "{} stale pet-hours, {:.0} samples/s, {:.1} s",
        report.hours,
        report.samples as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    ))
    .record();

    let year_pet = pets[0];
    let year_start = setup::year_of_quarters(&bench, year_pet).await?;
    let url = format!(
        "{}/v1/pets/{}/stats?bucket=day&tz=Europe/Berlin&from={year_start}&to={}",
        bench.base,
        year_pet,
        year_start + 365 * 24 * HOUR_MS
    );
    let mut took: Vec<Duration> = Vec::with_capacity(READS);
    for i in 0..=READS {
        let started = Instant::now();
        let response = bench
            .client
            .get(&url)
            .bearer_auth(&bench.token)
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        anyhow::ensure!(status == 200, "GET stats answered {status}: {body}");
        if i == 0 {
            let days = body["items"].as_array().map_or(0, Vec::len);
            println!("GET /v1/pets/{{id}}/stats?bucket=day over a year: {days} days per answer");
        } else {
            took.push(started.elapsed());
        }
    }
    took.sort();
    let ms = |q: f64| percentile(&took, q).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "GET stats (day, a year, Europe/Berlin), {READS} sequential reads: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(0.5),
        ms(0.99),
        ms(1.0)
    );
    for (figure, q) in [("p50", 0.5), ("p99", 0.99)] {
        Row::reference(
            BENCH,
            format!("GET stats, a year of days, {figure}"),
            ms(q),
            "ms",
        )
        .better(Better::Lower)
        .detail(format!("{READS} sequential reads, Europe/Berlin"))
        .record();
    }
    Ok(())
}
