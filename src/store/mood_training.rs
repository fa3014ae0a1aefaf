//! A training run against the stores: train a candidate (off the async threads), score the
//! active model on the same held-out split, store the candidate, promote it if it is not
//! worse, and record the run. `ensure_seed_model` is what a server runs at start.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::mood::train::{self, LabelledClip, TrainOptions, Trained};
use crate::mood::{Metrics, MoodError};
use crate::store::locks::{self, Job};
use crate::store::mood_models::{self, ModelStoreError, RunRecord};

/// Where a run's models go.
pub struct ModelStore<'a> {
    pub pg: &'a PgPool,
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    pub candidate_version: i64,
    pub candidate: Metrics,
    /// The active model's version and its scores on the same split, when there was one.
    pub active: Option<(i64, Option<Metrics>)>,
    pub promoted: bool,
    pub trained: Trained,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] ModelStoreError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Mood(#[from] crate::mood::MoodError),
    #[error("the training task stopped: {0}")]
    Task(String),
    #[error("corrected clips could not be fetched: {0}")]
    Fetch(String),
}

/// Trains a candidate on the seed set plus `extra`, stores it, and promotes it when `promote`
/// is asked and the promote rule allows. Every run (failed ones too) is recorded.
pub async fn run(
    store: &ModelStore<'_>,
    options: TrainOptions,
    extra: Vec<LabelledClip>,
    high_water: Option<i64>,
    promote: bool,
    trigger: &'static str,
) -> Result<RunOutcome, RunError> {
    let training = move || train::train(&options, extra, high_water);
    run_with(store, Utc::now(), training, promote, trigger).await
}

/// As [`run`], with the training given as a function (run on a thread of its own): a
/// retraining hands in the corrected clips it has already fetched and analysed.
pub async fn run_with(
    store: &ModelStore<'_>,
    started_at: DateTime<Utc>,
    training: impl FnOnce() -> Result<Trained, MoodError> + Send + 'static,
    promote: bool,
    trigger: &'static str,
) -> Result<RunOutcome, RunError> {
    let result = attempt(store, training, promote).await;
    let record = match &result {
        Ok(o) => RunRecord {
            trigger,
            started_at,
            candidate_version: Some(o.candidate_version),
            active_version: o.active.as_ref().map(|a| a.0),
            training_clips: o.trained.model.training.clips,
            extra_clips: o.trained.model.training.extra_clips,
            candidate: Some(o.candidate.clone()),
            active: o.active.as_ref().and_then(|a| a.1.clone()),
            promoted: o.promoted,
            error: None,
        },
        Err(e) => failed_run(trigger, started_at, e),
    };
    mood_models::record_run(store.pg, &record).await?;
    result
}

/// The record of a run that failed before it had a candidate.
pub fn failed_run(trigger: &'static str, started_at: DateTime<Utc>, error: &RunError) -> RunRecord {
    RunRecord {
        trigger,
        started_at,
        candidate_version: None,
        active_version: None,
        training_clips: 0,
        extra_clips: 0,
        candidate: None,
        active: None,
        promoted: false,
        error: Some(error.to_string()),
    }
}

async fn attempt(
    store: &ModelStore<'_>,
    training: impl FnOnce() -> Result<Trained, MoodError> + Send + 'static,
    promote: bool,
) -> Result<RunOutcome, RunError> {
    // A thread of its own, not tokio's blocking pool, which a shutdown waits for: SIGTERM
    // during a training (minutes in a debug build) abandons it, and the next start trains again.
    let (sender, trained) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mood-training".into())
        .spawn(move || {
            let _ = sender.send(training());
        })
        .map_err(|e| RunError::Task(e.to_string()))?;
    let trained = trained.await.map_err(|e| RunError::Task(e.to_string()))??;
    let candidate = trained.model.metrics.clone().ok_or_else(|| {
        RunError::Mood(crate::mood::MoodError::Training(
            "the candidate was not scored".into(),
        ))
    })?;
    let active = match mood_models::load_active(store.pg, store.s3, store.bucket).await {
        Ok(Some((version, model))) => {
            Some((version, Some(train::evaluate(&model, &trained.held_out)?)))
        }
        Ok(None) => None,
        // An active model this build cannot run (another feature version) cannot be scored.
        Err(ModelStoreError::Model(e)) => {
            tracing::warn!(error = %e, "the active mood model cannot be scored; the candidate may replace it");
            active_version(store.pg).await?.map(|v| (v, None))
        }
        Err(e) => return Err(e.into()),
    };
    let candidate_version =
        mood_models::insert_candidate(store.pg, store.s3, store.bucket, &trained.model).await?;
    let allowed = train::should_promote(&candidate, active.as_ref().and_then(|a| a.1.as_ref()));
    let promoted = promote && allowed && mood_models::promote(store.pg, candidate_version).await?;
    tracing::info!(
        candidate = candidate_version,
        macro_f1 = candidate.macro_f1,
        active_macro_f1 = active
            .as_ref()
            .and_then(|a| a.1.as_ref())
            .map(|m| m.macro_f1),
        promoted,
        "mood model trained"
    );
    Ok(RunOutcome {
        candidate_version,
        candidate,
        active,
        promoted,
        trained,
    })
}

/// The active model's version, if any (a cheap check before loading it from S3).
pub async fn active_version(pg: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT version FROM mood_models WHERE status = 'active'")
            .fetch_optional(pg)
            .await?;
    Ok(row.map(|r| r.0))
}

/// At start: when no model is active, trains the seed model from the generated seed set and
/// promotes it (seconds in a release build). One node does it (the retraining lock); the
/// others find it active next time. Returns the version trained, if this call trained one.
/// The server passes `SeedSpec::DEFAULT`; tests a smaller set.
pub async fn ensure_seed_model(
    store: &ModelStore<'_>,
    seed: crate::mood::synth::SeedSpec,
) -> Result<Option<i64>, RunError> {
    if active_version(store.pg).await?.is_some() {
        return Ok(None);
    }
    let Some(lock) = locks::try_exclusive(store.pg, Job::MoodRetraining).await? else {
        tracing::info!("another node is training the mood model");
        return Ok(None);
    };
    // Checked again under the lock: another node may have finished just before.
    let result = if active_version(store.pg).await?.is_some() {
        Ok(None)
    } else {
        let options = TrainOptions {
            seed,
            measure_forest: false,
        };
        tracing::info!(
            per_class = seed.per_class,
            "no active mood model: training the seed model"
        );
        let outcome = run(store, options, Vec::new(), None, true, "seed").await;
        outcome.map(|o| {
            tracing::info!(
                version = o.candidate_version,
                macro_f1 = o.candidate.macro_f1,
                "seed mood model active"
            );
            Some(o.candidate_version)
        })
    };
    lock.release().await?;
    result
}
