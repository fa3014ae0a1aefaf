//! Mood models: the serialised model in S3 (`models/mood/{version}-{random}.json`), its row in
//! `mood_models` (candidate / active / retired, what it was trained on, its held-out scores),
//! and the record of every training run.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::mood::metrics::Metrics;
use crate::mood::model::MAX_MODEL_BYTES;
use crate::mood::Model;

/// Longest wait for one model upload or download (the SDK's own retries included).
const S3_TIMEOUT: Duration = Duration::from_secs(30);
/// Versions one listing returns (newest first); models are few, but the answer is bounded.
pub const MAX_LISTED: i64 = 100;

/// A model's S3 key. The random part keeps two databases sharing a bucket (tests, a staging
/// copy) from overwriting each other's version 1.
pub fn model_key(version: i64) -> String {
    format!(
        "models/mood/{version}-{}.json",
        uuid::Uuid::new_v4().simple()
    )
}

/// A model version as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ModelRow {
    pub version: i64,
    /// `candidate`, `active` or `retired`.
    pub status: String,
    pub feature_version: i32,
    #[serde(skip)]
    pub s3_key: String,
    pub training_clips: i32,
    pub extra_clips: i32,
    pub high_water: Option<i64>,
    /// Held-out scores: `macro_f1`, `accuracy`, `per_class`, `confusion`, `clips`.
    #[schema(value_type = Object)]
    pub metrics: sqlx::types::Json<serde_json::Value>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    #[schema(value_type = i64)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    #[schema(value_type = Option<i64>)]
    pub promoted_at: Option<DateTime<Utc>>,
}

/// Why a model could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("S3: {0}")]
    S3(String),
    #[error(transparent)]
    Model(#[from] crate::mood::MoodError),
}

/// Model versions, newest first (at most `MAX_LISTED`).
pub async fn list(pg: &PgPool) -> Result<Vec<ModelRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, status, feature_version, s3_key, training_clips, extra_clips, high_water,
                metrics, created_at, promoted_at
         FROM mood_models ORDER BY version DESC LIMIT $1",
    )
    .bind(MAX_LISTED)
    .fetch_all(pg)
    .await
}

/// Stores a trained model as a candidate: the bytes in S3 first, then the row, so a listed
/// model always has its bytes. Returns its version.
pub async fn insert_candidate(
    pg: &PgPool,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    model: &Model,
) -> Result<i64, ModelStoreError> {
    let (version,): (i64,) = sqlx::query_as("SELECT nextval('mood_models_version_seq')")
        .fetch_one(pg)
        .await?;
    let key = model_key(version);
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(model.to_json()))
        .send();
    tokio::time::timeout(S3_TIMEOUT, put)
        .await
        .map_err(|_| ModelStoreError::S3("upload timed out".into()))?
        .map_err(|e| ModelStoreError::S3(format!("{:#}", anyhow::Error::from(e))))?;
    let metrics = serde_json::to_value(&model.metrics).unwrap_or(serde_json::Value::Null);
    sqlx::query(
        "INSERT INTO mood_models (version, status, feature_version, s3_key, training_clips,
                                  extra_clips, high_water, metrics)
         VALUES ($1, 'candidate', $2, $3, $4, $5, $6, $7)",
    )
    .bind(version)
    .bind(model.feature_version as i32)
    .bind(&key)
    .bind(model.training.clips as i32)
    .bind(model.training.extra_clips as i32)
    .bind(model.training.high_water)
    .bind(sqlx::types::Json(metrics))
    .execute(pg)
    .await?;
    Ok(version)
}

/// Makes a candidate the active model and retires the one it replaces, in one transaction.
/// False when `version` is not a candidate (already promoted, retired, or unknown).
pub async fn promote(pg: &PgPool, version: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let candidate: Option<(String,)> =
        sqlx::query_as("SELECT status FROM mood_models WHERE version = $1 FOR UPDATE")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
    if !matches!(candidate, Some((ref status,)) if status == "candidate") {
        return Ok(false);
    }
    sqlx::query("UPDATE mood_models SET status = 'retired' WHERE status = 'active'")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE mood_models SET status = 'active', promoted_at = now() WHERE version = $1")
        .bind(version)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// The active model's version and the model itself, read from S3; `None` when there is none.
pub async fn load_active(
    pg: &PgPool,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Option<(i64, Model)>, ModelStoreError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT version, s3_key FROM mood_models WHERE status = 'active'")
            .fetch_optional(pg)
            .await?;
    let Some((version, key)) = row else {
        return Ok(None);
    };
    let s3_error = |e: String| ModelStoreError::S3(format!("{key}: {e}"));
    let get = s3.get_object().bucket(bucket).key(&key).send();
    let object = tokio::time::timeout(S3_TIMEOUT, get)
        .await
        .map_err(|_| s3_error("download timed out".into()))?
        .map_err(|e| s3_error(format!("{:#}", anyhow::Error::from(e))))?;
    if object.content_length().unwrap_or(0) as usize > MAX_MODEL_BYTES {
        return Err(s3_error(format!("over {MAX_MODEL_BYTES} bytes")));
    }
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| s3_error(e.to_string()))?
        .into_bytes();
    Ok(Some((version, Model::from_json(&bytes)?)))
}

/// What one training run did, as recorded in `mood_training_runs`.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub trigger: &'static str,
    pub started_at: DateTime<Utc>,
    pub candidate_version: Option<i64>,
    pub active_version: Option<i64>,
    pub training_clips: usize,
    pub extra_clips: usize,
    pub candidate: Option<Metrics>,
    /// The active model's scores on the candidate's held-out split.
    pub active: Option<Metrics>,
    pub promoted: bool,
    pub error: Option<String>,
}

/// Records a training run.
pub async fn record_run(pg: &PgPool, run: &RunRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mood_training_runs (trigger, started_at, candidate_version, active_version,
             training_clips, extra_clips, candidate_macro_f1, active_macro_f1, promoted, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(run.trigger)
    .bind(run.started_at)
    .bind(run.candidate_version)
    .bind(run.active_version)
    .bind(run.training_clips as i32)
    .bind(run.extra_clips as i32)
    .bind(run.candidate.as_ref().map(|m| m.macro_f1))
    .bind(run.active.as_ref().map(|m| m.macro_f1))
    .bind(run.promoted)
    .bind(&run.error)
    .execute(pg)
    .await?;
    Ok(())
}

/// Training runs recorded (newest first, at most `MAX_LISTED`): (candidate, promoted, error).
pub async fn runs(pg: &PgPool) -> Result<Vec<(Option<i64>, bool, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT candidate_version, promoted, error FROM mood_training_runs
         ORDER BY id DESC LIMIT $1",
    )
    .bind(MAX_LISTED)
    .fetch_all(pg)
    .await
}
