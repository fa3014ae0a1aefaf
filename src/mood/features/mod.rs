//! One clip → one fixed-length feature vector: the spectral shape (mean and spread of each
//! mel band), loudness, how tonal it is and at what pitch, where the pitch goes, and the
//! rhythm of its bouts (barks and the gaps between them).

mod decode;
mod spectrum;

pub use decode::{MAX_CLIP_SECONDS, MAX_WAV_BYTES, MIN_CLIP_SECONDS, TARGET_RATE};
use spectrum::{Frame, HOP, N_MELS};

use crate::mood::MoodError;

/// The version of the feature set. A model records the version it was trained on and is
/// refused by a build that computes another: bump it on any change to what `extract` returns.
pub const FEATURE_VERSION: u32 = 1;
/// Scalars after the mel means and spreads (see `summarise`).
const N_SCALARS: usize = 15;
/// Length of every feature vector.
pub const N_FEATURES: usize = 2 * N_MELS + N_SCALARS;
/// A frame is active (part of a sound, not the background) within this many dB of the loudest.
const ACTIVE_BELOW_PEAK_DB: f32 = 25.0;
/// And above this absolute level (full scale = 0 dB), so silence has no active frame at all.
const ACTIVE_FLOOR_DB: f32 = -60.0;
/// A frame is voiced when it is active and this clearly periodic.
const VOICED_CLARITY: f32 = 0.5;
/// Gaps shorter than this (frames) do not split a bout.
const BOUT_MERGE_FRAMES: usize = 2;

/// A clip's feature vector (`N_FEATURES` finite numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct Features(pub Vec<f64>);

/// Decodes and analyses a WAV clip.
pub fn extract(wav: &[u8]) -> Result<Features, MoodError> {
    let mut samples = decode::decode(wav)?;
    // A DC offset is not a sound: remove it before anything measures energy.
    let mean = samples.iter().sum::<f32>() / samples.len().max(1) as f32;
    samples.iter_mut().for_each(|s| *s -= mean);
    let frames = spectrum::frames(&samples);
    Ok(summarise(&frames))
}

fn mean(values: impl IntoIterator<Item = f32>) -> f32 {
    let (sum, n) = values
        .into_iter()
        .fold((0.0f64, 0usize), |(s, n), v| (s + f64::from(v), n + 1));
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

fn std_dev(values: &[f32]) -> f32 {
    let m = mean(values.iter().copied());
    mean(values.iter().map(|v| (v - m) * (v - m))).sqrt()
}

fn summarise(frames: &[Frame]) -> Features {
    let peak = frames.iter().map(|f| f.energy_db).fold(f32::MIN, f32::max);
    let threshold = (peak - ACTIVE_BELOW_PEAK_DB).max(ACTIVE_FLOOR_DB);
    let active: Vec<bool> = frames.iter().map(|f| f.energy_db > threshold).collect();
    let chosen: Vec<&Frame> = frames
        .iter()
        .zip(&active)
        .filter(|(_, a)| **a)
        .map(|(f, _)| f)
        .collect();
    // Silence has no active frame: describe the whole clip then, so the vector is still defined.
    let chosen: Vec<&Frame> = if chosen.is_empty() {
        frames.iter().collect()
    } else {
        chosen
    };

    let band_means: Vec<f32> = (0..N_MELS)
        .map(|b| mean(chosen.iter().map(|f| f.log_mel[b])))
        .collect();
    let level = mean(band_means.iter().copied());
    let mut out: Vec<f32> = band_means.iter().map(|m| m - level).collect();
    out.extend(
        (0..N_MELS).map(|b| std_dev(&chosen.iter().map(|f| f.log_mel[b]).collect::<Vec<_>>())),
    );

    let energies: Vec<f32> = frames.iter().map(|f| f.energy_db).collect();
    let active_fraction = active.iter().filter(|a| **a).count() as f32 / frames.len().max(1) as f32;
    let voiced: Vec<bool> = frames
        .iter()
        .zip(&active)
        .map(|(f, a)| *a && f.clarity >= VOICED_CLARITY)
        .collect();
    let voiced_pitches: Vec<f32> = frames
        .iter()
        .zip(&voiced)
        .filter(|(_, v)| **v)
        .map(|(f, _)| (f.pitch_hz / 100.0).log2())
        .collect();
    let voiced_fraction = voiced_pitches.len() as f32 / chosen.len().max(1) as f32;
    let (pitch_median, pitch_spread) = quartiles(&voiced_pitches);
    let bouts = bouts(&active);
    let seconds = frames.len() as f32 * HOP as f32 / TARGET_RATE as f32;
    let frame_s = HOP as f32 / TARGET_RATE as f32;
    let gaps: Vec<f32> = bouts
        .windows(2)
        .map(|w| (w[1].0 - w[0].1) as f32 * frame_s)
        .collect();

    out.extend([
        level / 10.0,
        mean(energies.iter().copied()) / 20.0,
        std_dev(&energies) / 10.0,
        peak.max(-100.0) / 20.0,
        active_fraction,
        voiced_fraction,
        pitch_median,
        pitch_spread,
        pitch_slope(frames, &voiced) * 0.5,
        mean(chosen.iter().map(|f| f.flatness)),
        mean(chosen.iter().map(|f| f.centroid)),
        mean(chosen.iter().map(|f| f.clarity)),
        bouts.len() as f32 / seconds.max(0.1),
        mean(bouts.iter().map(|(s, e)| (e - s) as f32 * frame_s)),
        mean(gaps.iter().copied()),
    ]);
    debug_assert_eq!(out.len(), N_FEATURES);
    Features(
        out.into_iter()
            .map(|v| if v.is_finite() { f64::from(v) } else { 0.0 })
            .collect(),
    )
}

/// Median and interquartile range (in octaves); zeros when there is no voiced frame.
fn quartiles(values: &[f32]) -> (f32, f32) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f32| sorted[((sorted.len() - 1) as f32 * q).round() as usize];
    (at(0.5), at(0.75) - at(0.25))
}

/// Runs of active frames (start, end exclusive), short gaps merged.
fn bouts(active: &[bool]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, a) in active.iter().enumerate() {
        if !a {
            continue;
        }
        match runs.last_mut() {
            Some(last) if i - last.1 <= BOUT_MERGE_FRAMES => last.1 = i + 1,
            _ => runs.push((i, i + 1)),
        }
    }
    runs
}

/// Octaves per second within voiced runs (rising whine > 0, falling howl < 0), weighted by
/// each run's length, so the pitch jumps between separate barks do not count.
fn pitch_slope(frames: &[Frame], voiced: &[bool]) -> f32 {
    let frame_s = HOP as f32 / TARGET_RATE as f32;
    let (mut weighted, mut weight) = (0.0f32, 0.0f32);
    for (start, end) in bouts(voiced) {
        let run: Vec<(f32, f32)> = (start..end)
            .filter(|&i| voiced[i])
            .map(|i| (i as f32 * frame_s, (frames[i].pitch_hz / 100.0).log2()))
            .collect();
        if run.len() < 4 {
            continue;
        }
        let mt = mean(run.iter().map(|p| p.0));
        let mp = mean(run.iter().map(|p| p.1));
        let cov: f32 = run.iter().map(|(t, p)| (t - mt) * (p - mp)).sum();
        let var: f32 = run.iter().map(|(t, _)| (t - mt) * (t - mt)).sum();
        if var > 0.0 {
            weighted += cov / var * run.len() as f32;
            weight += run.len() as f32;
        }
    }
    if weight > 0.0 {
        (weighted / weight).clamp(-8.0, 8.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests;
