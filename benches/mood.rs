//! The mood classifier's costs, printed: inference time per clip (p50/p99 for 1 s and 10 s
//! clips, one thread), clips per second on one core, the cost of calibrating one answer with a
//! pet's corrections, retraining time for 10 000 clips (synthesis, features, fit: what a
//! retraining on the seed set plus corrections costs besides fetching the WAVs), the seed
//! model's held-out scores and the model's size.
//!
//! `cargo bench --bench mood [-- --quick]` (scripts/bench.sh runs it). No services needed.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use pettysync::mood::calibrate::{self, PetCorrection, MAX_PET_CORRECTIONS};
use pettysync::mood::synth::{self, SeedSpec, RATES};
use pettysync::mood::train::{self, TrainOptions};
use pettysync::mood::{classify, Mood};
use support::summary::{Better, Row};
use support::{host, stats};

const BENCH: &str = "mood";
/// Retraining on this many clips should take under [`RETRAIN_TARGET_S`] (features and fit).
const RETRAIN_CLIPS: f64 = 10_000.0;
const RETRAIN_TARGET_S: f64 = 60.0;
/// Inference CPU per 10 s clip, ms.
const INFERENCE_10S_TARGET_MS: f64 = 10.0;
/// The seed model's held-out macro-F1 (also a test's floor).
const SEED_F1_TARGET: f64 = 0.9;

/// This thread's CPU time, to the nanosecond (`/proc/thread-self/schedstat`), so a busy
/// shared machine's waiting does not count as the classifier's cost.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench programs without
    // it, and training models has no place in a test run.
    if !args.iter().any(|arg| arg == "--bench") {
        support::summary::check_format();
        println!("mood: a benchmark; run it with `cargo bench --bench mood -- [--quick]`");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    println!(
        "mood benchmark on {} ({} cores, load {})",
        host::machine(),
        host::cores(),
        host::load_average()
    );

    let started = Instant::now();
    let seed = TrainOptions {
        seed: SeedSpec::DEFAULT,
        measure_forest: true,
    };
    let trained = train::train(&seed, Vec::new(), None).expect("the seed model trains");
    let metrics = trained
        .model
        .metrics
        .clone()
        .expect("a trained model is scored");
    println!(
        "\nseed model ({} clips, {} training / {} held out): {:.2} s (features {:.2} s, fit {:.2} s)",
        SeedSpec::DEFAULT.per_class * Mood::ALL.len(),
        trained.model.training.clips,
        trained.held_out.len(),
        started.elapsed().as_secs_f64(),
        trained.feature_time.as_secs_f64(),
        trained.fit_time.as_secs_f64()
    );
    if let Some(alt) = &trained.model.training.alternative {
        println!(
            "logistic regression macro-F1 {:.3}; {} on the same split {:.3}",
            metrics.macro_f1, alt.name, alt.macro_f1
        );
    }
    println!("{}", metrics.table());
    let size = trained.model.to_json().len();
    println!("model size: {size} bytes of JSON");
    let seed_clips = SeedSpec::DEFAULT.per_class * Mood::ALL.len();
    Row::reference(
        BENCH,
        "seed model: features + fit",
        (trained.feature_time + trained.fit_time).as_secs_f64(),
        "s",
    )
    .better(Better::Lower)
    .detail(format!("{seed_clips} clips"))
    .record();
    Row::at_least(
        BENCH,
        "seed model: held-out macro-F1",
        metrics.macro_f1,
        "",
        SEED_F1_TARGET,
    )
    .record();
    Row::reference(BENCH, "model size (JSON)", size as f64 / 1024.0, "KiB").record();

    let per_length = if quick { 60 } else { 300 };
    for seconds in [1.0f32, 10.0] {
        let clips: Vec<Vec<u8>> = (0..per_length)
            .map(|i| {
                let mood = Mood::ALL[i % Mood::ALL.len()];
                let rate = RATES[(i / Mood::ALL.len()) % RATES.len()];
                synth::clip_lasting(77, mood, i as u64, i % 7, rate, Some(seconds)).wav
            })
            .collect();
        let wall_start = Instant::now();
        let mut cpu_times: Vec<Duration> = Vec::with_capacity(clips.len());
        let mut times: Vec<Duration> = clips
            .iter()
            .map(|wav| {
                let (t, cpu) = (Instant::now(), thread_cpu());
                classify(&trained.model, wav).expect("a generated clip classifies");
                cpu_times.push(thread_cpu().saturating_sub(cpu));
                t.elapsed()
            })
            .collect();
        let wall = wall_start.elapsed();
        let cpu_total: Duration = cpu_times.iter().sum();
        times.sort();
        let ms = |q: f64| stats::percentile(&times, q).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        // The kernel advances a thread's CPU clock in ticks, so per-clip CPU percentiles are
        // not resolvable: the mean over all clips is, and the wall-clock percentiles on one
        // thread bound the per-clip cost from above (they include waiting on a busy machine).
        println!(
            "inference, {seconds:>4} s clips (8/16/22.05 kHz mix, {} clips, one thread): CPU mean {:.2} ms; wall p50 {:.2} ms, p99 {:.2} ms; {:.0} clips/s of CPU on one core ({:.0} clips/s wall)",
            clips.len(),
            cpu_total.as_secs_f64() * 1e3 / clips.len() as f64,
            ms(0.50),
            ms(0.99),
            clips.len() as f64 / cpu_total.as_secs_f64(),
            clips.len() as f64 / wall.as_secs_f64()
        );
        let cpu_ms = cpu_total.as_secs_f64() * 1e3 / clips.len() as f64;
        let figure = format!("inference CPU per {seconds} s clip (mean)");
        let row = if seconds >= 10.0 {
            Row::at_most(BENCH, figure, cpu_ms, "ms", INFERENCE_10S_TARGET_MS)
        } else {
            Row::reference(BENCH, figure, cpu_ms, "ms").better(Better::Lower)
        };
        row.detail(format!(
            "{} clips, one thread; wall p99 {:.2} ms",
            clips.len(),
            ms(0.99)
        ))
        .record();
    }

    calibration(&trained.model, quick);

    let big = if quick {
        SeedSpec {
            per_class: 200,
            seed: 2,
            pets: 50,
        }
    } else {
        SeedSpec {
            per_class: 2_000,
            seed: 2,
            pets: 100,
        }
    };
    let t = Instant::now();
    let clips = train::seed_clips(&big);
    let synth_time = t.elapsed();
    let trained = train::train(
        &TrainOptions {
            seed: SeedSpec {
                per_class: 0,
                ..big
            },
            measure_forest: false,
        },
        clips,
        None,
    )
    .expect("the large set trains");
    println!(
        "\nretraining on {} clips ({} cores): synthesis {:.1} s, features {:.1} s, fit {:.1} s (held-out macro-F1 {:.3})",
        big.per_class * Mood::ALL.len(),
        host::cores(),
        synth_time.as_secs_f64(),
        trained.feature_time.as_secs_f64(),
        trained.fit_time.as_secs_f64(),
        trained.model.metrics.map_or(f64::NAN, |m| m.macro_f1)
    );
    let clips = (big.per_class * Mood::ALL.len()) as f64;
    let work = (trained.feature_time + trained.fit_time).as_secs_f64();
    Row::at_most(
        BENCH,
        "retraining: features + fit, scaled to 10 000 clips",
        work * RETRAIN_CLIPS / clips,
        "s",
        RETRAIN_TARGET_S,
    )
    .detail(format!(
        "measured on {clips} clips, {} cores; synthesis not counted",
        host::cores()
    ))
    .record();
}

