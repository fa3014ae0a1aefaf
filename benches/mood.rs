//! The mood classifier's costs, printed: inference time per clip (p50/p99 for 1 s and 10 s
//! clips, one thread), clips per second on one core, the cost of calibrating one answer with a
//! pet's corrections, retraining time for 10 000 clips (synthesis, features, fit: what a
//! retraining on the seed set plus corrections costs besides fetching the WAVs), the seed
//! model's held-out scores and the model's size.
//!
//! `cargo bench --bench mood [-- --quick]` (scripts/bench.sh runs it). No services needed.

#[path = "support/mod.rs"]
#[allow(
    dead_code,
    reason = "this benchmark uses the CPU and statistics helpers only"
)]
mod support;

use std::time::{Duration, Instant};

use pettysync::mood::calibrate::{self, PetCorrection, MAX_PET_CORRECTIONS};
use pettysync::mood::synth::{self, SeedSpec, RATES};
use pettysync::mood::train::{self, TrainOptions};
use pettysync::mood::{classify, Mood};
use support::{host, stats};

/// This thread's CPU time, to the nanosecond (`/proc/thread-self/schedstat`), so a busy
/// shared machine's waiting does not count as the classifier's cost.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
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
    println!(
        "model size: {} bytes of JSON",
        trained.model.to_json().len()
    );

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
    }

    calibration(&trained.model, quick);

    let big = if quick {
        SeedSpec {
            per_class: 400,
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
}
