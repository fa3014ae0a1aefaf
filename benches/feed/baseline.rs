//! The stores' own rates in the same run, beside the feed's: Redis `GET` and PostgreSQL
//! `SELECT 1`, with the client crates and pool settings the server uses (`deadpool-redis`
//! through `pettysync::cache::Redis`, `sqlx`), closed loop from the load generator's threads,
//! with each store's CPU per operation. A warm feed page should cost about one or two Redis
//! round trips, so the Redis rate bounds what the feed can reach on this machine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use deadpool_redis::redis::AsyncCommands;
use pettysync::cache::Redis;
use pettysync::config::Settings;
use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;

use crate::cpu::{cpu_sample, cpu_since};
use crate::support::summary::{number, Row};
use crate::Plan;

/// Requests in flight at once in each baseline, one connection each.
const IN_FLIGHT: usize = 16;
/// How long each baseline runs in a full run; a quick run takes half.
const LENGTH: Duration = Duration::from_secs(3);

/// Measures both stores and adds their rows to the run summary.
pub(crate) async fn store_baselines(settings: &Settings, plan: Plan) -> anyhow::Result<()> {
    let length = if plan.quick { LENGTH / 2 } else { LENGTH };
    let redis = Redis::new(settings)?;
    let key = redis.key("bench:baseline");
    {
        let mut conn = redis.conn().await?;
        let _: () = conn.set(&key, "a feed page's worth of bytes").await?;
    }
    let (rate, cpu) = closed_loop(length, 3, move || {
        let (redis, key) = (redis.clone(), key.clone());
        async move {
            let mut conn = redis.conn().await?;
            let _: Option<String> = conn.get(&key).await?;
            anyhow::Ok(())
        }
    })
    .await
    .context("Redis GET baseline")?;
    record(
        "Redis GET, closed loop (baseline)",
        "GET/s",
        rate,
        "Redis",
        cpu,
    );

    let pg = PgPoolOptions::new()
        .max_connections(IN_FLIGHT as u32)
        .connect(settings.database_url.expose_secret())
        .await
        .context("connecting to the bench database")?;
    let (rate, cpu) = closed_loop(length, 2, move || {
        let pg = pg.clone();
        async move {
            let _: (i32,) = sqlx::query_as("SELECT 1").fetch_one(&pg).await?;
            anyhow::Ok(())
        }
    })
    .await
    .context("PostgreSQL SELECT 1 baseline")?;
    record(
        "PostgreSQL SELECT 1, closed loop (baseline)",
        "queries/s",
        rate,
        "PostgreSQL",
        cpu,
    );
    Ok(())
}

fn record(figure: &str, unit: &'static str, rate: f64, store: &str, cpu_per_op_s: f64) {
    let per_op = 1e6 * cpu_per_op_s;
    println!(
        "  {figure}: {} {unit}; {store} CPU {per_op:.1} µs per operation",
        number(rate)
    );
    Row::reference("feed", figure, rate, unit)
        .detail(format!(
            "{IN_FLIGHT} at once; {store} CPU {per_op:.1} µs per operation"
        ))
        .record();
}

/// Runs `op` from [`IN_FLIGHT`] tasks back to back for `length`; returns operations per
/// second and the CPU seconds per operation of part `part` of [`cpu_sample`] (2 PostgreSQL,
/// 3 Redis).
async fn closed_loop<F, Fut>(length: Duration, part: usize, op: F) -> anyhow::Result<(f64, f64)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    // One operation each first, so connections are open before the clock starts.
    for _ in 0..IN_FLIGHT {
        op().await?;
    }
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let before = cpu_sample();
    let started = Instant::now();
    let until = started + length;
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (op, done) = (Arc::clone(&op), Arc::clone(&done));
            tokio::spawn(async move {
                while Instant::now() < until {
                    op().await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let (_, cpu) = cpu_since(&before);
    let ops = done.load(Ordering::Relaxed) as f64;
    Ok((ops / elapsed.as_secs_f64(), cpu[part] / ops.max(1.0)))
}
