//! Training and evaluation: the seed set plus any extra labelled clips (owners' corrections),
//! a held-out split grouped by pet (no pet in both), and the promote rule.

use std::time::{Duration, Instant};

use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::mood::features::{self, Features};
use crate::mood::metrics::Metrics;
use crate::mood::model::{Alternative, Model, TrainingInfo};
use crate::mood::synth::{self, SeedSpec};
use crate::mood::{Mood, MoodError};

/// One pet in this many is held out (by a stable hash of its key, so a pet stays on its side
/// as the data grows, and the active model and a candidate meet the same test pets).
const HELD_OUT_ONE_IN: u64 = 5;
/// Extra labelled clips one run takes (the newest are kept by the caller).
pub const MAX_EXTRA_CLIPS: usize = 20_000;
/// Trees of the random forest measured as the alternative.
const FOREST_TREES: u16 = 100;

/// A labelled clip: the pet it came from, its (corrected) mood, and its WAV.
#[derive(Debug, Clone)]
pub struct LabelledClip {
    pub pet: String,
    pub mood: Mood,
    pub wav: Vec<u8>,
}

/// A clip's features with its label and pet.
#[derive(Debug, Clone)]
pub struct Example {
    pub pet: String,
    pub mood: Mood,
    pub features: Features,
}

/// How to train.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub seed: SeedSpec,
    /// Also fit a random forest on the same split and record its macro-F1 (slower).
    pub measure_forest: bool,
}

/// What a training run produced.
#[derive(Debug)]
pub struct Trained {
    /// The candidate, with its held-out metrics.
    pub model: Model,
    /// The held-out examples, to score the active model on the same split.
    pub held_out: Vec<Example>,
    /// Clips that could not be analysed (skipped, not fatal), by their index in the extra
    /// clips handed to [`train`] (or in the seed set, for [`train_examples`]).
    pub skipped: Vec<(usize, MoodError)>,
    pub feature_time: Duration,
    pub fit_time: Duration,
}

/// True when the pet's clips are held out for evaluation.
pub fn is_held_out(pet: &str) -> bool {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let hash = pet.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash % HELD_OUT_ONE_IN == 0
}

/// The seed set as labelled clips.
pub fn seed_clips(spec: &SeedSpec) -> Vec<LabelledClip> {
    synth::seed_set(spec)
        .into_iter()
        .map(|c| LabelledClip {
            pet: c.pet,
            mood: c.mood,
            wav: c.wav,
        })
        .collect()
}

/// Analyses clips on every core; a clip that fails is reported by index, not fatal.
pub fn examples(clips: &[LabelledClip]) -> (Vec<Example>, Vec<(usize, MoodError)>) {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = clips.len().div_ceil(workers).max(1);
    let results: Vec<Result<Features, MoodError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = clips
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|c| features::extract(&c.wav))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            // extract never panics (robustness tests); a panic here is a bug worth stopping on.
            .flat_map(|h| h.join().expect("feature worker panicked"))
            .collect()
    });
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for (i, (clip, result)) in clips.iter().zip(results).enumerate() {
        match result {
            Ok(features) => ok.push(Example {
                pet: clip.pet.clone(),
                mood: clip.mood,
                features,
            }),
            Err(e) => failed.push((i, e)),
        }
    }
    (ok, failed)
}

/// Trains a candidate on the seed set plus `extra` (at most `MAX_EXTRA_CLIPS`), evaluated on
/// the held-out pets. `high_water` is the newest extra clip's mark, recorded in the model.
pub fn train(
    options: &TrainOptions,
    extra: Vec<LabelledClip>,
    high_water: Option<i64>,
) -> Result<Trained, MoodError> {
    check_extra(extra.len())?;
    let started = Instant::now();
    let (extra, skipped) = examples(&extra);
    let analysed = started.elapsed();
    let mut trained = train_examples(options, extra, high_water)?;
    trained.skipped = skipped;
    trained.feature_time += analysed;
    Ok(trained)
}

