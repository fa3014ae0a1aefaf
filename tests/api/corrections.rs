//! Corrections that teach the mood model, in the running server: retraining on owners'
//! corrections (scheduled and `pettysync mood train`), a pet's corrections adjusting its next
//! clips before any retraining, and the optional external endpoint with the built-in model as
//! its fallback.
//!
//! Every test starts from a model that learnt sad clips as anxious (trained once per test
//! binary, stored and promoted in each test's own databases), and plants its pets' clips
//! the way the voice pipeline stores them (WAV in S3, a pending `voice_clips` row), so the
//! server's `MoodSupervisor` classifies them.

mod calibration;
mod endpoint;
mod retraining;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use pettysync::config::Settings;
use pettysync::mood::synth::{self, SeedSpec};
use pettysync::mood::train::{self, TrainOptions};
use pettysync::mood::{Model, Mood};
use pettysync::store::mood_models;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    expect_json, poll_until, spawn_app_with, string_at, unique_serial, TestApp, TestUser,
};

/// Generator seed of the pets' clips (not the seed set's).
const CLIPS_SEED: u64 = 31;
/// Length of a planted clip: short, to keep a debug build quick.
const CLIP_SECONDS: f32 = 2.0;
const CLIP_RATE: u32 = 16_000;
/// Classifying a batch of clips in a debug build.
const CLASSIFIED: Duration = Duration::from_secs(120);

/// A model trained on a small seed set with every sad clip labelled anxious.
fn mislabelled_model() -> &'static Model {
    static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let spec = SeedSpec {
            per_class: 30,
            seed: 5,
            pets: 10,
        };
        let clips = train::seed_clips(&spec)
            .into_iter()
            .map(|mut c| {
                if c.mood == Mood::Sad {
                    c.mood = Mood::Anxious;
                }
                c
            })
            .collect();
        let options = TrainOptions {
            seed: SeedSpec {
                per_class: 0,
                ..spec
            },
            measure_forest: false,
        };
        train::train(&options, clips, None)
            .expect("the mislabelled model trains")
            .model
    })
}

/// A server with no seed model, its stores, an owner and a provisioned collar serial whose
/// clips the tests plant.
struct Lab {
    app: TestApp,
    pg: PgPool,
    s3: aws_sdk_s3::Client,
    owner: TestUser,
    serial: String,
    seq: AtomicI64,
}

/// One planted clip's classification, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Stored {
    id: Uuid,
    voice_id: Uuid,
    mood: String,
    classifier: String,
    model_version: Option<i64>,
}

impl Lab {
    /// A server whose settings `tweak` adjusts, with the mislabelled model active.
    async fn start(tweak: impl FnOnce(&mut Settings)) -> (Lab, i64) {
        let app = spawn_app_with(|s| {
            // No seed model at start, and retraining on the corrections alone.
            s.mood_seed_per_class = 0;
            s.mood_alert_confidence = 1.0;
            tweak(s);
        })
        .await;
        let pg = app.pg().await;
        let s3 = app.s3();
        let owner = app.register_someone().await;
        let serial = unique_serial();
        app.provision_collar(&serial).await;
        let lab = Lab {
            app,
            pg,
            s3,
            owner,
            serial,
            seq: AtomicI64::new(0),
        };
        let model = tokio::task::spawn_blocking(|| mislabelled_model().clone())
            .await
            .expect("the model trains");
        let version = lab.install(&model).await;
        (lab, version)
    }

    /// Stores `model` and makes it the active one; returns its version.
    async fn install(&self, model: &Model) -> i64 {
        let bucket = &self.app.settings.s3_bucket;
        let version = mood_models::insert_candidate(&self.pg, &self.s3, bucket, model)
            .await
            .expect("the model is stored");
        assert!(mood_models::promote(&self.pg, version).await.unwrap());
        version
    }

    /// A new dog of the owner; returns its id.
    async fn pet(&self) -> String {
        string_at(&self.app.create_pet(&self.owner, "Rex").await, "/id")
    }

    /// Plants the `k`th clip of `mood` in the voice of `voice` as a clip of `pet`.
    async fn clip(&self, pet: &str, voice: usize, mood: Mood, k: u64) -> Uuid {
        let clip = synth::clip_lasting(CLIPS_SEED, mood, k, voice, CLIP_RATE, Some(CLIP_SECONDS));
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let key = format!("voice/{}/{seq}.wav", self.serial);
        self.s3
            .put_object()
            .bucket(&self.app.settings.s3_bucket)
            .key(&key)
            .content_type("audio/wav")
            .body(ByteStream::from(clip.wav))
            .send()
            .await
            .expect("S3 takes the clip");
        let (id,): (Uuid,) = sqlx::query_as(
            "INSERT INTO voice_clips (serial, seq, pet_id, at, s3_key, rate_hz, duration_ms)
             VALUES ($1, $2, $3, now(), $4, $5, $6) RETURNING id",
        )
        .bind(&self.serial)
        .bind(seq)
        .bind(Uuid::parse_str(pet).unwrap())
        .bind(&key)
        .bind(CLIP_RATE as i32)
        .bind((CLIP_SECONDS * 1000.0) as i32)
        .fetch_one(&self.pg)
        .await
        .expect("the clip is recorded");
        id
    }

    /// The classifications of `clips`, in their order, once the server has stored them all.
    async fn classified(&self, clips: &[Uuid]) -> Vec<Stored> {
        poll_until("the clips classified", CLASSIFIED, || async {
            let failed: Vec<(Option<String>,)> = sqlx::query_as(
                "SELECT mood_error FROM voice_clips WHERE id = ANY($1) AND mood_status = 'failed'",
            )
            .bind(clips)
            .fetch_all(&self.pg)
            .await
            .map_err(|e| e.to_string())?;
            assert!(failed.is_empty(), "clips failed: {failed:?}");
            let rows: Vec<Stored> = sqlx::query_as(
                "SELECT id, voice_id, mood, classifier, model_version FROM moods
                 WHERE voice_id = ANY($1)",
            )
            .bind(clips)
            .fetch_all(&self.pg)
            .await
            .map_err(|e| e.to_string())?;
            if rows.len() < clips.len() {
                return Err(format!("{} of {} classified", rows.len(), clips.len()));
            }
            Ok(clips
                .iter()
                .filter_map(|c| rows.iter().find(|r| r.voice_id == *c).cloned())
                .collect())
        })
        .await
    }

    /// The owner corrects a mood through the API.
    async fn correct(&self, mood_id: Uuid, mood: Mood) {
        let response = self
            .app
            .patch(
                &format!("/v1/moods/{mood_id}"),
                self.owner.bearer(),
                &json!({ "mood": mood.as_str() }),
            )
            .await;
        let corrected = expect_json(response, StatusCode::OK).await;
        assert_eq!(corrected["mood"], mood.as_str());
    }

    /// `(version, status)` of every model, oldest first.
    async fn models(&self) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT version, status FROM mood_models ORDER BY version")
            .fetch_all(&self.pg)
            .await
            .unwrap()
    }
}
