//! Alerts raised by collar actors, and who receives them.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::alert::{Alert, AlertKind};
use crate::domain::page::Page;
use crate::ids::{PetId, UserId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: Uuid,
    pub pet_id: PetId,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub details: Json<serde_json::Value>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl AlertRow {
    /// The alert as clients see it; `None` for a kind this build does not know.
    pub fn into_alert(self) -> Option<Alert> {
        let kind: AlertKind = serde_json::from_value(serde_json::Value::String(self.kind)).ok()?;
        Some(Alert {
            id: self.id,
            pet_id: self.pet_id,
            kind,
            at: self.at.timestamp_millis(),
            details: self.details.0,
            acknowledged_at: self.acknowledged_at.map(|at| at.timestamp_millis()),
        })
    }
}

const COLUMNS: &str = "id, pet_id, kind, at, details, acknowledged_at, created_at";

/// An alert to store, with the id its raiser derived from what raised it.
#[derive(Debug, Clone, Copy)]
pub struct NewAlert<'a> {
    pub id: Uuid,
    pub pet: PetId,
    pub serial: &'a str,
    pub kind: AlertKind,
    pub at_ms: i64,
    pub details: &'a serde_json::Value,
}

/// Stores the alert unless one with its id is stored already; `None` then (it was raised
/// again after a crash, and handled the first time).
pub async fn insert_new(
    conn: &mut PgConnection,
    new: &NewAlert<'_>,
) -> Result<Option<Alert>, sqlx::Error> {
    let at = DateTime::from_timestamp_millis(new.at_ms).unwrap_or_else(Utc::now);
    let row: Option<AlertRow> = sqlx::query_as(
        "INSERT INTO alerts (id, pet_id, serial, kind, at, details) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO NOTHING
         RETURNING id, pet_id, kind, at, details, acknowledged_at, created_at",
    )
    .bind(new.id)
    .bind(new.pet)
    .bind(new.serial)
    .bind(new.kind.as_str())
    .bind(at)
    .bind(Json(new.details))
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(AlertRow::into_alert))
}

/// The owner and the members of a pet: everyone who gets its alerts.
pub async fn recipients(conn: &mut PgConnection, pet: PetId) -> Result<Vec<UserId>, sqlx::Error> {
    let rows: Vec<(UserId,)> = sqlx::query_as(
        "SELECT owner_id FROM pets WHERE id = $1 UNION SELECT user_id FROM pet_members WHERE pet_id = $1",
    )
    .bind(pet)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A pet's alerts, newest first.
pub async fn list(pg: &PgPool, pet: PetId, page: &Page) -> Result<Vec<AlertRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM alerts WHERE pet_id = $1 AND (created_at, id) < ($2, $3)
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )))
    .bind(pet)
    .bind(page.before_at())
    .bind(page.before_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

pub async fn get(pg: &PgPool, id: Uuid) -> Result<Option<AlertRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM alerts WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pg)
    .await
}

/// Marks the alert seen (the first acknowledgement wins) and returns it.
pub async fn acknowledge(pg: &PgPool, id: Uuid, by: UserId) -> Result<AlertRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE alerts SET acknowledged_at = COALESCE(acknowledged_at, now()),
                           acknowledged_by = COALESCE(acknowledged_by, $2)
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(by)
    .fetch_one(pg)
    .await
}