/// As [`train`], with the extra clips already analysed (a retraining analyses the corrected
/// clips as it fetches them, so it never holds every WAV at once).
pub fn train_examples(
    options: &TrainOptions,
    extra: Vec<Example>,
    high_water: Option<i64>,
) -> Result<Trained, MoodError> {
    check_extra(extra.len())?;
    let started = Instant::now();
    let seed = seed_clips(&options.seed);
    let (seed_examples, skipped) = examples(&seed);
    let feature_time = started.elapsed();
    let (seed_count, extra_count) = (seed.len(), extra.len());
    drop(seed);
    let (held_out, train): (Vec<Example>, Vec<Example>) = seed_examples
        .into_iter()
        .chain(extra)
        .partition(|e| is_held_out(&e.pet));
    if held_out.is_empty() || train.is_empty() {
        return Err(MoodError::Training(format!(
            "{} training and {} held-out clips: both sides need pets",
            train.len(),
            held_out.len()
        )));
    }
    let fitting = Instant::now();
    let x: Vec<Features> = train.iter().map(|e| e.features.clone()).collect();
    let y: Vec<Mood> = train.iter().map(|e| e.mood).collect();
    let alternative = if options.measure_forest {
        Some(Alternative {
            name: "random forest".into(),
            macro_f1: forest_macro_f1(&x, &y, &held_out)?,
        })
    } else {
        None
    };
    let info = TrainingInfo {
        clips: train.len(),
        seed_clips: seed_count,
        extra_clips: extra_count,
        high_water,
        alternative,
    };
    let mut model = Model::fit(&x, &y, info)?;
    model.metrics = Some(evaluate(&model, &held_out)?);
    Ok(Trained {
        model,
        held_out,
        skipped,
        feature_time,
        fit_time: fitting.elapsed(),
    })
}

fn check_extra(count: usize) -> Result<(), MoodError> {
    if count > MAX_EXTRA_CLIPS {
        return Err(MoodError::Training(format!(
            "{count} extra clips, over {MAX_EXTRA_CLIPS}"
        )));
    }
    Ok(())
}

/// Scores a model on held-out examples (features of this build's version).
pub fn evaluate(model: &Model, held_out: &[Example]) -> Result<Metrics, MoodError> {
    model.check()?;
    let truth: Vec<Mood> = held_out.iter().map(|e| e.mood).collect();
    let predicted: Vec<Mood> = held_out
        .iter()
        .map(|e| model.predict(&e.features).mood)
        .collect();
    Ok(Metrics::score(&truth, &predicted))
}

/// The promote rule: a candidate replaces the active model when its macro-F1 on the same
/// held-out split is not worse. An active model this build cannot run (another feature
/// version) cannot be scored, and gives way.
pub fn should_promote(candidate: &Metrics, active_on_same_split: Option<&Metrics>) -> bool {
    match active_on_same_split {
        None => true,
        Some(active) => candidate.macro_f1 + 1e-9 >= active.macro_f1,
    }
}

/// The alternative classifier's macro-F1 on the same split, measured to choose between them.
fn forest_macro_f1(x: &[Features], y: &[Mood], held_out: &[Example]) -> Result<f64, MoodError> {
    let fail = |e: smartcore::error::Failed| MoodError::Training(format!("random forest: {e}"));
    let matrix = |rows: Vec<Vec<f64>>| DenseMatrix::from_2d_vec(&rows).map_err(fail);
    let train_x = matrix(x.iter().map(|f| f.0.clone()).collect())?;
    let train_y: Vec<u32> = y.iter().map(|m| m.index() as u32).collect();
    let params = RandomForestClassifierParameters::default()
        .with_n_trees(FOREST_TREES)
        .with_seed(1);
    let forest = RandomForestClassifier::fit(&train_x, &train_y, params).map_err(fail)?;
    let test_x = matrix(held_out.iter().map(|e| e.features.0.clone()).collect())?;
    let predicted: Vec<Mood> = forest
        .predict(&test_x)
        .map_err(fail)?
        .into_iter()
        .map(|c| Mood::ALL[c as usize])
        .collect();
    let truth: Vec<Mood> = held_out.iter().map(|e| e.mood).collect();
    Ok(Metrics::score(&truth, &predicted).macro_f1)
}

#[cfg(test)]
mod tests;
