//! Phase 5, memory: K more collars (provisioned, not paired) send one sample each, in two
//! halves; the growth of this process's memory per new actor is the cost of an idle collar.

use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use mongodb::bson::Document;
use pettysync::ids::CollarSerial;
use secrecy::ExposeSecret;

use crate::collars::{burst, deal, home_of, join_hands, Collar};
use crate::metrics::{collar_actors, print_failed_acks, scrape};
use crate::mqtt::Publisher;
use crate::rss::{mib, per_actor, settled, Reading};
use crate::server::{Ctx, ServerInfo};
use crate::setup::SETUP_IN_FLIGHT;
use crate::summary::Summary;
use crate::telemetry::stored_count;
use crate::units::grouped;

const MEMORY_BUDGET: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
pub(crate) struct MemoryFigure {
    /// Growth per actor of the second half: the cost of one more actor, without one-time
    /// growth (pools, maps doubling). RSS, and the allocator's bytes in use when known.
    pub(crate) rss_marginal: f64,
    pub(crate) heap_marginal: Option<f64>,
    /// Growth per actor over all K.
    pub(crate) rss_overall: f64,
    pub(crate) heap_overall: Option<f64>,
    pub(crate) collars: u64,
    pub(crate) complete: bool,
}

/// K unpaired collars send one sample each, in two halves; the memory growth per new actor
/// is the cost of an idle collar actor.
pub(crate) async fn memory(
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
    let run = &ctx.server.run_id[..8];
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
    summary.set_memory(MemoryFigure {
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
