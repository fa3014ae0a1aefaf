//! `pettysync mood synth|train|eval`: the seed set as WAV files, a training run against the
//! stores, and the held-out scores printed.

use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::mood::synth::{self, SeedSpec};
use crate::mood::train::{self, TrainOptions};
use crate::mood::Mood;
use crate::store::mood_models;
use crate::store::mood_retrain;
use crate::store::mood_training::ModelStore;

use super::CliError;

#[derive(Debug, clap::Subcommand)]
pub enum MoodCommand {
    /// Write the deterministic synthetic seed set: DIR/{mood}/{pet}-{n}-{rate}.wav.
    Synth {
        /// Folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Clips of each mood.
        #[arg(long, default_value_t = SeedSpec::DEFAULT.per_class)]
        per_class: usize,
        /// Seed of the generator: the same seed writes the same bytes.
        #[arg(long, default_value_t = SeedSpec::DEFAULT.seed)]
        seed: u64,
    },
    /// Train a model on the seed set plus every owner's correction (the clips fetched from
    /// S3), store it as a candidate and print its held-out scores.
    Train {
        /// Make it active if its macro-F1 is not worse than the active model's on the same split.
        #[arg(long)]
        promote: bool,
    },
    /// Train on the seed set and print the held-out scores and confusion matrix, beside the
    /// alternative classifier's and the active model's on the same split (stores nothing).
    Eval,
}

/// Largest `--per-class` (10 000 clips of each mood are a few GiB of WAV).
const MAX_PER_CLASS: usize = 10_000;
/// Skipped clips named in the output (the rest are counted).
const MAX_SKIPS_PRINTED: usize = 20;

pub async fn run(settings: &Settings, command: MoodCommand) -> Result<(), CliError> {
    match command {
        MoodCommand::Synth {
            out,
            per_class,
            seed,
        } => {
            if per_class > MAX_PER_CLASS {
                return Err(CliError::BadArgument(format!(
                    "--per-class is at most {MAX_PER_CLASS}"
                )));
            }
            let written = write_seed_set(
                &out,
                &SeedSpec {
                    per_class,
                    seed,
                    ..SeedSpec::DEFAULT
                },
            )?;
            println!("{written} clips written under {}", out.display());
        }
        MoodCommand::Train { promote } => {
            let pg = crate::startup::pg_pool(settings).await?;
            let s3 =
                crate::startup::s3_client(&crate::startup::aws_config(settings).await, settings);
            let store = ModelStore {
                pg: &pg,
                s3: &s3,
                bucket: &settings.s3_bucket,
            };
            let options = TrainOptions {
                seed: SeedSpec {
                    per_class: settings.mood_seed_per_class,
                    ..SeedSpec::DEFAULT
                },
                measure_forest: true,
            };
            let retrained = mood_retrain::retrain(&store, options, promote, "command")
                .await
                .map_err(anyhow::Error::from)?;
            println!(
                "{} corrected clips taken ({} skipped), high-water mark {}",
                retrained.corrections,
                retrained.skipped.len(),
                retrained
                    .outcome
                    .trained
                    .model
                    .training
                    .high_water
                    .map_or("none".to_owned(), |m| m.to_string())
            );
            for why in retrained.skipped.iter().take(MAX_SKIPS_PRINTED) {
                println!("  skipped {why}");
            }
            let outcome = retrained.outcome;
            println!("candidate version {}", outcome.candidate_version);
            print_scores(
                &outcome.trained,
                outcome.active.as_ref().and_then(|a| a.1.as_ref()),
            );
            let verdict = match (promote, outcome.promoted) {
                (_, true) => "promoted: it is the active model now",
                (true, false) => "not promoted: worse than the active model on the same split",
                (false, false) => "kept as a candidate (--promote to make it active)",
            };
            println!("{verdict}");
        }
        MoodCommand::Eval => {
            let pg = crate::startup::pg_pool(settings).await?;
            let s3 =
                crate::startup::s3_client(&crate::startup::aws_config(settings).await, settings);
            let options = TrainOptions {
                seed: SeedSpec::DEFAULT,
                measure_forest: true,
            };
            let trained =
                tokio::task::spawn_blocking(move || train::train(&options, Vec::new(), None))
                    .await
                    .map_err(anyhow::Error::from)?
                    .map_err(anyhow::Error::from)?;
            let active = mood_models::load_active(&pg, &s3, &settings.s3_bucket)
                .await
                .map_err(anyhow::Error::from)?;
            let active_metrics = match &active {
                Some((_, model)) => {
                    Some(train::evaluate(model, &trained.held_out).map_err(anyhow::Error::from)?)
                }
                None => None,
            };
            print_scores(&trained, active_metrics.as_ref());
            if let Some((version, _)) = active {
                println!("(active model: version {version})");
            }
        }
    }
    Ok(())
}

fn print_scores(trained: &train::Trained, active: Option<&crate::mood::Metrics>) {
    let model = &trained.model;
    println!(
        "trained on {} clips ({} seed, {} extra), {} held out; features {:.1} s, fit {:.1} s",
        model.training.clips,
        model.training.seed_clips,
        model.training.extra_clips,
        trained.held_out.len(),
        trained.feature_time.as_secs_f64(),
        trained.fit_time.as_secs_f64()
    );
    if let Some(metrics) = &model.metrics {
        println!("logistic regression (shipped):\n{}", metrics.table());
    }
    if let Some(alt) = &model.training.alternative {
        println!(
            "{} on the same split: macro-F1 {:.3}",
            alt.name, alt.macro_f1
        );
    }
    if let Some(active) = active {
        println!(
            "active model on the same split: macro-F1 {:.3}",
            active.macro_f1
        );
    }
}

/// Writes every clip of the seed set; returns how many.
pub fn write_seed_set(out: &Path, spec: &SeedSpec) -> Result<usize, CliError> {
    let io =
        |path: &Path, e: std::io::Error| CliError::BadArgument(format!("{}: {e}", path.display()));
    let clips = synth::seed_set(spec);
    for mood in Mood::ALL {
        let dir = out.join(mood.as_str());
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    }
    let mut counts = [0usize; 5];
    for clip in &clips {
        let n = &mut counts[clip.mood.index()];
        let path = out
            .join(clip.mood.as_str())
            .join(format!("{}-{:05}-{}.wav", clip.pet, n, clip.rate));
        *n += 1;
        std::fs::write(&path, &clip.wav).map_err(|e| io(&path, e))?;
    }
    Ok(clips.len())
}
