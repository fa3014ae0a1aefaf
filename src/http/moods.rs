//! A pet's moods: the list of classified voice clips (`GET /v1/pets/{id}/moods`), each with a
//! presigned URL of its WAV so the owner can listen, and the correction of one
//! (`PATCH /v1/moods/{id}`), which keeps the model's own answer for evaluation.

use actix_web::{get, patch, web, HttpResponse};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Settings;
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::ids::PetId;
use crate::mood::Mood;
use crate::store::moods::{self, MoodRow};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_moods).service(correct_mood);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MoodsQuery {
    /// Epoch ms: clips recorded at or after it; default 24 h before `to`.
    pub from: Option<i64>,
    /// Epoch ms: clips recorded before it; default now.
    pub to: Option<i64>,
}

/// One classified clip.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MoodView {
    #[schema(value_type = uuid::Uuid)]
    pub id: Uuid,
    pub pet_id: PetId,
    #[schema(value_type = uuid::Uuid)]
    pub voice_id: Uuid,
    /// `calm`, `happy`, `anxious`, `angry` or `sad` (the owner's, once corrected).
    pub mood: String,
    /// The model's probability of its answer.
    pub confidence: f64,
    /// The built-in model's version that answered (also when the pet's corrections adjusted
    /// its answer); `null` when the `PETTYSYNC_MOOD_ENDPOINT` endpoint answered.
    pub model_version: Option<i64>,
    /// What answered: `model` (the built-in model), `calibrated` (the built-in model adjusted
    /// by the pet's own corrections) or `external` (the endpoint).
    pub classifier: String,
    pub is_corrected: bool,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
    /// Epoch ms at which the collar recorded the clip.
    pub at: i64,
    /// A presigned GET of the clip as WAV, valid for `PETTYSYNC_MEDIA_URL_TTL_S`.
    pub audio_url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MoodList {
    /// Newest first, at most 500.
    pub items: Vec<MoodView>,
}

/// A correction.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CorrectMood {
    /// `calm`, `happy`, `anxious`, `angry` or `sad`.
    pub mood: String,
}

async fn view(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    row: MoodRow,
) -> Result<MoodView, ApiError> {
    let audio_url = moods::presign_clip(s3, settings, &row.s3_key).await?;
    Ok(MoodView {
        id: row.id,
        pet_id: row.pet_id,
        voice_id: row.voice_id,
        mood: row.mood,
        confidence: row.confidence,
        model_version: row.model_version.filter(|_| row.classifier != "external"),
        classifier: row.classifier,
        is_corrected: row.is_corrected,
        created_at: row.created_at.timestamp_millis(),
        updated_at: row.updated_at.timestamp_millis(),
        at: row.at.timestamp_millis(),
        audio_url,
    })
}

/// A pet's moods in a time range (anyone who may see the pet).
#[utoipa::path(get, path = "/v1/pets/{id}/moods", tag = "mood", params(("id" = uuid::Uuid, Path, description = "The pet's id."), MoodsQuery), security(("bearer" = [])),
    responses((status = 200, body = MoodList), crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/moods")]
async fn list_moods(
    pg: web::Data<PgPool>,
    s3: web::Data<aws_sdk_s3::Client>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<MoodsQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let (from, to) = super::tracking::time_range(query.from, query.to)?;
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let rows = moods::list(&pg, pet_id, at(from), at(to)).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(view(&s3, &settings, row).await?);
    }
    Ok(HttpResponse::Ok().json(MoodList { items }))
}

/// Corrects a mood (owner or family); the model's own answer is kept for evaluation.
#[utoipa::path(patch, path = "/v1/moods/{id}", tag = "mood", params(("id" = uuid::Uuid, Path, description = "The mood's id.")), request_body = CorrectMood, security(("bearer" = [])),
    responses((status = 200, body = MoodView), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::NotFound))]
#[patch("/v1/moods/{id}")]
async fn correct_mood(
    pg: web::Data<PgPool>,
    s3: web::Data<aws_sdk_s3::Client>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    path: web::Path<Uuid>,
    body: ApiJson<CorrectMood>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let row = moods::get(&pg, id).await?.ok_or(ApiError::NotFound)?;
    pet_access(&pg, caller.id, row.pet_id, Action::View).await?;
    let mood = Mood::parse(&body.mood).ok_or_else(|| {
        ApiError::field("mood", "must be one of calm, happy, anxious, angry, sad")
    })?;
    let row = moods::correct(&pg, id, mood)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view(&s3, &settings, row).await?))
}
