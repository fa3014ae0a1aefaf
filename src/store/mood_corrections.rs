//! Owners' corrections as training data: the corrected clips a retraining fetches, how many
//! are newer than the newest model's training set, and a pet's own corrections that adjust
//! its results until the next retraining (by their correction number, `moods.correction_seq`).

use sqlx::PgPool;

use crate::ids::PetId;
use crate::mood::calibrate::PetCorrection;
use crate::mood::{Features, Mood};

/// A corrected clip to train on: its pet, the owner's label, where its WAV is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CorrectedClip {
    pub pet_id: PetId,
    /// The owner's label (a wire name; rows only hold valid ones).
    pub mood: String,
    pub s3_key: String,
    pub correction_seq: i64,
}

/// The newest `limit` corrected clips, newest first.
pub async fn newest(pg: &PgPool, limit: i64) -> Result<Vec<CorrectedClip>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.pet_id, m.mood, v.s3_key, m.correction_seq
         FROM moods m JOIN voice_clips v ON v.id = m.voice_id
         WHERE m.correction_seq IS NOT NULL
         ORDER BY m.correction_seq DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pg)
    .await
}

/// Corrections numbered after `high_water` (all of them for `None`), counted up to `cap`:
/// the scheduler only needs to know whether there are enough.
pub async fn count_since(
    pg: &PgPool,
    high_water: Option<i64>,
    cap: i64,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT 1 FROM moods WHERE correction_seq > $1 LIMIT $2) newer",
    )
    .bind(high_water.unwrap_or(0))
    .bind(cap)
    .fetch_one(pg)
    .await?;
    Ok(count)
}

/// The newest training-set high-water mark of any model, active or not: a candidate that was
/// not promoted has seen its corrections too, and training on them again would only repeat it.
pub async fn newest_high_water(pg: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    let (mark,): (Option<i64>,) = sqlx::query_as("SELECT max(high_water) FROM mood_models")
        .fetch_one(pg)
        .await?;
    Ok(mark)
}

/// A pet's corrections numbered after `high_water` (the ones its model has not learnt), with
/// the features of their clips in `feature_version`, newest first, at most `limit`.
pub async fn of_pet_since(
    pg: &PgPool,
    pet: PetId,
    high_water: Option<i64>,
    feature_version: u32,
    limit: i64,
) -> Result<Vec<PetCorrection>, sqlx::Error> {
    let rows: Vec<(String, Vec<f64>)> = sqlx::query_as(
        "SELECT mood, features FROM moods
         WHERE pet_id = $1 AND correction_seq > $2 AND feature_version = $3
           AND features IS NOT NULL
         ORDER BY correction_seq DESC LIMIT $4",
    )
    .bind(pet)
    .bind(high_water.unwrap_or(0))
    .bind(feature_version as i32)
    .bind(limit)
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(mood, features)| {
            Some(PetCorrection {
                mood: Mood::parse(&mood)?,
                features: Features(features),
            })
        })
        .collect())
}
