//! The measuring task: set-up, then each phase in order on a fresh broker (cold start,
//! ingest, latency, memory), each skipped when an earlier one failed.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;
use mongodb::bson::Document;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rumqttc::QoS;
use secrecy::ExposeSecret;

use crate::collars::{burst, deal, join_hands, Collar};
use crate::cpu::CpuTimes;
use crate::ingest::ingest;
use crate::latency::latency;
use crate::memory::memory;
use crate::metrics::{metric_sum, print_persistence, scrape};
use crate::mqtt::{publishers, Publisher};
use crate::server::{wait_ready, Ctx};
use crate::setup::{setup, SETUP_IN_FLIGHT};
use crate::summary::Summary;
use crate::telemetry::{drain, insert_baseline, probe_duplicate_check, stored_count};
use crate::units::grouped;

const SERVER_READY_BUDGET: Duration = Duration::from_secs(30);
const SETUP_BUDGET: Duration = Duration::from_secs(150);
/// How long a broker restart may take, until the server has re-subscribed.
const BROKER_SWAP_BUDGET: Duration = Duration::from_secs(30);
/// How long the collars' first samples (cold actors) may take.
const WARM_UP_BUDGET: Duration = Duration::from_secs(150);

pub(crate) async fn measure(ctx: Ctx, mut summary: Summary) -> Summary {
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
    let run = &ctx.server.run_id;
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
    match insert_baseline(&mongo, &collars, &ctx.plan).await {
        Ok((rate, docs)) => summary.set_store_insert(rate, docs),
        Err(error) => summary.fail(format!("MongoDB insert baseline: {error}")),
    }
    let Some(mut collars) =
        ingest(&ctx, &publishers, collars, &telemetry, &http, &mut summary).await
    else {
        return summary;
    };
    if let Some(metrics) = scrape(&http, &ctx.server).await {
        print_persistence(&metrics);
    }
    probe_duplicate_check(&mongo, &collars).await;

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
    } else {
        clock.say(format!(
            "cold start: timed out: {} of {} first samples stored in {:.1} s",
            grouped(stored.saturating_sub(stored_before)),
            grouped(count),
            took.as_secs_f64()
        ));
    }
    summary.set_cold_start(count, took, complete);
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
