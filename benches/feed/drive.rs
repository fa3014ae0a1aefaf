//! One run after the server is up: users and follows, posts and their fan-out, the warm-up
//! that builds every timeline, the windows at the baseline and the target rate, the verdict.

use std::time::Instant;

use anyhow::{bail, Context as _};
use futures_util::{stream, StreamExt, TryStreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::baseline::store_baselines;
use crate::figures::{health_rows, low_rate_rows, target_rows};
use crate::setup::{insert_posts, post, wait_drained, POSTS_PER_TX};
use crate::window::{feed_path, load_window, ms, read_feed};
use crate::WARM_UP_BUDGET;
use crate::{Plan, Server, User, BASELINE_RATE, FOLLOWS_EACH, POOL_CONNECTIONS};
use crate::{REQUEST_TIMEOUT, SETUP_BUDGET, SETUP_IN_FLIGHT, TARGET_P99, TARGET_RATE};

/// Set-up, warm-up and both windows; `Ok(false)` when a window had non-200 answers.
pub(crate) async fn drive(plan: Plan, server: Server, started: Instant) -> anyhow::Result<bool> {
    let say = |message: String| println!("[{:6.1} s] {message}", started.elapsed().as_secs_f64());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(POOL_CONNECTIONS)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let base = server.base.as_str();
    let mut rng = StdRng::seed_from_u64(0x00fe_edbe_9c41);

    let run = Uuid::new_v4().simple();
    let registered = stream::iter(0..plan.users)
        .map(|i| {
            let body = json!({"email": format!("feed-{i}-{run}@example.com"),
                "password": "correct horse battery staple", "display_name": format!("Bench {i}")});
            let url = format!("{base}/v1/auth/register");
            post(client.clone(), url, None, Some(body), 201)
        })
        .buffered(SETUP_IN_FLIGHT)
        .try_collect::<Vec<Value>>();
    let registered = tokio::time::timeout(SETUP_BUDGET, registered)
        .await
        .context("registering took too long")??;
    let users = registered
        .iter()
        .map(|auth| {
            let id = auth.pointer("/user/id").and_then(Value::as_str);
            let token = auth.pointer("/access_token").and_then(Value::as_str);
            match (id.and_then(|id| id.parse().ok()), token) {
                (Some(id), Some(token)) => Ok(User {
                    id,
                    token: token.to_owned(),
                }),
                _ => bail!("register answered without an id or token: {auth}"),
            }
        })
        .collect::<anyhow::Result<Vec<User>>>()?;
    let mut follows = Vec::with_capacity(users.len() * FOLLOWS_EACH);
    for (i, user) in users.iter().enumerate() {
        let mut others: Vec<usize> = (0..users.len()).filter(|&j| j != i).collect();
        others.shuffle(&mut rng);
        for &j in others.iter().take(FOLLOWS_EACH) {
            follows.push((user.token.clone(), users[j].id));
        }
    }
    let follow_count = follows.len();
    let follows = stream::iter(follows)
        .map(|(token, followee)| {
            let url = format!("{base}/v1/users/{followee}/follow");
            post(client.clone(), url, Some(token), None, 204)
        })
        .buffer_unordered(SETUP_IN_FLIGHT)
        .try_collect::<Vec<Value>>();
    tokio::time::timeout(SETUP_BUDGET, follows)
        .await
        .context("following took too long")??;
    say(format!(
        "{} users registered, {follow_count} follows ({FOLLOWS_EACH} each)",
        users.len()
    ));

    let pg = PgPoolOptions::new()
        .max_connections(2)
        .connect(server.settings.database_url.expose_secret())
        .await
        .context("connecting to the bench database")?;
    let authors: Vec<Uuid> = (0..plan.posts)
        .map(|_| users[rng.gen_range(0..users.len())].id)
        .collect();
    insert_posts(&pg, &authors).await?;
    let drain_started = Instant::now();
    wait_drained(&pg).await?;
    say(format!(
        "{} published posts inserted ({POSTS_PER_TX} per transaction); outbox drained in {:.1} s",
        plan.posts,
        drain_started.elapsed().as_secs_f64()
    ));
    pg.close().await;

    let warm = Instant::now();
    let tokens: Vec<String> = users.iter().map(|user| user.token.clone()).collect();
    let reads = stream::iter(tokens)
        .map(|token| {
            let (client, base) = (client.clone(), base.to_owned());
            async move { read_feed(&client, &base, &token).await }
        })
        .buffer_unordered(POOL_CONNECTIONS)
        .collect::<Vec<u16>>();
    let statuses = tokio::time::timeout(WARM_UP_BUDGET, reads)
        .await
        .context("the warm-up took too long")?;
    let bad = statuses.iter().filter(|&&s| s != 200).count();
    if bad > 0 {
        bail!("{bad} of {} warm-up reads were not 200", statuses.len());
    }
    say(format!(
        "warm-up: {} feeds read (timelines built) in {:.2} s, up to {POOL_CONNECTIONS} at once",
        users.len(),
        warm.elapsed().as_secs_f64()
    ));

    say("store baselines: Redis GET and PostgreSQL SELECT 1, closed loop".to_owned());
    store_baselines(&server.settings, plan).await?;

    let mut all_ok = true;
    let mut last = None;
    let feed = feed_path();
    for rate in [BASELINE_RATE, TARGET_RATE] {
        say(format!(
            "window: GET {feed} at {rate} req/s for {} s, open loop",
            plan.window.as_secs()
        ));
        let window = load_window(&client, base, &feed, &users, rate, plan.window, &mut rng).await;
        all_ok &= window.errors == 0;
        if rate == TARGET_RATE {
            target_rows(&window, plan);
        } else {
            low_rate_rows(&window);
        }
        last = Some(window);
    }
    // The same generator against the cheapest route: the HTTP stack's own cost per request.
    say(format!(
        "baseline window: GET /healthz at {TARGET_RATE} req/s for {} s, open loop",
        plan.window.as_secs()
    ));
    let health = load_window(
        &client,
        base,
        "/healthz",
        &users,
        TARGET_RATE,
        plan.window,
        &mut rng,
    );
    let health = health.await;
    health_rows(&health);
    all_ok &= health.errors == 0;
    if let Some(window) = last {
        let p99 = window.p99;
        let met = window.errors == 0 && p99.is_some_and(|p| p <= TARGET_P99);
        println!(
            "target: p99 ≤ {} ms at {TARGET_RATE} req/s → {} (p99 {} at {:.0} req/s achieved, \
             {} errors{})",
            TARGET_P99.as_millis(),
            if met { "MET" } else { "MISSED" },
            p99.map_or("n/a".to_owned(), ms),
            window.achieved,
            window.errors,
            if plan.quick { "; quick run" } else { "" }
        );
    }
    Ok(all_ok)
}
