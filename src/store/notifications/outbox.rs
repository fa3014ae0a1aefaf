//! The push outbox: pushes still owed to SNS, one row per notification and device.
//!
//! A row lives until SNS takes the push (`delivered_at`), or until it is closed for good:
//! its device was disabled or changed hands, SNS refused the message, or it expired. A
//! closed row keeps `delivered_at` NULL, says why in `last_error`, and is never due again
//! (`next_attempt_at = 'infinity'`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

/// A push that is due, with what sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DuePush {
    pub id: i64,
    /// Failed attempts so far.
    pub attempts: i32,
    pub device_id: Uuid,
    pub endpoint_arn: String,
    pub device_enabled: bool,
    pub notification_id: Uuid,
    pub kind: String,
    pub data: Json<serde_json::Value>,
    /// When the notification was made (pushes expire).
    pub created_at: DateTime<Utc>,
}

/// Claims up to `limit` due pushes for `lease`: they are not due again (for this or any
/// other server) until the lease ends, so a server that dies mid-send only delays them.
pub async fn claim_due(
    pg: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<DuePush>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM push_outbox
             WHERE delivered_at IS NULL AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT $1
             FOR UPDATE SKIP LOCKED
         )
         UPDATE push_outbox o SET next_attempt_at = now() + make_interval(secs => $2)
         FROM due, push_devices d, notifications n
         WHERE o.id = due.id AND d.id = o.device_id AND n.id = o.notification_id
         RETURNING o.id, o.attempts, d.id AS device_id, d.endpoint_arn,
                   d.enabled AS device_enabled, n.id AS notification_id, n.kind, n.data,
                   n.created_at",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pg)
    .await
}

/// SNS took the push.
pub async fn mark_delivered(pg: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE push_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL
         WHERE id = $1",
    )
    .bind(id)
    .execute(pg)
    .await?;
    Ok(())
}

/// An attempt failed for a passing reason: try again after `after`.
pub async fn reschedule(
    pg: &PgPool,
    id: i64,
    after: Duration,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE push_outbox
         SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
             last_error = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(after.as_secs_f64())
    .bind(error)
    .execute(pg)
    .await?;
    Ok(())
}

/// Closes a push for good; `attempted` when SNS was called for it this time.
pub async fn close(pg: &PgPool, id: i64, reason: &str, attempted: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE push_outbox
         SET attempts = attempts + $3, next_attempt_at = 'infinity', last_error = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(i32::from(attempted))
    .execute(pg)
    .await?;
    Ok(())
}

/// SNS says the device's endpoint is disabled or gone: the device is disabled, and every
/// push still owed to it (`attempted` among them) is closed with `reason`.
pub async fn disable_device(
    pg: &PgPool,
    device: Uuid,
    attempted: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pg.begin().await?;
    sqlx::query(
        "UPDATE push_devices SET enabled = false, disabled_at = now() WHERE id = $1 AND enabled",
    )
    .bind(device)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE push_outbox SET attempts = attempts + 1 WHERE id = $1")
        .bind(attempted)
        .execute(&mut *tx)
        .await?;
    close_pending_of_device(&mut tx, device, reason).await?;
    tx.commit().await
}

/// Pushes still owed (not delivered, not closed).
pub async fn pending_pushes(pg: &PgPool) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM push_outbox
         WHERE delivered_at IS NULL AND next_attempt_at < 'infinity'",
    )
    .fetch_one(pg)
    .await?;
    Ok(count)
}

/// Deletes up to `limit` finished (delivered or closed) outbox rows of notifications older
/// than `keep`; returns how many.
pub async fn prune_finished(pg: &PgPool, keep: Duration, limit: i64) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "DELETE FROM push_outbox WHERE id IN (
             SELECT o.id FROM push_outbox o JOIN notifications n ON n.id = o.notification_id
             WHERE n.created_at < now() - make_interval(secs => $1)
               AND (o.delivered_at IS NOT NULL OR o.next_attempt_at = 'infinity')
             LIMIT $2
         )",
    )
    .bind(keep.as_secs_f64())
    .bind(limit)
    .execute(pg)
    .await?;
    Ok(result.rows_affected())
}

/// Closes every push still owed to a device, with `reason`.
pub(super) async fn close_pending_of_device(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    device: Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE push_outbox SET next_attempt_at = 'infinity', last_error = $2
         WHERE device_id = $1 AND delivered_at IS NULL AND next_attempt_at < 'infinity'",
    )
    .bind(device)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
