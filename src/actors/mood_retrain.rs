//! `MoodRetrainer`: retrains the mood model when owners' corrections have accumulated.
//!
//! Every `PETTYSYNC_MOOD_RETRAIN_INTERVAL_S` it counts the corrections newer than the newest
//! model's training set (its high-water mark; a candidate that was not promoted counts too,
//! so the same corrections do not train the same candidate again and again). At
//! `PETTYSYNC_MOOD_RETRAIN_MIN_CORRECTIONS` or more it takes the retraining lock (one node at
//! a time) and runs `store::mood_retrain::retrain`: the seed set plus every corrected clip,
//! promoted only if not worse than the active model on the same split, recorded either way.
//! The `MoodSupervisor` picks up a promoted model on its next round.

use std::time::{Duration, Instant};

use actix::prelude::*;
use sqlx::PgPool;

use crate::config::Settings;
use crate::mood::synth::SeedSpec;
use crate::mood::train::TrainOptions;
use crate::store::locks::{self, Job};
use crate::store::mood_corrections;
use crate::store::mood_retrain;
use crate::store::mood_training::ModelStore;

/// After a failed run (S3 away, too few pets for a split), wait this long before trying again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30 * 60);

/// What the retrainer needs. Cheap to clone.
#[derive(Clone)]
pub struct RetrainInputs {
    pub pg: PgPool,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    /// The seed set every training starts from.
    pub seed: SeedSpec,
    /// New corrections that start a run.
    pub min_corrections: i64,
}

pub struct MoodRetrainer {
    inputs: RetrainInputs,
    interval: Duration,
    running: bool,
    failed_at: Option<Instant>,
}

impl MoodRetrainer {
    pub fn from_settings(pg: PgPool, s3: aws_sdk_s3::Client, settings: &Settings) -> Self {
        MoodRetrainer {
            inputs: RetrainInputs {
                pg,
                s3,
                bucket: settings.s3_bucket.clone(),
                seed: SeedSpec {
                    per_class: settings.mood_seed_per_class,
                    ..SeedSpec::DEFAULT
                },
                min_corrections: i64::from(settings.mood_retrain_min_corrections),
            },
            interval: settings.mood_retrain_interval(),
            running: false,
            failed_at: None,
        }
    }

    fn check(&mut self, ctx: &mut Context<Self>) {
        let waiting = self
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        if self.running || waiting {
            return;
        }
        self.running = true;
        ctx.spawn(
            crate::rt::guarded(pass(self.inputs.clone()))
                .into_actor(self)
                .map(|result, actor, _| {
                    actor.running = false;
                    match result {
                        Ok(_) => actor.failed_at = None,
                        Err(error) => {
                            tracing::warn!(error = %error, "scheduled mood retraining failed");
                            actor.failed_at = Some(Instant::now());
                        }
                    }
                }),
        );
    }
}

/// One look: retrains when enough corrections wait and no other node is at it. Returns
/// whether a run was made.
async fn pass(inputs: RetrainInputs) -> anyhow::Result<bool> {
    if !enough_corrections(&inputs).await? {
        return Ok(false);
    }
    let Some(lock) = locks::try_exclusive(&inputs.pg, Job::MoodRetraining).await? else {
        return Ok(false);
    };
    // Counted again under the lock: another node may have just trained on them.
    let result = if enough_corrections(&inputs).await? {
        let store = ModelStore {
            pg: &inputs.pg,
            s3: &inputs.s3,
            bucket: &inputs.bucket,
        };
        let options = TrainOptions {
            seed: inputs.seed,
            measure_forest: false,
        };
        mood_retrain::retrain(&store, options, true, "scheduled")
            .await
            .map(|done| {
                tracing::info!(
                    candidate = done.outcome.candidate_version,
                    promoted = done.outcome.promoted,
                    corrections = done.corrections,
                    skipped = done.skipped.len(),
                    "scheduled mood retraining done"
                );
                true
            })
            .map_err(anyhow::Error::from)
    } else {
        Ok(false)
    };
    lock.release().await?;
    result
}

async fn enough_corrections(inputs: &RetrainInputs) -> Result<bool, sqlx::Error> {
    let high_water = mood_corrections::newest_high_water(&inputs.pg).await?;
    let new = mood_corrections::count_since(&inputs.pg, high_water, inputs.min_corrections).await?;
    Ok(new >= inputs.min_corrections)
}

impl Actor for MoodRetrainer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |actor, ctx| actor.check(ctx));
    }
}
