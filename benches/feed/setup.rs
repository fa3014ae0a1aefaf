//! The set-up's requests and rows: a checked POST, published posts inserted with their
//! outbox rows as the publish path writes them, and the wait for the fan-out to drain them.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

const DRAIN_BUDGET: Duration = Duration::from_secs(120);
pub(crate) const POSTS_PER_TX: usize = 500;
/// Seconds between consecutive posts' `published_at`, newest now.
const POST_SPACING_S: i64 = 10;

/// POSTs to `url` (with a bearer token and a JSON body when given) and checks the status;
/// returns the JSON answer (null when there is none).
pub(crate) async fn post(
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    body: Option<Value>,
    want: u16,
) -> anyhow::Result<Value> {
    let mut request = client.post(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    if status != want {
        bail!("POST {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Published posts by `authors` (one each, `published_at` spaced back from now), with their
/// outbox rows, as the publish path writes them.
pub(crate) async fn insert_posts(pg: &PgPool, authors: &[Uuid]) -> anyhow::Result<()> {
    let now = Utc::now();
    for (chunk_no, chunk) in authors.chunks(POSTS_PER_TX).enumerate() {
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::new_v4()).collect();
        let keys: Vec<String> = chunk
            .iter()
            .zip(&ids)
            .map(|(author, post)| format!("media/{author}/{post}.jpg"))
            .collect();
        let at: Vec<DateTime<Utc>> = (0..chunk.len())
            .map(|k| {
                let age = (authors.len() - chunk_no * POSTS_PER_TX - k) as i64 * POST_SPACING_S;
                now - TimeDelta::seconds(age)
            })
            .collect();
        let mut tx = pg.begin().await?;
        sqlx::query(
            "INSERT INTO posts (id, author_id, caption, media_key, media_content_type,
                                media_size_bytes, status, published_at)
             SELECT id, author, 'a walk in the park', key, 'image/jpeg', 1000, 'published', at
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[])
                  AS t(id, author, key, at)",
        )
        .bind(&ids)
        .bind(chunk)
        .bind(&keys)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .context("inserting posts")?;
        sqlx::query(
            "INSERT INTO feed_outbox (post_id, author_id)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[])",
        )
        .bind(&ids)
        .bind(chunk)
        .execute(&mut *tx)
        .await
        .context("inserting outbox rows")?;
        tx.commit().await?;
    }
    Ok(())
}

pub(crate) async fn wait_drained(pg: &PgPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + DRAIN_BUDGET;
    loop {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM feed_outbox WHERE processed_at IS NULL")
                .fetch_one(pg)
                .await?;
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{pending} outbox rows still pending after {DRAIN_BUDGET:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
