//! Invitations to a pet's family, addressed to an email whether or not an account has it.
//! Inviting, and the checks around it, run the same queries for every address, so neither
//! the answer nor its timing tells which emails have accounts.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::pets::MemberRow;
use crate::http::pagination::Page;
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

/// An invitation as its invitee sees it: with the pet's name and who invited them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReceivedRow {
    #[sqlx(flatten)]
    pub invitation: InvitationRow,
    pub pet_name: String,
    pub pet_species: String,
    pub inviter_name: String,
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

/// A pet's pending invitations, oldest first.
pub async fn of_pet(
    pg: &PgPool,
    pet: PetId,
    page: &Page,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM pet_invitations i
         WHERE i.pet_id = $1 AND i.expires_at > now() AND (i.created_at, i.id) > ($2, $3)
         ORDER BY i.created_at, i.id LIMIT $4"
    )))
    .bind(pet)
    .bind(page.after_at())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

/// The pending invitations addressed to `email`, oldest first.
pub async fn for_email(
    pg: &PgPool,
    email: &str,
    page: &Page,
) -> Result<Vec<ReceivedRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, p.name AS pet_name, p.species AS pet_species,
                u.display_name AS inviter_name
         FROM pet_invitations i JOIN pets p ON p.id = i.pet_id JOIN users u ON u.id = i.invited_by
         WHERE lower(i.email) = lower($1) AND i.expires_at > now()
           AND (i.created_at, i.id) > ($2, $3)
         ORDER BY i.created_at, i.id LIMIT $4"
    )))
    .bind(email)
    .bind(page.after_at())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

/// Accepts an invitation addressed to `email` on behalf of `user`: the invitation becomes a
/// membership, in one transaction. `None` when there is no such pending invitation (or the
/// user owns the pet).
pub async fn accept(
    pg: &PgPool,
    invitation: Uuid,
    user: UserId,
    email: &str,
) -> Result<Option<MemberRow>, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let taken: Option<(PetId, String)> = sqlx::query_as(
        "DELETE FROM pet_invitations i USING pets p
         WHERE i.id = $1 AND lower(i.email) = lower($2) AND i.expires_at > now()
           AND p.id = i.pet_id AND p.owner_id <> $3
         RETURNING i.pet_id, i.role",
    )
    .bind(invitation)
    .bind(email)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((pet, role)) = taken else {
        return Ok(None);
    };
    // Already a member (accepted twice over): the membership stays as it is.
    sqlx::query(
        "INSERT INTO pet_members (pet_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(pet)
    .bind(user)
    .bind(&role)
    .execute(&mut *tx)
    .await?;
    let member = super::pets::member(&mut *tx, pet, user).await?;
    tx.commit().await?;
    Ok(member)
}

/// Declines (deletes) an invitation addressed to `email`; false when there is none.
pub async fn decline(pg: &PgPool, invitation: Uuid, email: &str) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("DELETE FROM pet_invitations WHERE id = $1 AND lower(email) = lower($2)")
            .bind(invitation)
            .bind(email)
            .execute(pg)
            .await?;
    Ok(result.rows_affected() > 0)
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
