//! The mood core against the real stores: models in S3 and `mood_models`, the promote rule,
//! the seed model at start, the admin listing, and `pettysync mood synth`.

use pettysync::mood::synth::SeedSpec;
use pettysync::mood::train::{self, LabelledClip, TrainOptions};
use pettysync::mood::Mood;
use pettysync::store::mood_models;
use pettysync::store::mood_training::{self, ModelStore};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{expect_json, expect_status, spawn_app, TestApp};

/// Small enough for a debug build, big enough for both sides of the split.
const SMALL: SeedSpec = SeedSpec {
    per_class: 30,
    seed: 5,
    pets: 10,
};

struct Stores {
    pg: PgPool,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl Stores {
    async fn of(app: &TestApp) -> Stores {
        Stores {
            pg: pettysync::startup::pg_pool(&app.settings)
                .await
                .expect("PostgreSQL"),
            s3: pettysync::startup::s3_client(
                &pettysync::startup::aws_config(&app.settings).await,
                &app.settings,
            ),
            bucket: app.settings.s3_bucket.clone(),
        }
    }

    fn store(&self) -> ModelStore<'_> {
        ModelStore {
            pg: &self.pg,
            s3: &self.s3,
            bucket: &self.bucket,
        }
    }
}

/// The small seed set with every training-side clip of one class given another's label.
fn mislabelled() -> Vec<LabelledClip> {
    train::seed_clips(&SMALL)
        .into_iter()
        .map(|mut c| {
            if c.mood == Mood::Sad && !train::is_held_out(&c.pet) {
                c.mood = Mood::Anxious;
            }
            c
        })
        .collect()
}

async fn statuses(pg: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT version, status FROM mood_models ORDER BY version")
        .fetch_all(pg)
        .await
        .unwrap()
}

#[actix_web::test]
async fn the_seed_model_is_trained_once_and_a_worse_candidate_is_stored_but_not_promoted() {
    let app = spawn_app().await;
    let stores = Stores::of(&app).await;
    let store = stores.store();

    let first = mood_training::ensure_seed_model(&store, SMALL)
        .await
        .unwrap();
    assert!(first.is_some());
    assert_eq!(
        mood_training::ensure_seed_model(&store, SMALL)
            .await
            .unwrap(),
        None
    );
    let (active_version, active) = mood_models::load_active(&stores.pg, &stores.s3, &stores.bucket)
        .await
        .unwrap()
        .expect("the seed model is active");
    assert_eq!(Some(active_version), first);

    let options = TrainOptions {
        seed: SeedSpec {
            per_class: 0,
            ..SMALL
        },
        measure_forest: false,
    };
    let worse = mood_training::run(&store, options, mislabelled(), Some(7), true, "command")
        .await
        .unwrap();
    assert!(!worse.promoted);
    let (_, on_same_split) = worse.active.clone().unwrap();
    assert!(worse.candidate.macro_f1 < on_same_split.unwrap().macro_f1);
    assert_eq!(
        statuses(&stores.pg).await,
        vec![
            (active_version, "active".into()),
            (worse.candidate_version, "candidate".into())
        ]
    );
    // The active model is still the one in S3 under the active row, byte for byte.
    let (still, model) = mood_models::load_active(&stores.pg, &stores.s3, &stores.bucket)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((still, model.to_json()), (active_version, active.to_json()));
    let runs = mood_models::runs(&stores.pg).await.unwrap();
    assert_eq!(
        runs,
        vec![
            (Some(worse.candidate_version), false, None),
            (first, true, None)
        ]
    );

    // A candidate at least as good is promoted, and the old model retired in the same step.
    let same = TrainOptions {
        seed: SMALL,
        measure_forest: false,
    };
    let better = mood_training::run(&store, same, Vec::new(), None, true, "command")
        .await
        .unwrap();
    assert!(better.promoted);
    assert_eq!(
        statuses(&stores.pg).await,
        vec![
            (active_version, "retired".into()),
            (worse.candidate_version, "candidate".into()),
            (better.candidate_version, "active".into())
        ]
    );
    // A promoted or retired model cannot be promoted again.
    assert!(!mood_models::promote(&stores.pg, active_version)
        .await
        .unwrap());
}

