//! The seed model's held-out scores, the round trip, the promote rule and the correction loop,
//! at the level of the core (the server's queue and routes come with the integration).

use super::*;
use crate::mood::synth::RATES;

/// Small enough for a debug-build test, large enough for every (mood, rate, pet side).
const TEST_SEED: SeedSpec = SeedSpec {
    per_class: 90,
    seed: 11,
    pets: 15,
};

fn options() -> TrainOptions {
    TrainOptions {
        seed: TEST_SEED,
        measure_forest: false,
    }
}

/// The seed model, trained once for the tests that only read it.
fn seed_model() -> &'static Trained {
    static TRAINED: std::sync::OnceLock<Trained> = std::sync::OnceLock::new();
    TRAINED.get_or_init(|| train(&options(), Vec::new(), None).unwrap())
}

#[test]
fn the_seed_model_scores_each_class_at_each_rate_on_held_out_pets() {
    let trained = seed_model();
    let metrics = trained.model.metrics.as_ref().unwrap();
    assert!(metrics.macro_f1 >= 0.9, "{}", metrics.table());
    // A fresh seed: clips the model never saw, of held-out pets, at each rate.
    let pets: Vec<usize> = (100..200)
        .filter(|&p| is_held_out(&synth::pet_key(p)))
        .take(4)
        .collect();
    for rate in RATES {
        let at_rate: Vec<_> = Mood::ALL
            .into_iter()
            .flat_map(|mood| (0..12u64).map(move |k| (mood, k)))
            .map(|(mood, k)| synth::clip(999, mood, k, pets[k as usize % pets.len()], rate))
            .collect();
        let truth: Vec<Mood> = at_rate.iter().map(|c| c.mood).collect();
        let predicted: Vec<Mood> = at_rate
            .iter()
            .map(|c| crate::mood::classify(&trained.model, &c.wav).unwrap().mood)
            .collect();
        let m = Metrics::score(&truth, &predicted);
        assert!(
            m.per_class.iter().all(|c| c.support > 0),
            "every mood at {rate} Hz"
        );
        assert!(m.macro_f1 >= 0.9, "{rate} Hz:\n{}", m.table());
    }
}

#[test]
fn no_pet_is_on_both_sides_of_the_split() {
    let trained = seed_model();
    assert!(trained.held_out.iter().all(|e| is_held_out(&e.pet)));
    let held: std::collections::HashSet<_> =
        trained.held_out.iter().map(|e| e.pet.clone()).collect();
    assert!(!held.is_empty());
    assert!(trained.model.training.clips > 0);
    let all = TEST_SEED.per_class * Mood::ALL.len();
    assert_eq!(trained.model.training.clips + trained.held_out.len(), all);
}

#[test]
fn a_model_read_back_from_json_predicts_exactly_the_same() {
    let model = &seed_model().model;
    let back = Model::from_json(&model.to_json()).unwrap();
    // JSON keeps every weight to the last bit or the next one (serde_json's fast float parser).
    assert_eq!(
        (back.labels.clone(), back.training.clone()),
        (model.labels.clone(), model.training.clone())
    );
    for (w, v) in back
        .weights
        .iter()
        .flatten()
        .zip(model.weights.iter().flatten())
    {
        assert!((w - v).abs() <= 1e-15 * v.abs().max(1.0), "{w} {v}");
    }
    for clip in synth::seed_set(&SeedSpec {
        per_class: 4,
        seed: 77,
        pets: 4,
    }) {
        let (a, b) = (
            classify(model, &clip.wav).unwrap(),
            classify(&back, &clip.wav).unwrap(),
        );
        assert_eq!(a.mood, b.mood);
        for ((_, p), (_, q)) in a.probs.iter().zip(&b.probs) {
            assert!((p - q).abs() < 1e-12, "{p} {q}");
        }
    }
}

#[test]
fn a_model_of_another_feature_version_or_shape_is_refused() {
    let mut model = seed_model().model.clone();
    model.feature_version += 1;
    assert!(matches!(
        Model::from_json(&model.to_json()),
        Err(MoodError::FeatureVersion { .. })
    ));
    model.feature_version -= 1;
    model.weights[0].pop();
    assert!(matches!(
        Model::from_json(&model.to_json()),
        Err(MoodError::BadModel(_))
    ));
    assert!(matches!(
        Model::from_json(b"{}"),
        Err(MoodError::BadModel(_))
    ));
}

use crate::mood::classify;

/// The seed set with every training-side clip of `wrong` labelled `as_`: what a model learns
/// from a class mislabelled (the held-out pets keep their true labels, so scores are honest).
fn mislabelled(wrong: Mood, as_: Mood) -> Vec<LabelledClip> {
    seed_clips(&TEST_SEED)
        .into_iter()
        .map(|mut c| {
            if c.mood == wrong && !is_held_out(&c.pet) {
                c.mood = as_;
            }
            c
        })
        .collect()
}

#[test]
fn corrections_of_a_mislabelled_class_train_a_better_model_that_is_promoted_and_a_worse_one_is_not()
{
    let no_seed = TrainOptions {
        seed: SeedSpec {
            per_class: 0,
            ..TEST_SEED
        },
        measure_forest: false,
    };
    // The active model learnt sad clips as anxious.
    let active = train(&no_seed, mislabelled(Mood::Sad, Mood::Anxious), None).unwrap();
    let active_metrics = active.model.metrics.clone().unwrap();
    let sad_f1 = active_metrics.per_class[Mood::Sad.index()].f1;
    assert!(sad_f1 < 0.5, "{}", active_metrics.table());

    // Owners correct those clips: the same clips, now labelled sad.
    // (The same clips in the same order as the seed model's: it is that model.)
    let candidate = seed_model();
    let on_same_split = evaluate(&active.model, &candidate.held_out).unwrap();
    let candidate_metrics = candidate.model.metrics.clone().unwrap();
    assert!(candidate_metrics.macro_f1 > on_same_split.macro_f1 + 0.1);
    assert!(should_promote(&candidate_metrics, Some(&on_same_split)));

    // The pet's next sad clip is now understood.
    let next = synth::clip(TEST_SEED.seed, Mood::Sad, 10_000, 3, 16_000);
    assert_eq!(
        classify(&active.model, &next.wav).unwrap().mood,
        Mood::Anxious
    );
    assert_eq!(
        classify(&candidate.model, &next.wav).unwrap().mood,
        Mood::Sad
    );

    // The other way round, the mislabelled model is the worse candidate and stays out.
    let worse_on_same_split = evaluate(&active.model, &candidate.held_out).unwrap();
    assert!(!should_promote(
        &worse_on_same_split,
        Some(&candidate_metrics)
    ));
}
