//! The correction loop: the active model learnt sad clips as anxious; owners label their pets'
//! clips (correcting the sad ones); the server's scheduled retraining, on those corrections
//! alone (no seed set), promotes a model that scores higher on the held-out pets, and a
//! pet's next sad clip is understood. Then owners of the training pets mislabel their sad
//! clips again: `pettysync mood train --promote` trains a worse candidate, which is recorded
//! and not promoted.

use std::time::Duration;

use pettysync::mood::train::is_held_out;
use pettysync::mood::Mood;
use secrecy::ExposeSecret;

use super::Lab;

/// Pets on each side of the held-out split.
const TRAINING_PETS: usize = 3;
const HELD_OUT_PETS: usize = 2;
/// Clips of each mood per pet.
const PER_MOOD: u64 = 3;
/// Every pet's clips are labelled: the corrections that start a scheduled retraining.
const CORRECTIONS: usize = (TRAINING_PETS + HELD_OUT_PETS) * 5 * PER_MOOD as usize;
/// A retraining in a debug build.
const RETRAINED: Duration = Duration::from_secs(300);

/// A training run as recorded.
#[derive(Debug, sqlx::FromRow)]
struct Run {
    trigger: String,
    candidate_version: Option<i64>,
    active_version: Option<i64>,
    candidate_macro_f1: Option<f64>,
    active_macro_f1: Option<f64>,
    promoted: bool,
    error: Option<String>,
}

async fn runs(lab: &Lab) -> Vec<Run> {
    sqlx::query_as(
        "SELECT trigger, candidate_version, active_version, candidate_macro_f1, active_macro_f1,
                promoted, error
         FROM mood_training_runs ORDER BY id",
    )
    .fetch_all(&lab.pg)
    .await
    .unwrap()
}

/// New pets until there are enough on each side of the split: `(pet, voice)` pairs.
async fn pets(lab: &Lab) -> (Vec<(String, usize)>, Vec<(String, usize)>) {
    let (mut training, mut held_out) = (Vec::new(), Vec::new());
    for voice in 600..700 {
        let pet = lab.pet().await;
        let side = if is_held_out(&pet) {
            &mut held_out
        } else {
            &mut training
        };
        side.push((pet, voice));
        if training.len() >= TRAINING_PETS && held_out.len() >= HELD_OUT_PETS {
            training.truncate(TRAINING_PETS);
            held_out.truncate(HELD_OUT_PETS);
            return (training, held_out);
        }
    }
    panic!("100 pets and still not enough on each side of the split");
}

#[actix_web::test]
async fn corrections_retrain_a_better_model_that_is_promoted_and_a_worse_one_is_not() {
    let (lab, mislabelled) = Lab::start(|s| {
        s.mood_retrain_min_corrections = CORRECTIONS as u32;
        s.mood_retrain_interval_s = 1;
    })
    .await;
    let (training, held_out) = pets(&lab).await;
    let mut planted = Vec::new();
    for (pet, voice) in training.iter().chain(&held_out) {
        for mood in Mood::ALL {
            for k in 0..PER_MOOD {
                planted.push((pet.clone(), mood, lab.clip(pet, *voice, mood, k).await));
            }
        }
    }
    let clips: Vec<_> = planted.iter().map(|p| p.2).collect();
    let stored = lab.classified(&clips).await;
    let sad: Vec<_> = stored
        .iter()
        .zip(&planted)
        .filter(|(_, p)| p.1 == Mood::Sad)
        .collect();
    let heard_as_sad = sad.iter().filter(|(s, _)| s.mood == "sad").count();
    assert!(
        heard_as_sad * 5 <= sad.len(),
        "the model's mistake: {sad:?}"
    );
    assert!(runs(&lab).await.is_empty(), "nothing to retrain on yet");

    // The owners label every clip: the sad ones corrected, the others confirmed.
    for (row, (_, mood, _)) in stored.iter().zip(&planted) {
        lab.correct(row.id, *mood).await;
    }
    let (newest_correction,): (i64,) = sqlx::query_as("SELECT max(correction_seq) FROM moods")
        .fetch_one(&lab.pg)
        .await
        .unwrap();

    let run = crate::helpers::poll_until("the scheduled retraining", RETRAINED, || async {
        runs(&lab)
            .await
            .into_iter()
            .next()
            .ok_or_else(|| "no run yet".to_owned())
    })
    .await;
    assert_eq!(run.trigger, "scheduled");
    assert_eq!(run.error, None);
    assert_eq!(run.active_version, Some(mislabelled));
    let (better, worse) = (
        run.candidate_macro_f1.unwrap(),
        run.active_macro_f1.unwrap(),
    );
    assert!(better > worse, "candidate {better} vs active {worse}");
    assert!(run.promoted);
    let retrained = run.candidate_version.unwrap();
    assert_eq!(
        lab.models().await,
        vec![
            (mislabelled, "retired".to_owned()),
            (retrained, "active".to_owned())
        ]
    );
    let (high_water, extra): (Option<i64>, i32) =
        sqlx::query_as("SELECT high_water, extra_clips FROM mood_models WHERE version = $1")
            .bind(retrained)
            .fetch_one(&lab.pg)
            .await
            .unwrap();
    assert_eq!(high_water, Some(newest_correction));
    assert_eq!(extra as usize, CORRECTIONS);

    // Each pet's next sad clip is understood by the new model itself (its corrections are in
    // the model's training set, so none calibrates it).
    let next: Vec<_> = {
        let mut next = Vec::new();
        for (pet, voice) in training.iter().chain(&held_out) {
            next.push(lab.clip(pet, *voice, Mood::Sad, 50).await);
        }
        next
    };
    for row in lab.classified(&next).await {
        assert_eq!(
            (
                row.mood.as_str(),
                row.classifier.as_str(),
                row.model_version
            ),
            ("sad", "model", Some(retrained)),
            "{row:?}"
        );
    }

    // The training pets' owners label their sad clips anxious again: a candidate trained on
    // that is worse on the held-out pets, and stays a candidate.
    for (row, (pet, mood, _)) in stored.iter().zip(&planted) {
        if *mood == Mood::Sad && training.iter().any(|(p, _)| p == pet) {
            lab.correct(row.id, Mood::Anxious).await;
        }
    }
    let settings = &lab.app.settings;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pettysync"))
        .args(["mood", "train", "--promote"])
        .env(
            "PETTYSYNC_DATABASE_URL",
            settings.database_url.expose_secret(),
        )
        .env(
            "PETTYSYNC_MONGODB_URL",
            settings.mongodb_url.expose_secret(),
        )
        .env("PETTYSYNC_MOOD_SEED_PER_CLASS", "0")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RETRAINED, output)
        .await
        .expect("mood train finishes")
        .expect("the binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("not promoted"), "{stdout}");
    let runs = runs(&lab).await;
    let last = runs.last().unwrap();
    assert_eq!((last.trigger.as_str(), last.promoted), ("command", false));
    assert_eq!(last.active_version, Some(retrained));
    assert!(last.candidate_macro_f1.unwrap() < last.active_macro_f1.unwrap());
    let models = lab.models().await;
    assert_eq!(models[1], (retrained, "active".to_owned()));
    assert_eq!(models[2].1, "candidate");
}
