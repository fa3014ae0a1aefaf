//! The feed outbox: one row per published post, written in the publishing transaction and
//! drained by the fan-out worker (claimed with `SKIP LOCKED`, marked processed, pruned).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ids::UserId;

/// An outbox row being drained, with its post's publication time when the post is
/// (still) published.
#[derive(Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub post_id: Uuid,
    pub author_id: UserId,
    pub published_at: Option<DateTime<Utc>>,
}

/// Locks up to `max_rows` unprocessed outbox rows, oldest first, skipping rows another
/// drain (on this node or another) holds.
pub async fn claim_outbox(
    tx: &mut PgConnection,
    max_rows: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id, o.post_id, o.author_id, p.published_at
         FROM feed_outbox o
         LEFT JOIN posts p ON p.id = o.post_id AND p.status = 'published'
         WHERE o.processed_at IS NULL
         ORDER BY o.id
         LIMIT $1
         FOR UPDATE OF o SKIP LOCKED",
    )
    .bind(max_rows)
    .fetch_all(tx)
    .await
}

pub async fn mark_processed(tx: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE feed_outbox SET processed_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(tx)
        .await?;
    Ok(())
}

/// Unprocessed outbox rows, for the backlog gauge.
pub async fn pending_outbox(pg: &PgPool) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM feed_outbox WHERE processed_at IS NULL")
            .fetch_one(pg)
            .await?;
    Ok(count)
}

/// Deletes up to `max_rows` rows processed more than `keep_s` seconds ago.
pub async fn prune_outbox(pg: &PgPool, keep_s: u64, max_rows: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM feed_outbox WHERE id IN (
             SELECT id FROM feed_outbox
             WHERE processed_at < now() - make_interval(secs => $1)
             ORDER BY id LIMIT $2)",
    )
    .bind(keep_s as f64)
    .bind(max_rows)
    .execute(pg)
    .await?;
    Ok(done.rows_affected())
}
