//! Phase 4, latency: the pacing publishers (a keep-alive rate, then each window's rate),
//! the windows' rates, and the phase as a whole; the sessions live in the WebSocket client
//! process (`ws_clients`), the windows run in `windows`, the figures come from `figures`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rumqttc::{AsyncClient, QoS};

use crate::collars::{deal, gather, Collar, JOIN_WAIT};
use crate::figures::latency_figures;
use crate::ingest::IngestFigure;
use crate::metrics::{metric_sum, print_failed_acks, scrape};
use crate::mqtt::{Publisher, PUBLISHERS};
use crate::plan::{Plan, CAPACITY_SHARE};
use crate::server::{Ctx, LIVE_GRACE_S};
use crate::summary::Summary;
use crate::units::{grouped, wall_ns};
use crate::windows::watch_windows;
use crate::ws_clients::WS_IN_FLIGHT;

/// A watched pet's collar is called offline after 3 × 3 s of silence, and an offline alert
/// goes to every session of the owner: while sessions are open every collar reports at
/// least this often, so no alert storm skews the latency.
const KEEPALIVE_EVERY_S: f64 = 2.0;
/// Pacing tick of the latency publishers, and the most credit a stalled one may catch up.
const PACE_TICK: Duration = Duration::from_millis(1);
const MAX_CATCH_UP_S: f64 = 0.05;
/// Bounds on what the latency phase keeps in memory.
const MAX_SENT: usize = 2_000_000;

/// One recording window: its target rate and what was measured.
#[derive(Debug, Clone)]
pub(crate) struct LatencyFigure {
    pub(crate) target_rate: u32,
    pub(crate) sessions: usize,
    pub(crate) achieved_rate: f64,
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    pub(crate) matched: u64,
    pub(crate) expected: u64,
}

/// How fast the pacing publishers go, and whether (for which window) they note what they send.
pub(crate) struct Pace {
    /// Messages per second of each publisher, as `f64` bits.
    per_publisher: AtomicU64,
    /// 0 while not recording, else the window's number (from 1).
    pub(crate) recording: AtomicUsize,
    stop: AtomicBool,
}

impl Pace {
    pub(crate) fn set_total(&self, per_second: f64) {
        self.per_publisher.store(
            (per_second / PUBLISHERS as f64).to_bits(),
            Ordering::Relaxed,
        );
    }
}

/// A sample sent while recording: which collar, its `ts`, when it was published, in which window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) collar: u32,
    pub(crate) ts: i64,
    pub(crate) at_ns: u64,
    pub(crate) window: usize,
}

/// A `state` frame as a client saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub(crate) pet: u32,
    pub(crate) ts: i64,
    pub(crate) at_ns: u64,
}

/// What a pacing publisher hands back.
struct PacedRun {
    pub(crate) hand: Vec<Collar>,
    pub(crate) sent: Vec<Sent>,
    pub(crate) published: u64,
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

/// The windows to record: first the target's, at [`CAPACITY_SHARE`] of what ingest sustained
/// (the real-time path without a storage backlog); then the fixed rate, as a diagnostic, except
/// in a quick run when it is above what ingest sustained (its figure is then the backlog's).
fn window_rates(plan: &Plan, ingest: Option<IngestFigure>, keepalive: f64) -> Vec<u32> {
    let mut rates = Vec::new();
    if let Some(ingest) = ingest {
        let share = (ingest.rate * CAPACITY_SHARE / 50.0).floor() as u32 * 50;
        rates.push(share.max(keepalive.ceil() as u32));
        if plan.quick && f64::from(plan.rate) > ingest.rate {
            return rates;
        }
    }
    if !rates.contains(&plan.rate) {
        rates.push(plan.rate);
    }
    rates
}

/// S WebSockets watching the pets; for each window, publish → `state` latency. Returns how
/// many samples it published (all of which the server will store).
pub(crate) async fn latency(
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
    if let Some((rss, heap)) = window.per_session {
        summary.set_session_memory(window.opened, rss, heap);
    }
    let figures = latency_figures(&window, &sent, pets);
    if let Some(metrics) = scrape(http, &ctx.server).await {
        let slow = metric_sum(&metrics, "pettysync_ws_slow_closed_total").unwrap_or(0.0);
        println!("  sessions the server closed as too slow: {slow}");
        print_failed_acks(&metrics);
    }
    // With an ingest figure the first window is the target's (at a share of capacity).
    let capacity = summary.ingest.is_some();
    for (i, figure) in figures.into_iter().enumerate() {
        if let Some(figure) = figure {
            summary.set_latency(&figure, capacity && i == 0);
        }
    }
    (gather(hands), published)
}