/// CPU per calibrated answer for a pet with the most corrections taken into account, every
/// one of them of clips the model calls the same as the clip at hand (the worst case).
fn calibration(model: &pettysync::mood::Model, quick: bool) {
    let features = |mood, k| {
        let clip = synth::clip_lasting(78, mood, k, 3, 16_000, Some(2.0));
        pettysync::mood::extract(&clip.wav).expect("a generated clip analyses")
    };
    let corrections: Vec<PetCorrection> = (0..MAX_PET_CORRECTIONS as u64)
        .map(|k| PetCorrection {
            mood: Mood::Sad,
            features: features(Mood::Anxious, k),
        })
        .collect();
    let clips: Vec<_> = (0..if quick { 50 } else { 200 })
        .map(|k| features(Mood::Anxious, 1_000 + k))
        .collect();
    let cpu = thread_cpu();
    for clip in &clips {
        let prediction = model.predict(clip);
        std::hint::black_box(calibrate::calibrate(model, clip, prediction, &corrections));
    }
    let per_clip = thread_cpu().saturating_sub(cpu).as_secs_f64() / clips.len() as f64;
    println!(
        "\ncalibration with {} corrections: CPU mean {:.3} ms per answer ({} answers)",
        corrections.len(),
        per_clip * 1e3,
        clips.len()
    );
    Row::reference(
        BENCH,
        "calibrating one answer with the most corrections (CPU mean)",
        per_clip * 1e3,
        "ms",
    )
    .better(Better::Lower)
    .detail(format!("{} corrections", corrections.len()))
    .record();
}
