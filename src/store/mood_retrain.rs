//! Retraining on owners' corrections: the seed set plus every corrected clip (its WAV
//! fetched from S3 by the clip's key, labelled with the owner's mood, grouped by its pet),
//! trained and judged by `mood_training` (promoted only if not worse on the same split,
//! every run recorded). `pettysync mood train` runs it once; the server's `MoodRetrainer`
//! runs it when enough corrections have come in.
//!
//! Bounded: at most [`MAX_CLIPS_PER_RUN`] corrections (the newest), fetched
//! [`FETCH_CONCURRENCY`] at a time with [`FETCH_TIMEOUT`] each, and analysed in batches of
//! [`FETCH_BATCH`], so only the features of every clip are held, never every WAV.

use std::time::Duration;

use chrono::Utc;
use futures_util::{stream, StreamExt};

use crate::mood::features::MAX_WAV_BYTES;
use crate::mood::train::{self, Example, LabelledClip, TrainOptions};
use crate::mood::Mood;
use crate::store::mood_corrections::{self, CorrectedClip};
use crate::store::mood_models;
use crate::store::mood_training::{self, ModelStore, RunError, RunOutcome};

/// Most corrected clips one run trains on (the newest).
pub const MAX_CLIPS_PER_RUN: i64 = 10_000;
/// Downloads at once.
pub const FETCH_CONCURRENCY: usize = 8;
/// Clips fetched before they are analysed and their WAVs dropped.
pub const FETCH_BATCH: usize = 64;
/// Longest wait for one clip's download.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// What a retraining did.
#[derive(Debug)]
pub struct Retrained {
    pub outcome: RunOutcome,
    /// Corrected clips taken (at most `MAX_CLIPS_PER_RUN`).
    pub corrections: usize,
    /// Of those, clips left out: gone from S3 or not analysable (with why).
    pub skipped: Vec<String>,
}

/// One corrected clip's fate.
enum Fetched {
    Clip(LabelledClip),
    /// Not there or not usable: left out, the run goes on.
    Skipped(String),
}

/// Trains on the seed set of `options` plus every corrected clip; promotes the candidate when
/// `promote` is asked and it is not worse than the active model on the same split. A run that
/// cannot fetch its clips (S3 away) fails and is recorded, rather than train without them.
pub async fn retrain(
    store: &ModelStore<'_>,
    options: TrainOptions,
    promote: bool,
    trigger: &'static str,
) -> Result<Retrained, RunError> {
    let started_at = Utc::now();
    let gathered = match gather(store).await {
        Ok(gathered) => gathered,
        Err(error) => {
            let record = mood_training::failed_run(trigger, started_at, &error);
            mood_models::record_run(store.pg, &record).await?;
            return Err(error);
        }
    };
    let (examples, skipped, corrections, high_water) = gathered;
    tracing::info!(
        corrections,
        skipped = skipped.len(),
        high_water,
        seed_per_class = options.seed.per_class,
        "mood retraining: training"
    );
    let training = move || train::train_examples(&options, examples, high_water);
    let outcome = mood_training::run_with(store, started_at, training, promote, trigger).await?;
    Ok(Retrained {
        outcome,
        corrections,
        skipped,
    })
}

type Gathered = (Vec<Example>, Vec<String>, usize, Option<i64>);

/// The corrected clips, fetched and analysed batch by batch: their examples, the skipped ones,
/// how many were taken and the newest correction number among them.
async fn gather(store: &ModelStore<'_>) -> Result<Gathered, RunError> {
    let clips = mood_corrections::newest(store.pg, MAX_CLIPS_PER_RUN).await?;
    let (count, high_water) = (clips.len(), clips.iter().map(|c| c.correction_seq).max());
    let (mut examples, mut skipped) = (Vec::with_capacity(count), Vec::new());
    for batch in clips.chunks(FETCH_BATCH) {
        let fetched: Vec<Result<Fetched, RunError>> = stream::iter(batch)
            .map(|clip| fetch(store, clip))
            .buffered(FETCH_CONCURRENCY)
            .collect()
            .await;
        let mut labelled = Vec::with_capacity(batch.len());
        for result in fetched {
            match result? {
                Fetched::Clip(clip) => labelled.push(clip),
                Fetched::Skipped(why) => skipped.push(why),
            }
        }
        let keys: Vec<String> = labelled.iter().map(|c| c.pet.clone()).collect();
        let (analysed, failed) = tokio::task::spawn_blocking(move || train::examples(&labelled))
            .await
            .map_err(|e| RunError::Task(e.to_string()))?;
        examples.extend(analysed);
        skipped.extend(
            failed
                .into_iter()
                .map(|(i, e)| format!("a clip of pet {}: {e}", keys[i])),
        );
    }
    Ok((examples, skipped, count, high_water))
}

/// One corrected clip's WAV. A clip gone from S3, too large, or with a label this build does
/// not know is skipped; S3 failing or timing out fails the run.
async fn fetch(store: &ModelStore<'_>, clip: &CorrectedClip) -> Result<Fetched, RunError> {
    let Some(mood) = Mood::parse(&clip.mood) else {
        return Ok(Fetched::Skipped(format!(
            "{}: unknown mood {}",
            clip.s3_key, clip.mood
        )));
    };
    let get = store
        .s3
        .get_object()
        .bucket(store.bucket)
        .key(&clip.s3_key)
        .send();
    let object = match tokio::time::timeout(FETCH_TIMEOUT, get).await {
        Err(_) => return Err(RunError::Fetch(format!("{}: timed out", clip.s3_key))),
        Ok(Err(e)) => {
            let missing = e
                .as_service_error()
                .is_some_and(|service| service.is_no_such_key());
            if missing {
                return Ok(Fetched::Skipped(format!("{}: not in S3", clip.s3_key)));
            }
            let cause = format!("{:#}", anyhow::Error::from(e));
            return Err(RunError::Fetch(format!("{}: {cause}", clip.s3_key)));
        }
        Ok(Ok(object)) => object,
    };
    let length = object.content_length().unwrap_or(0).max(0) as usize;
    if length > MAX_WAV_BYTES {
        return Ok(Fetched::Skipped(format!(
            "{}: {length} bytes, over {MAX_WAV_BYTES}",
            clip.s3_key
        )));
    }
    let body = tokio::time::timeout(FETCH_TIMEOUT, object.body.collect())
        .await
        .map_err(|_| RunError::Fetch(format!("{}: timed out", clip.s3_key)))?
        .map_err(|e| RunError::Fetch(format!("{}: {e}", clip.s3_key)))?;
    Ok(Fetched::Clip(LabelledClip {
        pet: clip.pet_id.to_string(),
        mood,
        wav: body.into_bytes().to_vec(),
    }))
}
