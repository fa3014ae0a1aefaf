//! One clip's classification. The external endpoint answers when one is set; when it fails
//! (or none is set) the built-in model does, adjusted by the pet's own corrections that the
//! model has not learnt yet (those numbered after its training set's high-water mark).

use std::sync::Arc;

use crate::mood::calibrate::{self, PetCorrection, MAX_PET_CORRECTIONS};
use crate::mood::{Features, Model, MoodError, FEATURE_VERSION};
use crate::store::mood_corrections;
use crate::store::moods::{Claimed, Classification, Classifier};

use super::{ClipError, MoodOutputs};

/// Classifies one clip's WAV; `model` is the active built-in model and its version.
pub(super) async fn classify(
    outputs: &MoodOutputs,
    (version, model): &(i64, Arc<Model>),
    clip: &Claimed,
    wav: Vec<u8>,
) -> Result<Classification, ClipError> {
    if let Some(endpoint) = &outputs.endpoint {
        match endpoint.classify(wav.clone()).await {
            Ok(prediction) => {
                // Kept all the same: a correction of this mood adjusts the built-in model's
                // answers for the pet, and a clip we cannot analyse simply has none.
                let features = tokio::task::spawn_blocking(move || crate::mood::extract(&wav))
                    .await
                    .ok()
                    .and_then(Result::ok);
                return Ok(Classification {
                    prediction,
                    classifier: Classifier::External,
                    model_version: None,
                    features,
                });
            }
            Err(error) => {
                metrics::counter!("pettysync_mood_endpoint_failures_total").increment(1);
                tracing::warn!(clip = %clip.s3_key, %error, "the mood endpoint failed: the built-in model answers");
            }
        }
    }
    let corrections = mood_corrections::of_pet_since(
        &outputs.pg,
        clip.pet_id,
        model.training.high_water,
        FEATURE_VERSION,
        MAX_PET_CORRECTIONS,
    )
    .await
    .map_err(|e| ClipError::Passing(format!("the pet's corrections: {e}")))?;
    let model = model.clone();
    match tokio::task::spawn_blocking(move || built_in(&model, &wav, &corrections)).await {
        Ok(Ok((prediction, weight, features))) => Ok(Classification {
            prediction,
            classifier: if weight > 0.0 {
                Classifier::Calibrated
            } else {
                Classifier::Model
            },
            model_version: Some(*version),
            features: Some(features),
        }),
        Ok(Err(error)) => Err(ClipError::Bad(error)),
        Err(error) => Err(ClipError::Passing(format!(
            "the classifier stopped: {error}"
        ))),
    }
}

/// The built-in model's answer, calibrated by the pet's corrections, with the calibration's
/// weight and the clip's features.
fn built_in(
    model: &Model,
    wav: &[u8],
    corrections: &[PetCorrection],
) -> Result<(crate::mood::Prediction, f64, Features), MoodError> {
    model.check()?;
    let features = crate::mood::extract(wav)?;
    let prediction = model.predict(&features);
    let calibrated = calibrate::calibrate(model, &features, prediction, corrections);
    Ok((calibrated.prediction, calibrated.weight, features))
}
