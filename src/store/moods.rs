//! The mood queue (a status on `voice_clips`) and the `moods` rows it produces.
//!
//! A server claims pending clips in bounded batches with `FOR UPDATE SKIP LOCKED` and a lease:
//! two nodes never take the same clip, and a crashed node's claims come back when the lease
//! ends. The `moods` row and the clip's `done` are written in one transaction, and a clip has
//! at most one row (`voice_id` is unique), so a repeated claim repeats nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use crate::ids::PetId;
use crate::mood::{Features, Mood, Prediction, FEATURE_VERSION};

/// Claims of one clip after which a clip that keeps failing for passing reasons (S3 away) is
/// given up as `failed`, so the queue cannot grow a clip it never finishes.
pub const MAX_ATTEMPTS: i32 = 5;
/// Most moods one listing returns (newest first).
pub const MAX_LISTED: i64 = 500;

/// A claimed clip: what the classifier needs to fetch and attribute it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub voice_id: Uuid,
    pub serial: String,
    pub seq: i64,
    pub pet_id: PetId,
    pub s3_key: String,
    pub at: DateTime<Utc>,
    pub mood_attempts: i32,
}

/// Claims up to `limit` pending clips for `lease`.
pub async fn claim(pg: &PgPool, limit: i64, lease: Duration) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE voice_clips SET mood_attempts = mood_attempts + 1,
                mood_claimed_until = now() + make_interval(secs => $2)
         WHERE (serial, seq) IN (
             SELECT serial, seq FROM voice_clips
             WHERE mood_status = 'pending' AND pet_id IS NOT NULL
               AND (mood_claimed_until IS NULL OR mood_claimed_until < now())
             ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id AS voice_id, serial, seq, pet_id, s3_key, at, mood_attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pg)
    .await
}

/// A stored classification, as the API shows it (without the audio URL).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MoodRow {
    pub id: Uuid,
    pub pet_id: PetId,
    pub voice_id: Uuid,
    pub mood: String,
    pub confidence: f64,
    /// The built-in model's version; `None` for an external endpoint's answer.
    pub model_version: Option<i64>,
    /// `model`, `calibrated` (the model adjusted by the pet's corrections) or `external`.
    pub classifier: String,
    pub is_corrected: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// The clip's WAV in S3.
    pub s3_key: String,
}

const SELECT_ROW: &str = "SELECT m.id, m.pet_id, m.voice_id, m.mood, m.confidence, m.model_version,
        m.classifier, m.is_corrected, m.created_at, m.updated_at, m.at, v.s3_key
    FROM moods m JOIN voice_clips v ON v.id = m.voice_id";

/// What answered for a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classifier {
    /// The built-in model alone.
    Model,
    /// The built-in model, adjusted by the pet's own corrections since its training.
    Calibrated,
    /// The external endpoint (`PETTYSYNC_MOOD_ENDPOINT`).
    External,
}

impl Classifier {
    pub fn as_str(self) -> &'static str {
        match self {
            Classifier::Model => "model",
            Classifier::Calibrated => "calibrated",
            Classifier::External => "external",
        }
    }
}

/// A clip's classification, as stored.
#[derive(Debug, Clone)]
pub struct Classification {
    pub prediction: Prediction,
    pub classifier: Classifier,
    /// The built-in model that answered (or was adjusted); `None` for the external endpoint.
    pub model_version: Option<i64>,
    /// The clip's features (this build's `FEATURE_VERSION`), kept so a correction of this
    /// mood can adjust the pet's next results; `None` when they could not be computed.
    pub features: Option<Features>,
}

