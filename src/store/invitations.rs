//! Invitations to a pet's family, addressed to an email whether or not an account has it:
//! the address joins the pet as a member as soon as an account has it. The answer to an
//! add never tells which emails have accounts.

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

/// Invites an address; inviting it again renews the pending invitation (same id).
pub async fn invite(pg: &PgPool, new: &NewInvitation<'_>) -> Result<InvitationRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO pet_invitations AS i (id, pet_id, email, role, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (pet_id, lower(email)) DO UPDATE
             SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by,
                 expires_at = EXCLUDED.expires_at
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(new.pet_id)
    .bind(new.email)
    .bind(new.role)
    .bind(new.invited_by)
    .bind(new.expires_at)
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

/// Makes the pending (unexpired) invitations addressed to `email` memberships of `user`, in
/// one transaction: an address an owner added joins the pet as soon as an account has it
/// (at once when it has one already, else when it registers). Returns the pets joined.
pub async fn join_pending(
    pg: &PgPool,
    user: UserId,
    email: &str,
) -> Result<Vec<PetId>, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let taken: Vec<(PetId, String)> = sqlx::query_as(
        "DELETE FROM pet_invitations i USING pets p
         WHERE lower(i.email) = lower($1) AND i.expires_at > now()
           AND p.id = i.pet_id AND p.owner_id <> $2
         RETURNING i.pet_id, i.role",
    )
    .bind(email)
    .bind(user)
    .fetch_all(&mut *tx)
    .await?;
    for (pet, role) in &taken {
        sqlx::query(
            "INSERT INTO pet_members (pet_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(pet)
        .bind(user)
        .bind(role)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(taken.into_iter().map(|(pet, _)| pet).collect())
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
