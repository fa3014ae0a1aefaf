//! `/v1/pets`: a user's pets and their profiles (family members: `http::members`).

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::PgPool;

use crate::actors::hub::{PetAccessLost, RevokeShare};
use crate::actors::Actors;
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::{PetId, UserId};
use crate::store::{archive, millis, pets, share};
use crate::validation::Violations;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_BREED_CHARS: usize = 100;
pub const MAX_WEIGHT_KG: f64 = 200.0;
const SPECIES: [&str; 3] = ["dog", "cat", "other"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_pet)
        .service(list_pets)
        .service(get_pet)
        .service(patch_pet)
        .service(delete_pet);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreatePet {
    /// 1 to 100 characters; surrounding whitespace is dropped.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// `dog`, `cat` or `other`.
    #[schema(schema_with = species)]
    pub species: String,
    #[schema(max_length = 100)]
    pub breed: Option<String>,
    /// `YYYY-MM-DD`, not in the future.
    #[schema(value_type = Option<String>, format = Date)]
    pub birth_date: Option<NaiveDate>,
    #[schema(exclusive_minimum = 0, maximum = 200)]
    pub weight_kg: Option<f64>,
    /// Heart-rate band (beats per minute) for alerts; absent uses the species default.
    #[schema(minimum = 1, maximum = 400)]
    pub hr_min: Option<i32>,
    /// More than `hr_min`.
    #[schema(minimum = 1, maximum = 400)]
    pub hr_max: Option<i32>,
}

fn species() -> utoipa::openapi::schema::Object {
    crate::http::docs::one_of(&SPECIES)
}

/// Any subset of the profile; `null` clears an optional field.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatchPet {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(schema_with = species_or_null)]
    pub species: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub breed: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Date)]
    pub birth_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 200)]
    pub weight_kg: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 400)]
    pub hr_min: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 400)]
    pub hr_max: Option<Option<i32>>,
}

fn species_or_null() -> utoipa::openapi::schema::Object {
    crate::http::docs::one_of_or_null(&SPECIES)
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A pet as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PetView {
    pub id: PetId,
    pub owner_id: UserId,
    pub name: String,
    pub species: String,
    pub breed: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub birth_date: Option<NaiveDate>,
    pub weight_kg: Option<f64>,
    /// Heart-rate band for alerts; null uses the species default.
    pub hr_min: Option<i32>,
    pub hr_max: Option<i32>,
    /// The caller's relation: `owner` or `family`.
    pub role: String,
    pub collar_serial: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<pets::PetRow> for PetView {
    fn from(row: pets::PetRow) -> Self {
        Self {
            id: row.id,
            owner_id: row.owner_id,
            name: row.name,
            species: row.species,
            breed: row.breed,
            birth_date: row.birth_date,
            weight_kg: row.weight_kg,
            hr_min: row.hr_min,
            hr_max: row.hr_max,
            role: row.role,
            collar_serial: row.collar_serial,
            created_at: millis(row.created_at),
            updated_at: millis(row.updated_at),
        }
    }
}

impl TryFrom<CreatePet> for pets::PetProfile {
    type Error = ApiError;

    fn try_from(body: CreatePet) -> Result<Self, ApiError> {
        let profile = pets::PetProfile {
            name: body.name.trim().to_owned(),
            species: body.species,
            breed: body
                .breed
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty()),
            birth_date: body.birth_date,
            weight_kg: body.weight_kg,
            hr_min: body.hr_min,
            hr_max: body.hr_max,
        };
        validate_profile(&profile)?;
        Ok(profile)
    }
}

fn validate_profile(p: &pets::PetProfile) -> Result<(), ApiError> {
    let mut v = Violations::new();
    let name = p.name.chars().count();
    v.check(
        (1..=MAX_NAME_CHARS).contains(&name),
        "name",
        "must be 1 to 100 characters",
    );
    v.check(
        SPECIES.contains(&p.species.as_str()),
        "species",
        "must be dog, cat or other",
    );
    v.check(
        p.breed
            .as_ref()
            .is_none_or(|b| b.chars().count() <= MAX_BREED_CHARS),
        "breed",
        "must be at most 100 characters",
    );
    v.check(
        p.birth_date
            .is_none_or(|d| d <= chrono::Utc::now().date_naive()),
        "birth_date",
        "must not be in the future",
    );
    v.check(
        p.weight_kg
            .is_none_or(|w| w.is_finite() && w > 0.0 && w <= MAX_WEIGHT_KG),
        "weight_kg",
        "must be more than 0 and at most 200",
    );
    let bpm = |v: Option<i32>| v.is_none_or(|v| (1..=400).contains(&v));
    v.check(bpm(p.hr_min), "hr_min", "must be from 1 to 400");
    v.check(bpm(p.hr_max), "hr_max", "must be from 1 to 400");
    if let (Some(min), Some(max)) = (p.hr_min, p.hr_max) {
        v.check(min < max, "hr_max", "must be more than hr_min");
    }
    Ok(v.finish()?)
}

/// Adds a pet owned by the caller.
#[utoipa::path(post, path = "/v1/pets", tag = "pets", request_body = CreatePet, security(("bearer" = [])),
    responses((status = 201, body = PetView),
        crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody))]