/// Stores the clip's classification and marks it done, together; the pet's owner now is the
/// row's `user_id`. Returns the stored row (`None` when the clip already had one).
pub async fn record(
    pg: &PgPool,
    clip: &Claimed,
    classification: &Classification,
) -> Result<Option<MoodRow>, sqlx::Error> {
    let prediction = &classification.prediction;
    let probs: serde_json::Map<String, serde_json::Value> = prediction
        .probs
        .iter()
        .map(|(mood, p)| (mood.as_str().to_owned(), json!(p)))
        .collect();
    let mut tx = pg.begin().await?;
    let id: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO moods (id, user_id, mood, voice_id, pet_id, confidence, model_version,
                            predicted_mood, probs, at, classifier, features, feature_version)
         SELECT $1, p.owner_id, $2, $3, p.id, $4, $5, $2, $6, $7, $9, $10, $11
         FROM pets p WHERE p.id = $8
         ON CONFLICT (voice_id) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(prediction.mood.as_str())
    .bind(clip.voice_id)
    .bind(prediction.confidence.clamp(0.0, 1.0))
    .bind(classification.model_version)
    .bind(sqlx::types::Json(probs))
    .bind(clip.at)
    .bind(clip.pet_id)
    .bind(classification.classifier.as_str())
    .bind(classification.features.as_ref().map(|f| f.0.clone()))
    .bind(
        classification
            .features
            .as_ref()
            .map(|_| FEATURE_VERSION as i32),
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE voice_clips SET mood_status = 'done', mood_error = NULL, mood_claimed_until = NULL
         WHERE id = $1",
    )
    .bind(clip.voice_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    match id {
        Some((id,)) => get(pg, id).await,
        None => Ok(None),
    }
}

/// The clip cannot be classified (`reason`): it leaves the queue.
pub async fn failed(pg: &PgPool, voice_id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE voice_clips SET mood_status = 'failed', mood_error = $2, mood_claimed_until = NULL
         WHERE id = $1",
    )
    .bind(voice_id)
    .bind(reason)
    .execute(pg)
    .await?;
    Ok(())
}

/// A passing failure: the clip stays pending and is claimed again when its lease ends, unless
/// it has used up its attempts.
pub async fn retry_later(pg: &PgPool, clip: &Claimed, reason: &str) -> Result<(), sqlx::Error> {
    if clip.mood_attempts >= MAX_ATTEMPTS {
        return failed(pg, clip.voice_id, reason).await;
    }
    sqlx::query("UPDATE voice_clips SET mood_error = $2 WHERE id = $1")
        .bind(clip.voice_id)
        .bind(reason)
        .execute(pg)
        .await?;
    Ok(())
}

/// One mood.
pub async fn get(pg: &PgPool, id: Uuid) -> Result<Option<MoodRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!("{SELECT_ROW} WHERE m.id = $1")))
        .bind(id)
        .fetch_optional(pg)
        .await
}

/// A pet's moods of clips recorded in `[from, to)`, newest first, at most `MAX_LISTED`.
pub async fn list(
    pg: &PgPool,
    pet: PetId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MoodRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT_ROW} WHERE m.pet_id = $1 AND m.at >= $2 AND m.at < $3
         ORDER BY m.at DESC, m.id LIMIT $4"
    )))
    .bind(pet)
    .bind(from)
    .bind(to)
    .bind(MAX_LISTED)
    .fetch_all(pg)
    .await
}

/// Stores an owner's label; the model's own answer (`predicted_mood`) stays. The correction
/// takes the next correction number, so the next retraining and the pet's calibration see
/// it as new (a mood corrected again is new again).
pub async fn correct(pg: &PgPool, id: Uuid, mood: Mood) -> Result<Option<MoodRow>, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE moods SET mood = $2, is_corrected = true, updated_at = now(),
                          correction_seq = nextval('mood_correction_seq')
         WHERE id = $1",
    )
    .bind(id)
    .bind(mood.as_str())
    .execute(pg)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    get(pg, id).await
}

/// A presigned GET of a clip's WAV, valid for `media_url_ttl_s`. Local computation only.
pub async fn presign_clip(
    s3: &aws_sdk_s3::Client,
    settings: &crate::config::Settings,
    key: &str,
) -> anyhow::Result<String> {
    let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(
        settings.media_url_ttl_s,
    ))?;
    let request = s3
        .get_object()
        .bucket(&settings.s3_bucket)
        .key(key)
        .response_content_type("audio/wav")
        .presigned(config)
        .await?;
    Ok(request.uri().to_owned())
}
