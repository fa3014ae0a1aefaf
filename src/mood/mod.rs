//! The mood classifier core: a voice clip's WAV in, the pet's mood out, on the CPU.
//!
//! - `features`: WAV → one rate → log-mel spectrogram, pitch, flatness and bout rhythm,
//!   summarised into one fixed-length vector per clip (`FEATURE_VERSION`);
//! - `synth`: the deterministic synthetic seed set (the ethology literature's acoustic rules
//!   for each mood), because no real labelled pet audio exists that we may ship;
//! - `model`: multinomial logistic regression on standardised features, serialisable with
//!   everything it needs to be trusted later (feature version, labels, held-out metrics);
//! - `train`: fit and evaluate on a held-out split grouped by pet, and the promote rule;
//! - `calibrate`: a pet's own corrections adjust its results until the next retraining.
//!
//! Ground floor: no I/O beyond the bytes handed in, no actors, no HTTP; the store keeps the
//! models, the server (later) feeds the clips.

pub mod calibrate;
pub mod features;
mod label;
pub mod metrics;
pub mod model;
pub mod synth;
pub mod train;

pub use features::{extract, Features, FEATURE_VERSION};
pub use label::Mood;
pub use metrics::Metrics;
pub use model::{classify, Model, Prediction};

/// Why a clip could not be classified or a model not trained. Every variant is a clear skip,
/// never a panic: the queue marks the clip with this reason and moves on.
#[derive(Debug, thiserror::Error)]
pub enum MoodError {
    #[error("the clip is {bytes} bytes, over the {max} byte limit")]
    TooLarge { bytes: usize, max: usize },
    #[error("not a readable WAV: {0}")]
    BadWav(String),
    #[error("unsupported WAV: {0}")]
    Unsupported(String),
    #[error("the clip is {seconds:.2} s long, outside {min}–{max} s")]
    BadLength { seconds: f64, min: f64, max: f64 },
    #[error("resampling failed: {0}")]
    Resample(String),
    #[error("the model needs feature version {model}, this build computes {ours}")]
    FeatureVersion { model: u32, ours: u32 },
    #[error("training failed: {0}")]
    Training(String),
    #[error("the model is malformed: {0}")]
    BadModel(String),
}
