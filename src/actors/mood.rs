//! `MoodSupervisor`: classifies the voice clips in the mood queue (a status on `voice_clips`).
//!
//! Every few seconds (and when asked with `Wake`) it claims a bounded batch of pending clips,
//! fetches each WAV from S3, classifies it with the active model off the actor threads (one
//! clip at a time, on `spawn_blocking`), stores the `moods` row and marks the clip done —
//! or failed with a reason, so a corrupt clip never blocks the queue. A stored mood goes to
//! the pet's live state (through the collar registry) and as a `mood` frame to its watchers
//! (through the hub). A distressed mood that
//! the model is sure enough of raises `mood_distress` through the alert outbox, at most one
//! per pet per [`DISTRESS_DEDUPE`].
//!
//! When no model is active at start, the seed model is trained in the background (one node
//! at a time); clips wait in the queue meanwhile.
//!
//! `classify` asks the external endpoint first when one is set (`external`), and otherwise,
//! or when it fails, the built-in model adjusted by the pet's own corrections.

mod classify;
pub mod external;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::alerts::{AlertSupervisor, Deliver, RaiseAlert};
use crate::actors::events::{AlertKind, MoodRecorded, MoodState};
use crate::config::Settings;
use crate::mood::synth::SeedSpec;
use crate::mood::{Model, MoodError, Prediction};
use crate::store::mood_models;
use crate::store::mood_training::{self, ModelStore};
use crate::store::moods::{self as store, Claimed};

/// How often the queue is looked at without a wake-up.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Clips claimed per round.
pub const CLAIM_BATCH: i64 = 16;
/// How long a claimed clip is reserved for this node: far above a round of `CLAIM_BATCH`.
const CLAIM_LEASE: Duration = Duration::from_secs(300);
/// Largest WAV fetched for classification (a 10 s clip at 22 050 Hz is 430 KiB).
pub const MAX_CLIP_BYTES: usize = 1024 * 1024;
/// Longest wait for one clip's download.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// At most one `mood_distress` per pet within this span.
pub const DISTRESS_DEDUPE: Duration = Duration::from_secs(30 * 60);
/// Namespace of the alert ids derived from a pet and its dedupe window.
const DISTRESS_NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_6f64_2d64_6973_7472_6573_7300_0001);

/// What the supervisor needs. Cheap to clone.
#[derive(Clone)]
pub struct MoodOutputs {
    pub pg: PgPool,
    pub mongo: mongodb::Database,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub alerts: Addr<AlertSupervisor>,
    /// Least confidence of a distressed mood that raises an alert.
    pub alert_confidence: f64,
    /// The seed set trained on when no model is active; `None`: train none.
    pub seed: Option<SeedSpec>,
    /// Where each stored mood is announced: the collar registry (the pet's live state) and
    /// the hub (`mood` frames).
    pub announce: Vec<Recipient<MoodRecorded>>,
    /// The external inference endpoint asked first, when set.
    pub endpoint: Option<external::Endpoint>,
}

/// Look at the queue now (a clip was recorded).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Wake;

pub struct MoodSupervisor {
    outputs: MoodOutputs,
    model: Option<(i64, Arc<Model>)>,
    busy: bool,
    /// A `Wake` came during a round: another round follows it at once.
    woken: bool,
    seeding: bool,
}

/// Starts the supervisor with the server's settings.
pub fn start(
    pg: PgPool,
    mongo: mongodb::Database,
    s3: aws_sdk_s3::Client,
    alerts: Addr<AlertSupervisor>,
    announce: Vec<Recipient<MoodRecorded>>,
    settings: &Settings,
) -> Addr<MoodSupervisor> {
    let outputs = MoodOutputs {
        pg,
        mongo,
        s3,
        bucket: settings.s3_bucket.clone(),
        alerts,
        alert_confidence: settings.mood_alert_confidence,
        seed: (settings.mood_seed_per_class > 0).then_some(SeedSpec {
            per_class: settings.mood_seed_per_class,
            ..SeedSpec::DEFAULT
        }),
        announce,
        endpoint: external::Endpoint::from_settings(settings),
    };
    let supervisor = MoodSupervisor {
        outputs,
        model: None,
        busy: false,
        woken: false,
        seeding: false,
    };
    actix::Supervisor::start(move |_| supervisor)
}

