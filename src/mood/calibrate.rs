//! Per-pet calibration: until the next retraining has learnt them, a pet's own corrected
//! clips adjust the model's answer for that pet's next clips, so an owner's correction has
//! an effect today.
//!
//! A nearest-centroid blend in the model's standardised feature space. The model keeps, from
//! its training set, each class's centroid and the pooled within-class spread of every
//! feature (`Prototypes`); coordinates are divided by that spread, so features that vary
//! within a mood count less than those that tell moods apart. For a new clip the model calls
//! `q`, the pet's corrections of clips the model also calls `q` are averaged per owner's mood
//! `m`; the clip is placed on the line from the model's centroid of `q` (0) to the pet's
//! centroid of `m` (1), a one-dimensional discriminant that ignores the many directions in
//! which clips of one mood differ anyway. Past [`LIKE_AT`] it is like the owner's clips; the
//! likenesses vote, and the vote is blended into the model's probabilities with a weight that
//! grows with the number of corrections behind it. So a correction changes the pet's clips
//! that resemble the corrected one (one correction is enough for those), and leaves its other
//! sounds — which the model calls something else, or which lie on the model's side — alone.

use serde::{Deserialize, Serialize};

use crate::mood::features::{Features, N_FEATURES};
use crate::mood::model::{Model, Prediction};
use crate::mood::Mood;

/// Most corrections of one pet taken into account (the newest).
pub const MAX_PET_CORRECTIONS: i64 = 200;
/// Place on the line from the model's centroid (0) to the pet's corrected clips (1) at which
/// a clip is half like the corrected ones. On the seed set the clips the model gets right lie
/// near 0 (at most about 0.05) and clips like a corrected one from about 0.35 up; one
/// correction turns about half of a pet's clips of that mood, six nearly all, and none of
/// another mood (see the tests).
const LIKE_AT: f64 = 0.3;
/// Width of the step around `LIKE_AT` (at 0.45: 0.92 like; at 0.15: 0.08).
const LIKE_WIDTH: f64 = 0.06;
/// The pet's centroid must lie at least this far from the model's (root-mean-square, in
/// within-class spreads) for a line between them to mean anything.
const MIN_SEPARATION: f64 = 0.05;
/// Pseudo-count of the blend: `n` corrections behind the likest mood weigh `n / (n + 0.5)`
/// at most (one correction: 2/3, so a clip just like it takes the owner's mood).
const PSEUDO_COUNT: f64 = 0.5;
/// A blend weight below this changes nothing worth telling: the model's answer stands.
const NEGLIGIBLE_WEIGHT: f64 = 0.01;
/// Least within-class spread of a feature (standardised units), so a feature that happens to
/// be constant within every class cannot dominate every distance.
const MIN_SPREAD: f64 = 0.05;

/// One of the pet's corrected clips: the owner's mood and the clip's features.
#[derive(Debug, Clone, PartialEq)]
pub struct PetCorrection {
    pub mood: Mood,
    pub features: Features,
}

/// What a model's training set looked like, in its standardised units: each class's centroid
/// and each feature's pooled within-class spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prototypes {
    /// `centroids[i]` is the centroid of `moods[i]`.
    pub moods: Vec<Mood>,
    pub centroids: Vec<Vec<f64>>,
    pub within_spread: Vec<f64>,
}

impl Prototypes {
    /// The prototypes of standardised training rows (`rows` holds `y.len()` rows of
    /// `N_FEATURES`, one after the other).
    pub fn of(rows: &[f64], y: &[Mood]) -> Prototypes {
        let mut moods: Vec<Mood> = y.to_vec();
        moods.sort();
        moods.dedup();
        let row = |i: usize| &rows[i * N_FEATURES..(i + 1) * N_FEATURES];
        let centroids: Vec<Vec<f64>> = moods
            .iter()
            .map(|&mood| {
                let members: Vec<usize> = (0..y.len()).filter(|&i| y[i] == mood).collect();
                let mut sum = vec![0.0; N_FEATURES];
                for &i in &members {
                    sum.iter_mut().zip(row(i)).for_each(|(s, v)| *s += v);
                }
                sum.iter()
                    .map(|s| s / members.len().max(1) as f64)
                    .collect()
            })
            .collect();
        let mut squares = vec![0.0; N_FEATURES];
        for (i, mood) in y.iter().enumerate() {
            let Some(c) = moods.iter().position(|m| m == mood) else {
                continue;
            };
            for (j, v) in row(i).iter().enumerate() {
                squares[j] += (v - centroids[c][j]).powi(2);
            }
        }
        let within_spread = squares
            .iter()
            .map(|s| (s / y.len().max(1) as f64).sqrt().max(MIN_SPREAD))
            .collect();
        Prototypes {
            moods,
            centroids,
            within_spread,
        }
    }

