//! Geofences of a pet; the geometry is stored as the validated GeoJSON-style JSON.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};

use crate::domain::page::Page;
use crate::ids::{GeofenceId, PetId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FenceRow {
    pub id: GeofenceId,
    pub pet_id: PetId,
    pub name: String,
    pub kind: String,
    pub geometry: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The editable fields of a fence, validated.
pub struct FenceFields {
    pub name: String,
    pub kind: String,
    pub geometry: serde_json::Value,
}

const COLUMNS: &str = "id, pet_id, name, kind, geometry, created_at, updated_at";

/// Adds a fence unless the pet has `max` already (`None` then). Creates for one pet take
/// turns on the pet's row, so parallel creates cannot overshoot `max`.
pub async fn create(
    pg: &PgPool,
    pet: PetId,
    fields: &FenceFields,
    max: i64,
) -> Result<Option<FenceRow>, sqlx::Error> {
    let mut tx = pg.begin().await?;
    // NO KEY UPDATE: creates queue behind each other, while inserts that only reference the
    // pet (alerts, samples' foreign keys) are not held up.
    sqlx::query("SELECT 1 FROM pets WHERE id = $1 FOR NO KEY UPDATE")
        .bind(pet)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM geofences WHERE pet_id = $1")
        .bind(pet)
        .fetch_one(&mut *tx)
        .await?;
    if count >= max {
        return Ok(None);
    }
    let fence = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO geofences (id, pet_id, name, kind, geometry) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(GeofenceId::new())
    .bind(pet)
    .bind(&fields.name)
    .bind(&fields.kind)
    .bind(Json(&fields.geometry))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(fence))
}

pub async fn get(pg: &PgPool, id: GeofenceId) -> Result<Option<FenceRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM geofences WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pg)
    .await
}

pub async fn list(pg: &PgPool, pet: PetId, page: &Page) -> Result<Vec<FenceRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM geofences WHERE pet_id = $1 AND (created_at, id) > ($2, $3)
         ORDER BY created_at, id LIMIT $4"
    )))
    .bind(pet)
    .bind(page.after_at())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

pub async fn update(
    pg: &PgPool,
    id: GeofenceId,
    fields: &FenceFields,
) -> Result<FenceRow, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE geofences SET name = $2, kind = $3, geometry = $4, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(&fields.name)
    .bind(&fields.kind)
    .bind(Json(&fields.geometry))
    .fetch_one(pg)
    .await
}

pub async fn delete(pg: &PgPool, id: GeofenceId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM geofences WHERE id = $1")
        .bind(id)
        .execute(pg)
        .await?;
    Ok(())
}
