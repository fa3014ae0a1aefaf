//! The archive benchmark: one archival pass over S samples (default 20 000; `--quick`
//! 4 000; `--samples N`), printed beside the MongoDB server's own read rate of the same
//! documents in the same run; bytes per sample in the archive (zstd NDJSON) and in MongoDB
//! (BSON as the server hands it out); and `GET /v1/pets/{id}/track` over 30 days that span
//! the archive and the hot window: time and the process's memory. Run it with
//! `cargo bench --bench archive -- [--quick] [--samples N]` once
//! `eval "$(scripts/services.sh up)"` has set the services' environment. Without `--bench`
//! (as `cargo test --all-targets` runs it) the program only says how to run it.
//!
//! - here: the plan, the entry point, the printed figures;
//! - `setup`: the server, its owner and pet, and the samples written into MongoDB.

#[path = "../support/mod.rs"]
mod support;

mod setup;

use std::time::{Duration, Instant};

use anyhow::Context as _;

use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use pettysync::actors::archival::ArchiveStores;
use pettysync::config::LogFormat;
use pettysync::store::archive::{self, PassOptions, RollupsSettled};

use self::setup::{Bench, COLLARS};
use self::support::host;
use self::support::summary::{Better, Row};

const BENCH: &str = "archive";

/// Samples of a full and a quick run: the MongoDB stand-in deletes a few hundred per second
/// (it scans the collection for each `delete_many`), and the whole of `scripts/bench.sh` has
/// fifteen minutes; `--samples N` runs a larger pass.
const FULL_SAMPLES: u64 = 20_000;
const QUICK_SAMPLES: u64 = 4_000;
/// Track requests timed; the median and the slowest are printed.
const TRACK_RUNS: usize = 5;
/// A UTC day in milliseconds.
const DAY_MS: i64 = 24 * 3600 * 1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        support::summary::check_format();
        println!("archive: a benchmark; run it with `cargo bench --bench archive -- [--quick] [--samples N]`");
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    let samples = args
        .iter()
        .position(|arg| arg == "--samples")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick { QUICK_SAMPLES } else { FULL_SAMPLES });
    pettysync::telemetry::init_tracing("warn", LogFormat::Text);
    let code = actix_web::rt::System::new().block_on(async move {
        match run(samples).await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("archive: {error:#}");
                1
            }
        }
    });
    std::process::exit(code);
}

async fn run(samples: u64) -> anyhow::Result<()> {
    println!("archive benchmark: {samples} samples over {COLLARS} collars, 30 days each");
    println!(
        "machine: {}; load average {}",
        host::machine(),
        host::load_average()
    );
    println!("note: this process (server and pass), the MongoDB wire server, PostgreSQL and s3s-fs share these CPUs");
    let bench = setup::start(samples).await?;
    let options = PassOptions::new(&bench.settings.s3_bucket, bench.settings.hot_retention_days);
    let cutoff = options.now.date_naive() - chrono::Days::new(options.hot_retention_days.into());
    let cutoff = BsonDateTime::from_millis(
        cutoff
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis(),
    );

    // Baseline: the MongoDB server reading the same documents the pass will move.
    let telemetry = bench.stores.mongo.collection::<Document>("telemetry");
    let started = Instant::now();
    let mut cursor = telemetry
        .find(doc! { "at": { "$lt": cutoff } })
        .sort(doc! { "at": 1, "seq": 1 })
        .batch_size(archive::READ_BATCH)
        .await?;
    let (mut read, mut bson_bytes) = (0u64, 0u64);
    let mut copies = Vec::new();
    while cursor.advance().await? {
        bson_bytes += cursor.current().as_bytes().len() as u64;
        read += 1;
        copies.push(cursor.deserialize_current()?);
    }
    let read_time = started.elapsed();
    println!(
        "MongoDB read (baseline): {read} documents in {:.2} s = {:.0} samples/s; {:.1} bytes/sample as BSON",
        read_time.as_secs_f64(),
        read as f64 / read_time.as_secs_f64(),
        bson_bytes as f64 / read.max(1) as f64
    );

    let read_rate = read as f64 / read_time.as_secs_f64();
    Row::reference(
        BENCH,
        "MongoDB read of the documents to archive (baseline)",
        read_rate,
        "samples/s",
    )
    .detail(format!("{read} documents in (at, seq) order"))
    .record();
    let delete_rate = delete_baseline(&bench, copies).await?;
    Row::reference(
        BENCH,
        "MongoDB delete of the same documents (baseline)",
        delete_rate,
        "samples/s",
    )
    .detail("one delete_many per collar-day by seq, as the pass deletes")
    .record();
    let both = 1.0 / (1.0 / read_rate + 1.0 / delete_rate);

    let track_before = time_track(&bench).await?;
    let started = Instant::now();
    let report = archive::run_pass(
        stores(&bench.stores),
        &RollupsSettled(bench.stores.pg.clone()),
        &options,
    )
    .await?;
    let pass_time = started.elapsed();
    println!(
        "archival pass (read + compress + upload + verify + delete): {} samples, {} objects in {:.2} s = {:.0} samples/s ({:.0}% of the baseline read rate, {:.0}% of the store's read-then-delete rate, {both:.0} samples/s)",
        report.samples,
        report.objects,
        pass_time.as_secs_f64(),
        report.samples as f64 / pass_time.as_secs_f64(),
        100.0 * (report.samples as f64 / pass_time.as_secs_f64()) / read_rate,
        100.0 * (report.samples as f64 / pass_time.as_secs_f64()) / both
    );
    println!(
        "archive size: {} bytes = {:.1} bytes/sample zstd NDJSON (vs {:.1} as BSON: {:.1}× smaller)",
        report.bytes,
        report.bytes as f64 / report.samples.max(1) as f64,
        bson_bytes as f64 / read.max(1) as f64,
        bson_bytes as f64 / report.bytes.max(1) as f64
    );
    let pass_rate = report.samples as f64 / pass_time.as_secs_f64();
    Row::reference(BENCH, "archival pass", pass_rate, "samples/s")
        .better(Better::Higher)
        .detail(format!(
            "{} samples, {} objects in {:.1} s; {:.0} % of the store's read-then-delete rate",
            report.samples,
            report.objects,
            pass_time.as_secs_f64(),
            100.0 * pass_rate / both
        ))
        .record();
    Row::reference(
        BENCH,
        "archive size per sample (zstd NDJSON)",
        report.bytes as f64 / report.samples.max(1) as f64,
        "B",
    )
    .better(Better::Lower)
    .detail(format!(
        "{:.1} B as BSON",
        bson_bytes as f64 / read.max(1) as f64
    ))
    .record();
    let track_after = time_track(&bench).await?;
    for (figure, track) in [
        ("track, 30 days all hot, median", &track_before),
        ("track, 30 days archive + hot, median", &track_after),
    ] {
        let median = track.times[track.times.len() / 2].as_secs_f64() * 1e3;
        Row::reference(BENCH, figure, median, "ms")
            .better(Better::Lower)
            .detail(format!("{} points, {TRACK_RUNS} requests", track.points))
            .record();
    }
    print_track("track, 30 days, all hot (before the pass)", &track_before);
    print_track(
        "track, 30 days, archive + hot (after the pass)",
        &track_after,
    );
    Ok(())
}