impl MoodSupervisor {
    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let (outputs, model) = (self.outputs.clone(), self.model.clone());
        ctx.spawn(
            crate::rt::guarded(round(outputs, model))
                .into_actor(self)
                .map(|result, actor, ctx| {
                    actor.busy = false;
                    let mut again = std::mem::take(&mut actor.woken);
                    match result {
                        Ok(Round::Classified { model, claimed }) => {
                            actor.model = Some(model);
                            again |= claimed as i64 >= CLAIM_BATCH;
                        }
                        Ok(Round::NoModel) => actor.seed(ctx),
                        Err(error) => tracing::warn!(error = %error, "mood round failed"),
                    }
                    if again {
                        actor.round(ctx);
                    }
                }),
        );
    }

    /// Trains the seed model in the background, once per start.
    fn seed(&mut self, ctx: &mut Context<Self>) {
        let Some(seed) = self.outputs.seed else {
            return;
        };
        if self.seeding {
            return;
        }
        self.seeding = true;
        let outputs = self.outputs.clone();
        ctx.spawn(
            crate::rt::guarded(async move {
                let store = ModelStore {
                    pg: &outputs.pg,
                    s3: &outputs.s3,
                    bucket: &outputs.bucket,
                };
                mood_training::ensure_seed_model(&store, seed).await
            })
            .into_actor(self)
            .map(|result, actor, ctx| {
                if let Err(error) = result {
                    tracing::error!(error = %error, "the seed mood model could not be trained");
                    actor.seeding = false;
                }
                actor.round(ctx);
            }),
        );
    }
}

enum Round {
    NoModel,
    Classified {
        model: (i64, Arc<Model>),
        claimed: usize,
    },
}

/// One round: the active model (loaded again when another was promoted), then a batch.
async fn round(outputs: MoodOutputs, cached: Option<(i64, Arc<Model>)>) -> anyhow::Result<Round> {
    let active = mood_training::active_version(&outputs.pg).await?;
    let model = match (active, cached) {
        (None, _) => return Ok(Round::NoModel),
        (Some(version), Some(cached)) if cached.0 == version => cached,
        (Some(_), _) => {
            match mood_models::load_active(&outputs.pg, &outputs.s3, &outputs.bucket).await? {
                Some((version, model)) => (version, Arc::new(model)),
                None => return Ok(Round::NoModel),
            }
        }
    };
    let claimed = store::claim(&outputs.pg, CLAIM_BATCH, CLAIM_LEASE).await?;
    let count = claimed.len();
    for clip in claimed {
        // One clip's trouble does not hold the others: its lease brings it back.
        if let Err(error) = classify_one(&outputs, &model, &clip).await {
            tracing::warn!(clip = %clip.s3_key, error = %error, "could not store a clip's mood");
        }
    }
    Ok(Round::Classified {
        model,
        claimed: count,
    })
}

/// Why one clip was not classified.
enum ClipError {
    /// The clip itself is bad: it leaves the queue.
    Bad(MoodError),
    /// S3 or the worker failed: tried again later.
    Passing(String),
}