#[actix_web::test]
async fn the_admin_listing_shows_every_version_with_its_scores_and_marks_the_active_one() {
    let app = spawn_app().await;
    let stores = Stores::of(&app).await;
    let path = "/v1/admin/mood/models";
    expect_status(app.get(path, None).await, StatusCode::UNAUTHORIZED).await;
    expect_status(
        app.get(path, Some("not-the-token")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let empty = expect_json(app.get(path, Some(&app.admin_token)).await, StatusCode::OK).await;
    assert_eq!(empty["models"], Value::Array(vec![]));

    let active = mood_training::ensure_seed_model(&stores.store(), SMALL)
        .await
        .unwrap()
        .unwrap();
    let options = TrainOptions {
        seed: SeedSpec {
            per_class: 0,
            ..SMALL
        },
        measure_forest: false,
    };
    let candidate = mood_training::run(
        &stores.store(),
        options,
        mislabelled(),
        Some(7),
        false,
        "command",
    )
    .await
    .unwrap();

    let body = expect_json(app.get(path, Some(&app.admin_token)).await, StatusCode::OK).await;
    assert_eq!(body["active_version"], active);
    let models = body["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let (newest, oldest) = (&models[0], &models[1]);
    assert_eq!(
        (newest["version"].as_i64(), newest["active"].as_bool()),
        (Some(candidate.candidate_version), Some(false))
    );
    assert_eq!(
        (oldest["version"].as_i64(), oldest["active"].as_bool()),
        (Some(active), Some(true))
    );
    assert_eq!(oldest["status"], "active");
    assert_eq!(newest["high_water"], 7);
    for model in models {
        assert!(model["training_clips"].as_i64().unwrap() > 0);
        assert!(model["macro_f1"].as_f64().is_some());
        assert_eq!(model["metrics"]["confusion"].as_array().unwrap().len(), 5);
        assert!(model.get("s3_key").is_none(), "storage keys stay inside");
    }
}

#[actix_web::test]
async fn without_an_admin_token_configured_the_listing_does_not_exist() {
    let app = crate::helpers::spawn_app_with(|s| s.admin_token = None).await;
    expect_status(
        app.get("/v1/admin/mood/models", Some("anything")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[actix_web::test]
async fn mood_synth_writes_the_same_bytes_for_the_same_seed() {
    let dirs: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            std::env::temp_dir().join(format!(
                "pettysync-synth-{}-{i}",
                uuid::Uuid::new_v4().simple()
            ))
        })
        .collect();
    for (dir, seed) in dirs.iter().zip(["3", "3", "4"]) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pettysync"))
            .args([
                "mood",
                "synth",
                "--out",
                dir.to_str().unwrap(),
                "--per-class",
                "4",
                "--seed",
                seed,
            ])
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("20 clips written"));
    }
    let files = |dir: &std::path::Path| {
        let mut all: Vec<(String, Vec<u8>)> = Vec::new();
        for mood in Mood::ALL {
            for entry in std::fs::read_dir(dir.join(mood.as_str())).unwrap() {
                let path = entry.unwrap().path();
                let name = format!("{}/{}", mood, path.file_name().unwrap().to_string_lossy());
                all.push((name, std::fs::read(&path).unwrap()));
            }
        }
        all.sort();
        all
    };
    let (a, b, c) = (files(&dirs[0]), files(&dirs[1]), files(&dirs[2]));
    assert_eq!(a.len(), 20);
    assert!(a
        .iter()
        .all(|(name, wav)| name.ends_with(".wav") && wav.starts_with(b"RIFF")));
    assert_eq!(a, b);
    assert_ne!(a, c);
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}
