//! Users and their refresh-token families.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::{random_token, token_hash, REFRESH_TOKEN_TTL_DAYS};
use crate::ids::UserId;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// Inserts a user; `Ok(None)` when the email (in any case) is taken.
pub async fn create_user(
    pg: &PgPool,
    email: &str,
    display_name: &str,
    password_hash: &str,
) -> Result<Option<User>, sqlx::Error> {
    let result = sqlx::query_as::<_, User>(
        "INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)
         RETURNING id, email, display_name, password_hash, created_at",
    )
    .bind(UserId::new())
    .bind(email)
    .bind(display_name)
    .bind(password_hash)
    .fetch_one(pg)
    .await;
    match result {
        Ok(user) => Ok(Some(user)),
        Err(error) if super::is_unique_violation(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

pub async fn user_by_email(pg: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, display_name, password_hash, created_at FROM users WHERE lower(email) = lower($1)")
        .bind(email)
        .fetch_optional(pg)
        .await
}

pub async fn user_by_id(pg: &PgPool, id: UserId) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, display_name, password_hash, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pg)
    .await
}

/// Starts a new token family (a sign-in); returns its first refresh token and the family.
pub async fn start_family(pg: &PgPool, user: UserId) -> Result<(String, Uuid), sqlx::Error> {
    let token = random_token();
    let family = Uuid::new_v4();
    insert_token(pg, user, family, &token).await?;
    Ok((token, family))
}

async fn insert_token<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    user: UserId,
    family: Uuid,
    token: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(user)
    .bind(family)
    .bind(token_hash(token))
    .bind(Utc::now() + Duration::days(REFRESH_TOKEN_TTL_DAYS))
    .execute(executor)
    .await?;
    Ok(())
}

/// id, user, family, expiry, used, revoked.
type TokenRow = (
    Uuid,
    UserId,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// What presenting a refresh token led to.
pub enum Rotation {
    /// The token was live: it is now used, and this is its successor in the same family.
    Rotated {
        user: UserId,
        token: String,
        family: Uuid,
    },
    /// Unknown, expired or revoked: refused.
    Refused,
    /// Already used once: a copy is in someone else's hands, so the whole family is revoked.
    Reused,
}

/// Uses up a refresh token and issues its successor in the same family, atomically; a row
/// lock makes two concurrent refreshes with one token count as a reuse.
pub async fn rotate(pg: &PgPool, token: &str) -> Result<Rotation, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens
             WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, user, family, expires_at, used_at, revoked_at)) = row else {
        return Ok(Rotation::Refused);
    };
    if revoked_at.is_some() || expires_at <= Utc::now() {
        return Ok(Rotation::Refused);
    }
    if used_at.is_some() {
        revoke_family_in(&mut *tx, family).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let next = random_token();
    insert_token(&mut *tx, user, family, &next).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated {
        user,
        token: next,
        family,
    })
}

/// Revokes the family the token belongs to (sign-out); its user and family, `None` for an
/// unknown token. A family revoked already (by reuse) is named too, so its sessions end.
pub async fn revoke_family_of(
    pg: &PgPool,
    token: &str,
) -> Result<Option<(UserId, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "WITH family AS (SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1),
              revoked AS (
                  UPDATE refresh_tokens SET revoked_at = now()
                  WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM family))
         SELECT user_id, family_id FROM family",
    )
    .bind(token_hash(token))
    .fetch_optional(pg)
    .await
}

async fn revoke_family_in<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    family: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(executor)
    .await?;
    Ok(())
}