#[post("/v1/pets")]
async fn create_pet(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    body: ApiJson<CreatePet>,
) -> Result<HttpResponse, ApiError> {
    let profile = pets::PetProfile::try_from(body.into_inner())?;
    let pet = pets::create(&pg, caller.id, &profile).await?;
    Ok(HttpResponse::Created().json(PetView::from(pet)))
}

/// The pets the caller owns or is a member of.
#[utoipa::path(get, path = "/v1/pets", tag = "pets", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<PetView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query))]
#[get("/v1/pets")]
async fn list_pets(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(query.into_inner())?;
    let rows = pets::list(&pg, caller.id, &page).await?;
    let paged = page.finish(rows, |row| (row.created_at, row.id.0));
    Ok(HttpResponse::Ok().json(paged.map(PetView::from)))
}

/// One pet.
#[utoipa::path(get, path = "/v1/pets/{id}", tag = "pets", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), security(("bearer" = [])),
    responses((status = 200, body = PetView), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}")]
async fn get_pet(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<PetId>,
) -> Result<HttpResponse, ApiError> {
    let pet = pets::get(&pg, caller.id, path.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(PetView::from(pet)))
}

/// Changes the profile (owner only).
#[utoipa::path(patch, path = "/v1/pets/{id}", tag = "pets", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), request_body = PatchPet, security(("bearer" = [])),
    responses((status = 200, body = PetView), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::Forbidden, crate::http::error::doc::NotFound))]
#[patch("/v1/pets/{id}")]
async fn patch_pet(
    pg: web::Data<PgPool>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<PetId>,
    body: ApiJson<PatchPet>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Edit).await?;
    let current = pets::get(&pg, caller.id, pet_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let body = body.into_inner();
    let profile = pets::PetProfile {
        name: body.name.map_or(current.name, |n| n.trim().to_owned()),
        species: body.species.unwrap_or(current.species),
        breed: body
            .breed
            .map_or(current.breed, |b| b.map(|b| b.trim().to_owned())),
        birth_date: body.birth_date.unwrap_or(current.birth_date),
        weight_kg: body.weight_kg.unwrap_or(current.weight_kg),
        hr_min: body.hr_min.unwrap_or(current.hr_min),
        hr_max: body.hr_max.unwrap_or(current.hr_max),
    };
    validate_profile(&profile)?;
    pets::update(&pg, pet_id, &profile).await?;
    actors.setup_changed(pet_id);
    let pet = pets::get(&pg, caller.id, pet_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(PetView::from(pet)))
}

/// Deletes the pet with its members, fences and archived telemetry; its collar becomes free
/// (owner only). Its
/// share links' viewers get `revoked` and close; the live sessions of its owner and members
/// get `revoked` with its id and stop watching it.
#[utoipa::path(delete, path = "/v1/pets/{id}", tag = "pets", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::Forbidden, crate::http::error::doc::NotFound))]
#[delete("/v1/pets/{id}")]
async fn delete_pet(
    pg: web::Data<PgPool>,
    s3: web::Data<aws_sdk_s3::Client>,
    settings: web::Data<crate::config::Settings>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<PetId>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Administer).await?;
    let links = share::open_links_of_pet(&pg, pet_id).await?;
    let people = pets::people_of(&pg, pet_id).await?;
    pets::delete(&pg, pet_id).await?;
    // Its share links went with it: close their open viewers; its people's sessions lose
    // it; and its collar's actor is freed.
    for link_id in links {
        actors.hub.do_send(RevokeShare { link_id });
    }
    actors.hub.do_send(PetAccessLost {
        pet_id,
        users: people,
    });
    actors.pairing_changed(pet_id).await;
    // Its archive manifest rows went with it, their objects queued in `archive_orphans` in
    // the same transaction: delete them from S3 now; if S3 fails, the next archival pass does.
    if let Err(error) = archive::drain_orphans(&pg, &s3, &settings.s3_bucket).await {
        tracing::warn!(%pet_id, error = %error, "archive objects of a deleted pet wait for the next pass");
    }
    Ok(HttpResponse::NoContent().finish())
}
