//! Push devices (phones registered for push) and notifications; the pushes still owed are
//! in [`outbox`].

pub mod outbox;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::page::Page;
use crate::ids::{PetId, UserId};

/// The push services a phone can be registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Apns,
    Fcm,
}

impl Platform {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: Uuid,
    pub platform: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A registration's outcome: the device, and whether it is new.
#[derive(Debug)]
pub struct Registered {
    pub device: DeviceRow,
    pub created: bool,
}

const DEVICE_COLUMNS: &str = "id, platform, enabled, created_at, disabled_at";

/// Enabled devices of `user`, not counting the one with this token.
pub async fn enabled_devices_except(
    pg: &PgPool,
    user: UserId,
    platform: Platform,
    token_hash: &[u8],
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM push_devices
         WHERE user_id = $1 AND enabled AND NOT (platform = $2 AND token_hash = $3)",
    )
    .bind(user)
    .bind(platform.as_str())
    .bind(token_hash)
    .fetch_one(pg)
    .await?;
    Ok(count)
}

/// Registers the token for `user`, or takes over its registration: a phone that changed
/// hands moves to its new user, re-enabled, and the pushes still owed to the previous user
/// on it are closed.
pub async fn register_device(
    pg: &PgPool,
    user: UserId,
    platform: Platform,
    token_hash: &[u8],
    endpoint_arn: &str,
) -> Result<Registered, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let previous: Option<(Uuid, UserId)> = sqlx::query_as(
        "SELECT id, user_id FROM push_devices WHERE platform = $1 AND token_hash = $2 FOR UPDATE",
    )
    .bind(platform.as_str())
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let device: DeviceRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO push_devices (id, user_id, platform, token_hash, endpoint_arn)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (platform, token_hash) DO UPDATE
         SET user_id = EXCLUDED.user_id, endpoint_arn = EXCLUDED.endpoint_arn,
             enabled = true, disabled_at = NULL
         RETURNING {DEVICE_COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(user)
    .bind(platform.as_str())
    .bind(token_hash)
    .bind(endpoint_arn)
    .fetch_one(&mut *tx)
    .await?;
    if let Some((id, owner)) = previous {
        if owner != user {
            outbox::close_pending_of_device(
                &mut tx,
                id,
                "the device was registered by another user",
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Registered {
        device,
        created: previous.is_none(),
    })
}

/// The caller's devices, newest first.
pub async fn list_devices(
    pg: &PgPool,
    user: UserId,
    page: &Page,
) -> Result<Vec<DeviceRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM push_devices
         WHERE user_id = $1 AND (created_at, id) < ($2, $3)
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )))
    .bind(user)
    .bind(page.before_at())
    .bind(page.before_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

/// Deletes one of `user`'s devices (its pending pushes go with it); returns its endpoint
/// ARN, or `None` when the user has no such device.
pub async fn delete_device(
    pg: &PgPool,
    user: UserId,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "DELETE FROM push_devices WHERE id = $1 AND user_id = $2 RETURNING endpoint_arn",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(pg)
    .await?;
    Ok(row.map(|(arn,)| arn))
}

/// How many enabled devices `user` has (zero: nothing to push).
pub async fn enabled_devices(conn: &mut PgConnection, user: UserId) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM push_devices WHERE user_id = $1 AND enabled")
            .bind(user)
            .fetch_one(conn)
            .await?;
    Ok(count)
}

/// A notification to store.
#[derive(Debug)]
pub struct NewNotification<'a> {
    pub user: UserId,
    /// An alert kind, or `follow`, `like`, `comment`.
    pub kind: &'a str,
    pub at: DateTime<Utc>,
    pub data: &'a serde_json::Value,
}

/// Stores a notification and, when `push`, one outbox row per enabled device of its user,
/// in one transaction. Returns the outbox rows made.
pub async fn insert_notification(
    pg: &PgPool,
    new: &NewNotification<'_>,
    push: bool,
) -> Result<u64, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let queued = insert_notification_in(&mut tx, new, push).await?;
    tx.commit().await?;
    Ok(queued)
}

/// [`insert_notification`] inside the caller's transaction.
pub async fn insert_notification_in(
    conn: &mut PgConnection,
    new: &NewNotification<'_>,
    push: bool,
) -> Result<u64, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, at, data) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(new.user)
    .bind(new.kind)
    .bind(new.at)
    .bind(Json(new.data))
    .execute(&mut *conn)
    .await?;
    let mut queued = 0;
    if push {
        queued = sqlx::query(
            "INSERT INTO push_outbox (notification_id, device_id)
             SELECT $1, id FROM push_devices WHERE user_id = $2 AND enabled",
        )
        .bind(id)
        .bind(new.user)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(queued)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: Uuid,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub data: Json<serde_json::Value>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The user's notifications, newest first.
pub async fn list_notifications(
    pg: &PgPool,
    user: UserId,
    page: &Page,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, at, data, read_at, created_at FROM notifications
         WHERE user_id = $1 AND (created_at, id) < ($2, $3)
         ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(user)
    .bind(page.before_at())
    .bind(page.before_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

/// Marks one of the user's notifications read (the first time counts); false when the user
/// has no such notification.
pub async fn mark_read(pg: &PgPool, user: UserId, id: Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE notifications SET read_at = COALESCE(read_at, now()) WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user)
    .execute(pg)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// The pet's name and, when `fence` is one of its geofences, that fence's name.
pub async fn alert_names(
    conn: &mut PgConnection,
    pet: PetId,
    fence: Option<Uuid>,
) -> Result<(Option<String>, Option<String>), sqlx::Error> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT p.name, g.name FROM pets p
         LEFT JOIN geofences g ON g.id = $2 AND g.pet_id = p.id
         WHERE p.id = $1",
    )
    .bind(pet)
    .bind(fence)
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or((None, None), |(pet, fence)| (Some(pet), fence)))
}

pub async fn display_name(pg: &PgPool, user: UserId) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT display_name FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(pg)
        .await?;
    Ok(row.map(|(name,)| name))
}
