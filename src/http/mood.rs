//! Mood administration: the model versions, their training size and held-out scores.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use sqlx::PgPool;

use crate::http::authz::Admin;
use crate::http::error::ApiError;
use crate::store::mood_models::{self, ModelRow};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_models);
}

/// The mood models, newest first (at most 100).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelView>,
    /// The version classifying clips now, if any.
    pub active_version: Option<i64>,
}

/// One model version.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ModelView {
    /// True for the one active model.
    pub active: bool,
    /// The held-out macro-F1 (mean of the per-class F1 on pets the model never saw).
    pub macro_f1: Option<f64>,
    #[serde(flatten)]
    pub row: ModelRow,
}

/// Lists the mood model versions (admin token).
#[utoipa::path(get, path = "/v1/admin/mood/models", tag = "mood", security(("admin" = [])),
    responses((status = 200, body = ModelList), crate::http::error::doc::Admin))]
#[get("/v1/admin/mood/models")]
async fn list_models(pg: web::Data<PgPool>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let rows = mood_models::list(&pg).await?;
    let active_version = rows
        .iter()
        .find(|r| r.status == "active")
        .map(|r| r.version);
    let models = rows
        .into_iter()
        .map(|row| ModelView {
            active: row.status == "active",
            macro_f1: row
                .metrics
                .0
                .get("macro_f1")
                .and_then(serde_json::Value::as_f64),
            row,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ModelList {
        models,
        active_version,
    }))
}
