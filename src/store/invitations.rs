//! Invitations to a pet's family, addressed to an email whether or not an account has it. An
//! account with the address joins at once; an address without one is claimed later by an
//! account with that address and the invitation's code (passed on by the owner), since
//! nobody verifies that whoever registers an address owns it. The answer to an add never
//! tells which emails have accounts.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::ids::{PetId, UserId};

/// An invitation as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub pet_id: PetId,
    pub email: String,
    pub role: String,
    pub invited_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "i.id, i.pet_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at";

/// A new invitation to send.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub pet_id: PetId,
    pub email: &'a str,
    pub role: &'a str,
    pub invited_by: UserId,
    pub expires_at: DateTime<Utc>,
}

/// Invites an address with a claim code (stored hashed); inviting it again renews the pending
/// invitation (same id) with the new code, so only the latest code claims it.
pub async fn invite(
    pg: &PgPool,
    new: &NewInvitation<'_>,
    code_hash: &[u8],
) -> Result<InvitationRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO pet_invitations AS i (id, pet_id, email, role, invited_by, expires_at, code_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (pet_id, lower(email)) DO UPDATE
             SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by,
                 expires_at = EXCLUDED.expires_at, code_hash = EXCLUDED.code_hash
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(new.pet_id)
    .bind(new.email)
    .bind(new.role)
    .bind(new.invited_by)
    .bind(new.expires_at)
    .bind(code_hash)
    .fetch_one(pg)
    .await
}

/// True when an account with this email is a member of the pet already.
pub async fn is_member_email(pg: &PgPool, pet: PetId, email: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM pet_members m JOIN users u ON u.id = m.user_id
         WHERE m.pet_id = $1 AND lower(u.email) = lower($2)",
    )
    .bind(pet)
    .bind(email)
    .fetch_optional(pg)
    .await?;
    Ok(row.is_some())
}

/// Pending (unexpired) invitations of a pet other than to `email`: the cap's count.
pub async fn pending_count_besides(
    pg: &PgPool,
    pet: PetId,
    email: &str,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pet_invitations
         WHERE pet_id = $1 AND expires_at > now() AND lower(email) <> lower($2)",
    )
    .bind(pet)
    .bind(email)
    .fetch_one(pg)
    .await?;
    Ok(count)
}

/// Makes the pet's pending invitation to `email` a membership of `user`, who has that
/// address (the owner added an existing account: it joins at once).
pub async fn join_now(
    pg: &PgPool,
    pet: PetId,
    user: UserId,
    email: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pg.begin().await?;
    let taken: Option<(String,)> = sqlx::query_as(
        "DELETE FROM pet_invitations WHERE pet_id = $1 AND lower(email) = lower($2)
         RETURNING role",
    )
    .bind(pet)
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((role,)) = taken {
        add_member(&mut tx, pet, user, &role).await?;
    }
    tx.commit().await
}

/// Claims the unexpired invitation with this code for `user`, whose address it must be
/// addressed to: the pet and role joined, or `None` (unknown code, another address,
/// expired, or the user owns the pet).
pub async fn claim(
    pg: &PgPool,
    user: UserId,
    email: &str,
    code_hash: &[u8],
) -> Result<Option<(PetId, String)>, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let taken: Option<(PetId, String)> = sqlx::query_as(
        "DELETE FROM pet_invitations i USING pets p
         WHERE i.code_hash = $1 AND lower(i.email) = lower($2) AND i.expires_at > now()
           AND p.id = i.pet_id AND p.owner_id <> $3
         RETURNING i.pet_id, i.role",
    )
    .bind(code_hash)
    .bind(email)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((pet, role)) = &taken {
        add_member(&mut tx, *pet, user, role).await?;
    }
    tx.commit().await?;
    Ok(taken)
}

async fn add_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    pet: PetId,
    user: UserId,
    role: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pet_members (pet_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(pet)
    .bind(user)
    .bind(role)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Withdraws an invitation of the pet; false when there is none.
pub async fn withdraw(pg: &PgPool, pet: PetId, invitation: Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM pet_invitations WHERE id = $1 AND pet_id = $2")
        .bind(invitation)
        .bind(pet)
        .execute(pg)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Withdraws the pet's invitations to the email of `user` (who is being removed).
pub async fn withdraw_for_user<'e>(
    executor: impl PgExecutor<'e>,
    pet: PetId,
    user: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM pet_invitations i USING users u
         WHERE i.pet_id = $1 AND u.id = $2 AND lower(i.email) = lower(u.email)",
    )
    .bind(pet)
    .bind(user)
    .execute(executor)
    .await?;
    Ok(())
}