/// Baseline: the MongoDB server deleting the same documents the way the pass does (one
/// `delete_many` per collar and UTC day, by `seq`), from a scratch copy of them. Returns
/// documents deleted per second.
async fn delete_baseline(bench: &Bench, copies: Vec<Document>) -> anyhow::Result<f64> {
    let scratch = bench
        .stores
        .mongo
        .collection::<Document>("telemetry_delete_baseline");
    scratch.drop().await?;
    let mut days: std::collections::BTreeMap<(String, i64), Vec<i64>> = Default::default();
    for doc in &copies {
        let collar = doc.get_document("meta")?.get_str("collar")?.to_owned();
        let day = doc
            .get_datetime("at")?
            .timestamp_millis()
            .div_euclid(DAY_MS);
        let seq = pettysync::store::fields::integer(doc, "seq").context("a seq")?;
        days.entry((collar, day)).or_default().push(seq);
    }
    let total = copies.len();
    for chunk in copies.chunks(10_000) {
        scratch.insert_many(chunk.to_vec()).await?;
    }
    let started = Instant::now();
    let mut deleted = 0;
    for ((collar, day), seqs) in days {
        let filter = doc! {
            "meta.collar": collar,
            "at": { "$gte": BsonDateTime::from_millis(day * DAY_MS), "$lt": BsonDateTime::from_millis((day + 1) * DAY_MS) },
            "seq": { "$in": seqs },
        };
        deleted += scratch.delete_many(filter).await?.deleted_count;
    }
    let took = started.elapsed();
    scratch.drop().await?;
    anyhow::ensure!(
        deleted as usize == total,
        "the baseline deleted {deleted} of {total}"
    );
    println!(
        "MongoDB delete (baseline): {deleted} documents in {:.2} s = {:.0} samples/s, one delete per collar-day by seq as the pass deletes",
        took.as_secs_f64(),
        deleted as f64 / took.as_secs_f64()
    );
    Ok(deleted as f64 / took.as_secs_f64())
}

fn stores(stores: &ArchiveStores) -> archive::Stores<'_> {
    archive::Stores {
        pg: &stores.pg,
        mongo: &stores.mongo,
        s3: &stores.s3,
    }
}

/// What `TRACK_RUNS` track requests took, the points they answered and memory around them.
struct TrackFigures {
    times: Vec<Duration>,
    points: usize,
    rss_before_kib: u64,
    rss_after_kib: u64,
    peak_kib: u64,
}

async fn time_track(bench: &Bench) -> anyhow::Result<TrackFigures> {
    let rss_before_kib = proc_status("VmRSS:");
    let mut times = Vec::new();
    let mut points = 0;
    for _ in 0..TRACK_RUNS {
        let started = Instant::now();
        let body: serde_json::Value = bench.track_30_days().await?;
        times.push(started.elapsed());
        points = body["points"].as_array().map_or(0, Vec::len);
    }
    times.sort();
    Ok(TrackFigures {
        times,
        points,
        rss_before_kib,
        rss_after_kib: proc_status("VmRSS:"),
        peak_kib: proc_status("VmHWM:"),
    })
}

fn print_track(what: &str, figures: &TrackFigures) {
    println!(
        "{what}: {} points (max_points 10000, the whole range read and downsampled while streaming), median {:.0} ms, slowest {:.0} ms over {TRACK_RUNS} requests; process RSS {} → {} MiB (peak so far {} MiB)",
        figures.points,
        figures.times[figures.times.len() / 2].as_secs_f64() * 1e3,
        figures.times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
        figures.rss_before_kib / 1024,
        figures.rss_after_kib / 1024,
        figures.peak_kib / 1024
    );
}

/// A `/proc/self/status` figure in KiB (0 where there is none).
fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