async fn classify_one(
    outputs: &MoodOutputs,
    model: &(i64, Arc<Model>),
    clip: &Claimed,
) -> Result<(), sqlx::Error> {
    let result = match fetch(outputs, &clip.s3_key).await {
        Ok(wav) => classify::classify(outputs, model, clip, wav).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(classified) => {
            let prediction = &classified.prediction;
            metrics::counter!("pettysync_moods_total", "mood" => prediction.mood.as_str())
                .increment(1);
            if let Some(row) = store::record(&outputs.pg, clip, &classified).await? {
                let recorded = MoodRecorded {
                    id: row.id,
                    pet_id: row.pet_id,
                    mood: MoodState {
                        mood: prediction.mood,
                        confidence: row.confidence,
                        at: row.at.timestamp_millis(),
                    },
                };
                for to in &outputs.announce {
                    to.do_send(recorded.clone());
                }
            }
            if let Err(error) = distress(outputs, clip, prediction).await {
                tracing::warn!(error = %error, "could not raise mood_distress");
            }
        }
        Err(ClipError::Bad(error)) => {
            metrics::counter!("pettysync_mood_failed_total").increment(1);
            tracing::info!(clip = %clip.s3_key, error = %error, "voice clip not classified");
            store::failed(&outputs.pg, clip.voice_id, &error.to_string()).await?;
        }
        Err(ClipError::Passing(reason)) => {
            tracing::warn!(clip = %clip.s3_key, reason, "voice clip classification postponed");
            store::retry_later(&outputs.pg, clip, &reason).await?;
        }
    }
    Ok(())
}

/// The clip's WAV, bounded by [`MAX_CLIP_BYTES`].
async fn fetch(outputs: &MoodOutputs, key: &str) -> Result<Vec<u8>, ClipError> {
    let get = outputs
        .s3
        .get_object()
        .bucket(&outputs.bucket)
        .key(key)
        .send();
    let object = tokio::time::timeout(FETCH_TIMEOUT, get)
        .await
        .map_err(|_| ClipError::Passing("S3 download timed out".into()))?
        .map_err(|e| ClipError::Passing(format!("S3: {:#}", anyhow::Error::from(e))))?;
    let length = object.content_length().unwrap_or(0).max(0) as usize;
    if length > MAX_CLIP_BYTES {
        return Err(ClipError::Bad(MoodError::TooLarge {
            bytes: length,
            max: MAX_CLIP_BYTES,
        }));
    }
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| ClipError::Passing(format!("S3: {e}")))?
        .into_bytes();
    Ok(bytes.to_vec())
}

/// Raises `mood_distress` for a distressed, confident mood, unless the pet had one within
/// [`DISTRESS_DEDUPE`]. The alert's id comes from the pet and its dedupe window, so a clip
/// classified again (after a crash) raises nothing new.
async fn distress(
    outputs: &MoodOutputs,
    clip: &Claimed,
    prediction: &Prediction,
) -> anyhow::Result<()> {
    if !prediction.mood.is_distress() || prediction.confidence < outputs.alert_confidence {
        return Ok(());
    }
    let at = clip.at.timestamp_millis();
    let window = DISTRESS_DEDUPE.as_millis() as i64;
    let (recent,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM alerts WHERE pet_id = $1 AND kind = 'mood_distress'
                        AND at > $2 - make_interval(secs => $3) AND at < $2 + make_interval(secs => $3))",
    )
    .bind(clip.pet_id)
    .bind(clip.at)
    .bind(DISTRESS_DEDUPE.as_secs_f64())
    .fetch_one(&outputs.pg)
    .await?;
    if recent {
        return Ok(());
    }
    let name = format!("{}:{}", clip.pet_id, at.div_euclid(window));
    let alert = RaiseAlert {
        id: Uuid::new_v5(&DISTRESS_NAMESPACE, name.as_bytes()),
        pet_id: clip.pet_id,
        serial: clip.serial.clone(),
        kind: AlertKind::MoodDistress,
        at,
        details: serde_json::json!({
            "mood": prediction.mood.as_str(),
            "confidence": prediction.confidence,
            "voice_id": clip.voice_id,
        }),
    };
    crate::store::alert_outbox::insert(&outputs.mongo, vec![alert.to_outbox_doc()]).await?;
    outputs.alerts.do_send(Deliver {
        alerts: vec![alert],
    });
    Ok(())
}

impl Actor for MoodSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.round(ctx);
        ctx.run_interval(POLL_INTERVAL, |actor, ctx| actor.round(ctx));
    }
}

impl Supervised for MoodSupervisor {}

impl Handler<Wake> for MoodSupervisor {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        if self.busy {
            self.woken = true;
        } else {
            self.round(ctx);
        }
    }
}