    /// True when the shapes fit this build's feature set.
    pub fn is_well_formed(&self) -> bool {
        !self.moods.is_empty()
            && self.centroids.len() == self.moods.len()
            && self.centroids.iter().all(|c| c.len() == N_FEATURES)
            && self.within_spread.len() == N_FEATURES
            && self.within_spread.iter().all(|s| *s > 0.0)
    }

    fn centroid(&self, mood: Mood) -> Option<&[f64]> {
        let i = self.moods.iter().position(|m| *m == mood)?;
        Some(&self.centroids[i])
    }

    /// Where `z` lies on the line from `from` (0) to `to` (1), in within-class spreads;
    /// `None` when the two are too close to make a line.
    fn place(&self, z: &[f64], from: &[f64], to: &[f64]) -> Option<f64> {
        let (mut along, mut length) = (0.0, 0.0);
        for j in 0..N_FEATURES {
            let s2 = self.within_spread[j] * self.within_spread[j];
            let axis = to[j] - from[j];
            along += (z[j] - from[j]) * axis / s2;
            length += axis * axis / s2;
        }
        let separation = (length / N_FEATURES as f64).sqrt();
        (separation >= MIN_SEPARATION).then(|| along / length)
    }
}

/// A prediction after calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibrated {
    pub prediction: Prediction,
    /// The share of the pet's corrections in the answer (0: the model's own).
    pub weight: f64,
}

/// Blends the pet's corrections into the model's `prediction` of a clip with `features`.
pub fn calibrate(
    model: &Model,
    features: &Features,
    prediction: Prediction,
    corrections: &[PetCorrection],
) -> Calibrated {
    let unchanged = |prediction| Calibrated {
        prediction,
        weight: 0.0,
    };
    let Some(prototypes) = model.prototypes.as_ref().filter(|p| p.is_well_formed()) else {
        return unchanged(prediction);
    };
    let seen_as = prediction.mood;
    let Some(model_centroid) = prototypes.centroid(seen_as) else {
        return unchanged(prediction);
    };
    let z = model.standardise(features);
    // Each owner's mood for clips the model also calls `seen_as`: its likeness (0–1) and the
    // corrections behind it.
    let likeness: Vec<(Mood, f64, usize)> = pet_centroids(model, seen_as, corrections)
        .into_iter()
        .filter_map(|(mood, centroid, n)| {
            let at = prototypes.place(&z, model_centroid, &centroid)?;
            Some((mood, 1.0 / (1.0 + (-(at - LIKE_AT) / LIKE_WIDTH).exp()), n))
        })
        .collect();
    let Some(&(_, likest, n)) = likeness.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return unchanged(prediction);
    };
    let total: f64 = likeness.iter().map(|l| l.1).sum();
    let weight = likest * n as f64 / (n as f64 + PSEUDO_COUNT);
    if !(weight >= NEGLIGIBLE_WEIGHT && total > 0.0) {
        return unchanged(prediction);
    }
    let mut probs = prediction.probs.clone();
    for (mood, p) in probs.iter_mut() {
        let vote = likeness
            .iter()
            .find(|l| l.0 == *mood)
            .map_or(0.0, |l| l.1 / total);
        *p = (1.0 - weight) * *p + weight * vote;
    }
    let (mood, confidence) =
        probs.iter().copied().fold(
            (prediction.mood, -1.0),
            |best, p| if p.1 > best.1 { p } else { best },
        );
    Calibrated {
        prediction: Prediction {
            mood,
            confidence,
            probs,
        },
        weight,
    }
}

/// The centroid (standardised units) of the pet's corrections to each mood other than
/// `seen_as`, among the clips the model calls `seen_as`, and how many clips it has. Clips
/// whose features are not of this model's shape are left out.
fn pet_centroids(
    model: &Model,
    seen_as: Mood,
    corrections: &[PetCorrection],
) -> Vec<(Mood, Vec<f64>, usize)> {
    let mut sums: Vec<(Mood, Vec<f64>, usize)> = Vec::new();
    for correction in corrections {
        let f = &correction.features.0;
        if correction.mood == seen_as
            || f.len() != N_FEATURES
            || !f.iter().all(|v| v.is_finite())
            || model.predict(&correction.features).mood != seen_as
        {
            continue;
        }
        let z = model.standardise(&correction.features);
        match sums.iter_mut().find(|s| s.0 == correction.mood) {
            Some((_, sum, n)) => {
                sum.iter_mut().zip(&z).for_each(|(s, v)| *s += v);
                *n += 1;
            }
            None => sums.push((correction.mood, z, 1)),
        }
    }
    for (_, sum, n) in sums.iter_mut() {
        sum.iter_mut().for_each(|s| *s /= *n as f64);
    }
    sums
}

#[cfg(test)]
mod tests;
