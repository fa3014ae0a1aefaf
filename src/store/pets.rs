//! Pets and their family members.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, PgExecutor, PgPool};

use crate::domain::access::PetRole;
use crate::domain::page::Page;
use crate::ids::{PetId, UserId};

/// A pet as stored, with the caller's role and its collar.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PetRow {
    pub id: PetId,
    pub owner_id: UserId,
    pub name: String,
    pub species: String,
    pub breed: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub weight_kg: Option<f64>,
    pub hr_min: Option<i32>,
    pub hr_max: Option<i32>,
    pub role: String,
    pub collar_serial: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The profile fields of a pet.
#[derive(Debug, Clone)]
pub struct PetProfile {
    pub name: String,
    pub species: String,
    pub breed: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub weight_kg: Option<f64>,
    /// The pet's own heart-rate band; `None` uses the species default.
    pub hr_min: Option<i32>,
    pub hr_max: Option<i32>,
}

/// Every pet the user owns or is a member of, with the user's role on each.
const VISIBLE: &str = "
    WITH visible AS (
        SELECT p.*, 'owner' AS role FROM pets p WHERE p.owner_id = $1
        UNION ALL
        SELECT p.*, m.role FROM pets p JOIN pet_members m ON m.pet_id = p.id WHERE m.user_id = $1
    )
    SELECT v.id, v.owner_id, v.name, v.species, v.breed, v.birth_date, v.weight_kg, v.hr_min, v.hr_max, v.role,
           c.serial AS collar_serial, v.created_at, v.updated_at
    FROM visible v LEFT JOIN collars c ON c.pet_id = v.id";

pub async fn create(
    pg: &PgPool,
    owner: UserId,
    profile: &PetProfile,
) -> Result<PetRow, sqlx::Error> {
    let id = PetId::new();
    sqlx::query(
        "INSERT INTO pets (id, owner_id, name, species, breed, birth_date, weight_kg, hr_min, hr_max)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(owner)
    .bind(&profile.name)
    .bind(&profile.species)
    .bind(&profile.breed)
    .bind(profile.birth_date)
    .bind(profile.weight_kg)
    .bind(profile.hr_min)
    .bind(profile.hr_max)
    .execute(pg)
    .await?;
    get(pg, owner, id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// The pet as the user sees it; `None` when the user may not see it.
pub async fn get(pg: &PgPool, user: UserId, pet: PetId) -> Result<Option<PetRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!("{VISIBLE} WHERE v.id = $2")))
        .bind(user)
        .bind(pet)
        .fetch_optional(pg)
        .await
}

pub async fn list(pg: &PgPool, user: UserId, page: &Page) -> Result<Vec<PetRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "{VISIBLE} WHERE (v.created_at, v.id) > ($2, $3) ORDER BY v.created_at, v.id LIMIT $4"
    )))
    .bind(user)
    .bind(page.after_at())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

pub async fn update(pg: &PgPool, pet: PetId, profile: &PetProfile) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE pets SET name = $2, species = $3, breed = $4, birth_date = $5, weight_kg = $6,
                hr_min = $7, hr_max = $8, updated_at = now()
         WHERE id = $1",
    )
    .bind(pet)
    .bind(&profile.name)
    .bind(&profile.species)
    .bind(&profile.breed)
    .bind(profile.birth_date)
    .bind(profile.weight_kg)
    .bind(profile.hr_min)
    .bind(profile.hr_max)
    .execute(pg)
    .await?;
    Ok(())
}

/// Deletes the pet; its members and fences go with it and its collar becomes free.
/// Deletes the pet. Its collar's pairing is closed first and kept with no pet, so the collar's
/// history still says it was on a pet then (see `store::collars::load`).
pub async fn delete(pg: &PgPool, pet: PetId) -> Result<(), sqlx::Error> {
    let mut tx = pg.begin().await?;
    sqlx::query(
        "UPDATE collar_pairings SET unpaired_at = now() WHERE pet_id = $1 AND unpaired_at IS NULL",
    )
    .bind(pet)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM pets WHERE id = $1")
        .bind(pet)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A member of a pet's family.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub pet_id: PetId,
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

const MEMBER_COLUMNS: &str =
    "m.pet_id, m.user_id, u.email, u.display_name, m.role, m.created_at FROM pet_members m JOIN users u ON u.id = m.user_id";

pub async fn list_members(
    pg: &PgPool,
    pet: PetId,
    page: &Page,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} WHERE m.pet_id = $1 AND (m.created_at, m.user_id) > ($2, $3)
         ORDER BY m.created_at, m.user_id LIMIT $4"
    )))
    .bind(pet)
    .bind(page.after_at())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

/// Removes a member; false when the user was not one.
pub async fn remove_member<'e>(
    executor: impl PgExecutor<'e>,
    pet: PetId,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM pet_members WHERE pet_id = $1 AND user_id = $2")
        .bind(pet)
        .bind(user)
        .execute(executor)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Everyone who sees the pet: its owner and its members.
pub async fn people_of(pg: &PgPool, pet: PetId) -> Result<Vec<UserId>, sqlx::Error> {
    let rows: Vec<(UserId,)> = sqlx::query_as(
        "SELECT owner_id FROM pets WHERE id = $1
         UNION SELECT user_id FROM pet_members WHERE pet_id = $1",
    )
    .bind(pet)
    .fetch_all(pg)
    .await?;
    Ok(rows.into_iter().map(|(user,)| user).collect())
}

/// The caller's relation to the pet, if any.
pub async fn role_of(
    pg: &PgPool,
    user: UserId,
    pet: PetId,
) -> Result<Option<PetRole>, sqlx::Error> {
    let role: Option<(String,)> = sqlx::query_as(
        "SELECT 'owner' FROM pets WHERE id = $1 AND owner_id = $2
         UNION ALL
         SELECT role FROM pet_members WHERE pet_id = $1 AND user_id = $2
         LIMIT 1",
    )
    .bind(pet)
    .bind(user)
    .fetch_optional(pg)
    .await?;
    Ok(role.map(|(role,)| {
        if role == "owner" {
            PetRole::Owner
        } else {
            PetRole::Family
        }
    }))
}
