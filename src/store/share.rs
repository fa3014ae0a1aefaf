//! Share links: time-limited, revocable views of one pet. Only the SHA-256 of a link's token
//! is stored; the token itself is shown once, when the link is created.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::page::Page;
use crate::ids::{PetId, UserId};

/// A share link as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShareLinkRow {
    pub id: Uuid,
    pub pet_id: PetId,
    pub label: Option<String>,
    /// Canonical order, no repeats (checked before insert).
    pub scopes: Vec<String>,
    pub precision: String,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
}

/// A link that may be used now, with what its viewers see of the pet's profile.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActiveLink {
    #[sqlx(flatten)]
    pub link: ShareLinkRow,
    pub pet_name: String,
    pub pet_species: String,
}

/// A link to create.
#[derive(Debug, Clone)]
pub struct NewShareLink {
    pub pet_id: PetId,
    pub created_by: UserId,
    pub label: Option<String>,
    pub token_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub precision: String,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, pet_id, label, scopes, precision, expires_at, revoked_at, created_at, created_by";

pub async fn create(pg: &PgPool, link: &NewShareLink) -> Result<ShareLinkRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO share_links (id, pet_id, created_by, label, token_hash, scopes, precision, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(link.pet_id)
    .bind(link.created_by)
    .bind(&link.label)
    .bind(&link.token_hash)
    .bind(&link.scopes)
    .bind(&link.precision)
    .bind(link.expires_at)
    .fetch_one(pg)
    .await
}

/// A pet's links, oldest first, revoked and expired ones included.
pub async fn list(pg: &PgPool, pet: PetId, page: &Page) -> Result<Vec<ShareLinkRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM share_links WHERE pet_id = $1 AND (created_at, id) > ($2, $3)
         ORDER BY created_at, id LIMIT $4"
    )))
    .bind(pet)
    .bind(page.after_at())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

/// The pet a link shows, if the link exists.
pub async fn pet_of(pg: &PgPool, link: Uuid) -> Result<Option<PetId>, sqlx::Error> {
    let row: Option<(PetId,)> = sqlx::query_as("SELECT pet_id FROM share_links WHERE id = $1")
        .bind(link)
        .fetch_optional(pg)
        .await?;
    Ok(row.map(|(pet,)| pet))
}

/// Revokes a link; revoking it again keeps the first revocation's time.
pub async fn revoke(pg: &PgPool, link: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE share_links SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(link)
        .execute(pg)
        .await?;
    Ok(())
}

/// The link with this token hash, if it is neither revoked nor expired.
pub async fn active_by_token(
    pg: &PgPool,
    token_hash: &[u8],
) -> Result<Option<ActiveLink>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.pet_id, s.label, s.scopes, s.precision, s.expires_at, s.revoked_at,
                s.created_at, s.created_by, p.name AS pet_name, p.species AS pet_species
         FROM share_links s JOIN pets p ON p.id = s.pet_id
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()",
    )
    .bind(token_hash)
    .fetch_optional(pg)
    .await
}

/// True while the link is neither revoked nor expired (nor deleted with its pet).
pub async fn is_active(pg: &PgPool, link: Uuid) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM share_links WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(link)
    .fetch_optional(pg)
    .await?;
    Ok(row.is_some())
}

/// Revokes the links of a pet that `creator` made and that may still have viewers (they
/// left the pet); the ids of those links, to close their sessions.
pub async fn revoke_created_by<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    pet: PetId,
    creator: UserId,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "UPDATE share_links SET revoked_at = now()
         WHERE pet_id = $1 AND created_by = $2 AND revoked_at IS NULL AND expires_at > now()
         RETURNING id",
    )
    .bind(pet)
    .bind(creator)
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Ids of a pet's links that may still have viewers (not revoked, not expired).
pub async fn open_links_of_pet(pg: &PgPool, pet: PetId) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM share_links WHERE pet_id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(pet)
    .fetch_all(pg)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
