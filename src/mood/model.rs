//! The classifier: multinomial logistic regression on standardised features, with
//! everything needed to trust it later (feature version, labels, training-set size and
//! high-water mark, held-out metrics). Serialised as JSON.

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::mood::calibrate::Prototypes;
use crate::mood::features::{self, Features, FEATURE_VERSION, N_FEATURES};
use crate::mood::metrics::Metrics;
use crate::mood::{Mood, MoodError};

/// L2 penalty: keeps the weights small so the probabilities stay honest on unseen voices.
const L2_ALPHA: f64 = 1e-3;
/// Solver iterations; the seed set converges well before this.
const MAX_ITERATIONS: u64 = 300;
/// Largest serialised model the store accepts (a trained one is ≈ 20 KiB).
pub const MAX_MODEL_BYTES: usize = 1024 * 1024;

/// A trained mood model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub feature_version: u32,
    /// The classes, in the order of `weights`' rows.
    pub labels: Vec<Mood>,
    /// Standardisation: each feature minus its training mean, over its training spread.
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    /// `weights[class][feature]`.
    pub weights: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
    pub training: TrainingInfo,
    /// Scores on the held-out pets (none for a model not evaluated yet).
    pub metrics: Option<Metrics>,
    /// What a pet's corrected clips are compared against (`calibrate`); none in a model
    /// trained before calibration existed, which then answers uncalibrated.
    #[serde(default)]
    pub prototypes: Option<Prototypes>,
}

/// What a model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub clips: usize,
    pub seed_clips: usize,
    pub extra_clips: usize,
    /// The newest labelled clip (e.g. a correction's id) included; the next retraining
    /// counts new corrections from here.
    pub high_water: Option<i64>,
    /// The alternative measured on the same split, and why this one was chosen.
    pub alternative: Option<Alternative>,
}

/// A classifier measured against the shipped one on the same held-out split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub name: String,
    pub macro_f1: f64,
}

/// One clip's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub mood: Mood,
    /// The probability of `mood`.
    pub confidence: f64,
    /// Every class's probability, in `Mood::ALL` order (an external endpoint's answer has
    /// its one class only).
    pub probs: Vec<(Mood, f64)>,
}

/// Classifies one WAV clip.
pub fn classify(model: &Model, wav: &[u8]) -> Result<Prediction, MoodError> {
    model.check()?;
    let features = features::extract(wav)?;
    Ok(model.predict(&features))
}

impl Model {
    /// Fits the model on labelled feature vectors.
    pub fn fit(x: &[Features], y: &[Mood], training: TrainingInfo) -> Result<Model, MoodError> {
        let fail = |m: String| MoodError::Training(m);
        let mut labels: Vec<Mood> = y.to_vec();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(fail(format!(
                "{} class(es) in the training set; need 2",
                labels.len()
            )));
        }
        let (means, scales) = standardisation(x);
        let rows: Vec<f64> = x
            .iter()
            .flat_map(|f| standardise(&f.0, &means, &scales))
            .collect();
        let prototypes = Prototypes::of(&rows, y);
        let records =
            Array2::from_shape_vec((x.len(), N_FEATURES), rows).map_err(|e| fail(e.to_string()))?;
        let targets: Array1<usize> = y.iter().map(|m| m.index()).collect();
        let fitted = MultiLogisticRegression::default()
            .alpha(L2_ALPHA)
            .max_iterations(MAX_ITERATIONS)
            .fit(&Dataset::new(records, targets))
            .map_err(|e| fail(e.to_string()))?;
        let params = fitted.params();
        let classes = fitted.classes();
        Ok(Model {
            feature_version: FEATURE_VERSION,
            labels: classes.iter().map(|&c| Mood::ALL[c]).collect(),
            means,
            scales,
            weights: (0..classes.len())
                .map(|c| params.column(c).to_vec())
                .collect(),
            intercepts: fitted.intercept().to_vec(),
            training,
            metrics: None,
            prototypes: Some(prototypes),
        })
    }

    /// Refuses a model this build cannot run.
    pub fn check(&self) -> Result<(), MoodError> {
        if self.feature_version != FEATURE_VERSION {
            return Err(MoodError::FeatureVersion {
                model: self.feature_version,
                ours: FEATURE_VERSION,
            });
        }
        let shapes_ok = self.means.len() == N_FEATURES
            && self.scales.len() == N_FEATURES
            && self.weights.len() == self.labels.len()
            && self.intercepts.len() == self.labels.len()
            && self.weights.iter().all(|w| w.len() == N_FEATURES)
            && !self.labels.is_empty()
            && self
                .prototypes
                .as_ref()
                .is_none_or(Prototypes::is_well_formed);
        if shapes_ok {
            Ok(())
        } else {
            Err(MoodError::BadModel(
                "weights do not match the feature set".into(),
            ))
        }
    }

    /// A feature vector in this model's standardised units (each feature minus its training
    /// mean, over its training spread).
    pub fn standardise(&self, features: &Features) -> Vec<f64> {
        standardise(&features.0, &self.means, &self.scales)
    }

    /// The class probabilities of one feature vector (softmax of the linear scores).
    pub fn predict(&self, features: &Features) -> Prediction {
        let z = self.standardise(features);
        let scores: Vec<f64> = self
            .weights
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| b + w.iter().zip(&z).map(|(a, x)| a * x).sum::<f64>())
            .collect();
        let top = scores.iter().copied().fold(f64::MIN, f64::max);
        let exp: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
        let total: f64 = exp.iter().sum();
        let mut probs: Vec<(Mood, f64)> = Mood::ALL.iter().map(|&m| (m, 0.0)).collect();
        for (label, e) in self.labels.iter().zip(&exp) {
            probs[label.index()].1 = e / total;
        }
        let (mood, confidence) =
            probs.iter().copied().fold(
                (self.labels[0], -1.0),
                |best, p| if p.1 > best.1 { p } else { best },
            );
        Prediction {
            mood,
            confidence,
            probs,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // A struct of numbers, strings and enums always serialises.
        serde_json::to_vec(self).expect("a model serialises")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Model, MoodError> {
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(MoodError::BadModel(format!(
                "{} bytes, over {MAX_MODEL_BYTES}",
                bytes.len()
            )));
        }
        let model: Model =
            serde_json::from_slice(bytes).map_err(|e| MoodError::BadModel(e.to_string()))?;
        model.check()?;
        Ok(model)
    }
}

fn standardisation(x: &[Features]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len().max(1) as f64;
    let means: Vec<f64> = (0..N_FEATURES)
        .map(|j| x.iter().map(|f| f.0[j]).sum::<f64>() / n)
        .collect();
    let scales = (0..N_FEATURES)
        .map(|j| {
            let var = x.iter().map(|f| (f.0[j] - means[j]).powi(2)).sum::<f64>() / n;
            // A constant feature carries nothing: scale 1 keeps it at zero instead of dividing by 0.
            if var > 1e-12 {
                var.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    (means, scales)
}

fn standardise(x: &[f64], means: &[f64], scales: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(means)
        .zip(scales)
        .map(|((v, m), s)| (v - m) / s)
        .collect()
}
