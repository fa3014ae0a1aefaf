//! Calibration on the generator's clips: a model that learnt sad clips as anxious, and pets
//! whose owners corrected some of their sad clips.

use super::*;
use crate::mood::synth::{self, SeedSpec};
use crate::mood::train::{self, TrainOptions};

const SEED: SeedSpec = SeedSpec {
    per_class: 40,
    seed: 21,
    pets: 8,
};
/// The pets of the tests: voices the model never heard.
const PETS: [usize; 3] = [500, 501, 502];

/// A model trained with every sad clip labelled anxious.
fn mislabelled_model() -> &'static Model {
    static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let clips = train::seed_clips(&SEED)
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
                ..SEED
            },
            measure_forest: false,
        };
        train::train(&options, clips, None).unwrap().model
    })
}

/// A pet's `k`th clip of `mood`: its features and the model's answer.
fn clip(pet: usize, mood: Mood, k: u64, rate: u32) -> (Features, Prediction) {
    let clip = synth::clip(99, mood, k, pet, rate);
    let features = crate::mood::extract(&clip.wav).unwrap();
    let prediction = mislabelled_model().predict(&features);
    (features, prediction)
}

fn sad_correction(pet: usize, k: u64) -> PetCorrection {
    PetCorrection {
        mood: Mood::Sad,
        features: clip(pet, Mood::Sad, k, 16_000).0,
    }
}

/// Of the pet's 12 next sad clips and 12 next anxious clips, how many the calibration turns
/// sad after the owner corrected 1, 3 and 6 of its sad clips.
fn turned_sad(pet: usize) -> Vec<(usize, usize)> {
    let corrections: Vec<_> = (100..106).map(|k| sad_correction(pet, k)).collect();
    let next = |mood| -> Vec<(Features, Prediction)> {
        (0..12).map(|k| clip(pet, mood, k, 16_000)).collect()
    };
    let (sad, anxious) = (next(Mood::Sad), next(Mood::Anxious));
    let turned = |clips: &[(Features, Prediction)], n: usize| {
        clips
            .iter()
            .filter(|(features, prediction)| {
                assert_eq!(prediction.mood, Mood::Anxious, "the model's answer");
                let calibrated = calibrate(
                    mislabelled_model(),
                    features,
                    prediction.clone(),
                    &corrections[..n],
                );
                let total: f64 = calibrated.prediction.probs.iter().map(|p| p.1).sum();
                assert!((total - 1.0).abs() < 1e-9, "{total}");
                calibrated.prediction.mood == Mood::Sad
            })
            .count()
    };
    [1, 3, 6]
        .map(|n| (turned(&sad, n), turned(&anxious, n)))
        .to_vec()
}

#[test]
fn a_correction_turns_the_pets_clips_like_it_and_more_corrections_reach_further() {
    for pet in PETS {
        let counts = turned_sad(pet);
        // The generator's sad clips vary (one or two howls, their pitch, the gaps): one
        // correction reaches the clips like it, more reach the rest, and the pet's anxious
        // clips, which the model gets right, stay anxious.
        assert!(counts[0].0 >= 3, "one correction: {counts:?}");
        assert!(counts[1].0 >= counts[0].0, "three corrections: {counts:?}");
        assert!(counts[2].0 >= 10, "six corrections: {counts:?}");
        assert!(counts.iter().all(|c| c.1 == 0), "{counts:?}");
    }
}

#[test]
fn the_pets_clips_of_other_moods_keep_the_models_answer() {
    for pet in PETS {
        let corrections = [sad_correction(pet, 100), sad_correction(pet, 101)];
        for mood in [Mood::Calm, Mood::Happy, Mood::Anxious, Mood::Angry] {
            for k in 10..13 {
                let (features, prediction) = clip(pet, mood, k, 16_000);
                let before = prediction.mood;
                let calibrated =
                    calibrate(mislabelled_model(), &features, prediction, &corrections);
                assert_eq!(calibrated.prediction.mood, before, "{mood}: {calibrated:?}");
                assert!(calibrated.weight < 0.3, "{mood}: {}", calibrated.weight);
            }
        }
    }
}

#[test]
fn without_usable_corrections_or_prototypes_the_answer_is_the_models() {
    let (features, prediction) = clip(PETS[0], Mood::Sad, 3, 16_000);
    let none = calibrate(mislabelled_model(), &features, prediction.clone(), &[]);
    assert_eq!((&none.prediction, none.weight), (&prediction, 0.0));
    let misshapen = PetCorrection {
        mood: Mood::Sad,
        features: Features(vec![0.0; 3]),
    };
    let not_finite = PetCorrection {
        mood: Mood::Sad,
        features: Features(vec![f64::NAN; N_FEATURES]),
    };
    let ignored = calibrate(
        mislabelled_model(),
        &features,
        prediction.clone(),
        &[misshapen, not_finite],
    );
    assert_eq!(ignored.prediction, prediction);
    // A model stored before calibration existed has no prototypes: it answers as it is.
    let mut json: serde_json::Value =
        serde_json::from_slice(&mislabelled_model().to_json()).unwrap();
    json.as_object_mut().unwrap().remove("prototypes");
    let older = Model::from_json(json.to_string().as_bytes()).unwrap();
    assert_eq!(older.prototypes, None);
    let corrections = [sad_correction(PETS[0], 100)];
    let as_it_is = calibrate(&older, &features, prediction.clone(), &corrections);
    assert_eq!(as_it_is.weight, 0.0);
}
