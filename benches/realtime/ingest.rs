//! Phase 3, ingest: N samples as fast as the publishers go, timed until MongoDB holds all N,
//! with progress lines from the server's metrics.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mongodb::bson::Document;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::collars::{burst, deal, join_hands, Collar};
use crate::cpu::CpuTimes;
use crate::metrics::{metric_sum, scrape};
use crate::mqtt::{share_of, Publisher, PUBLISHERS};
use crate::server::{Ctx, ServerInfo};
use crate::summary::Summary;
use crate::telemetry::stored_count;
use crate::units::grouped;

const INGEST_BUDGET: Duration = Duration::from_secs(150);
/// How often ingest progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How often the MongoDB sample count is read while ingest runs.
const COUNT_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub(crate) struct IngestFigure {
    pub(crate) rate: f64,
    pub(crate) stored: u64,
    pub(crate) elapsed: Duration,
    pub(crate) complete: bool,
}

/// N samples as fast as the publishers go; the clock stops when MongoDB holds all N.
pub(crate) async fn ingest(
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
    summary.set_ingest(figure, cpu_after.phase_since(&cpu_before));
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
