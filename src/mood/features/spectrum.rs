//! Short-time analysis at `TARGET_RATE`: per frame the log-mel bands, energy, pitch and its
//! clarity (normalised autocorrelation, computed from the same FFT), flatness and centroid.

use std::cell::RefCell;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::decode::TARGET_RATE;

/// 64 ms frames: five periods of the lowest growl, enough to measure its pitch.
pub const FRAME_LEN: usize = 512;
/// 20 ms hop: a 10 s clip is 500 frames.
pub const HOP: usize = 160;
/// Zero-padded FFT, so the autocorrelation from the power spectrum is linear, not circular.
const FFT_LEN: usize = 2 * FRAME_LEN;
/// Mel bands; 50–4000 Hz so that an 8 kHz clip and a 22.05 kHz clip compare.
pub const N_MELS: usize = 40;
const F_MIN: f32 = 50.0;
const F_MAX: f32 = 4_000.0;
/// Pitch search range: growls (≈ 80 Hz for a big dog's low voice) to yelps (≈ 2 kHz).
const PITCH_MIN_HZ: f32 = 60.0;
const PITCH_MAX_HZ: f32 = 2_000.0;
/// A candidate period within this share of the best one wins when it is shorter (octave errors).
const OCTAVE_TOLERANCE: f32 = 0.85;

/// What one frame says.
#[derive(Debug, Clone)]
pub struct Frame {
    pub log_mel: [f32; N_MELS],
    pub energy_db: f32,
    /// Normalised autocorrelation at the chosen period: ≈ 1 tonal, ≈ 0 noise.
    pub clarity: f32,
    pub pitch_hz: f32,
    pub flatness: f32,
    /// Spectral centroid as a share of `F_MAX`.
    pub centroid: f32,
}

struct Analyzer {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    /// The window's own normalised autocorrelation, divided out of each frame's (Boersma 1993).
    window_acf: Vec<f32>,
    /// Per band: first FFT bin and the triangle's weights from there.
    mel: Vec<(usize, Vec<f32>)>,
    bins: std::ops::Range<usize>,
}

thread_local! {
    static ANALYZER: RefCell<Option<Analyzer>> = const { RefCell::new(None) };
}

/// Analyses every full frame of `samples` (a clip shorter than one frame is padded with silence).
pub fn frames(samples: &[f32]) -> Vec<Frame> {
    ANALYZER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let analyzer = slot.get_or_insert_with(Analyzer::new);
        let count = 1 + samples.len().saturating_sub(FRAME_LEN) / HOP;
        (0..count)
            .map(|i| {
                let start = i * HOP;
                let end = (start + FRAME_LEN).min(samples.len());
                analyzer.frame(&samples[start..end])
            })
            .collect()
    })
}

fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

impl Analyzer {
    fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let window: Vec<f32> = (0..FRAME_LEN)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / FRAME_LEN as f32).cos())
            .collect();
        let window_acf = {
            let zero: f32 = window.iter().map(|w| w * w).sum();
            (0..FRAME_LEN)
                .map(|lag| {
                    window[..FRAME_LEN - lag]
                        .iter()
                        .zip(&window[lag..])
                        .map(|(a, b)| a * b)
                        .sum::<f32>()
                        / zero
                })
                .collect()
        };
        let bin_hz = TARGET_RATE as f32 / FFT_LEN as f32;
        let edges: Vec<f32> = (0..N_MELS + 2)
            .map(|i| {
                let (lo, hi) = (hz_to_mel(F_MIN), hz_to_mel(F_MAX));
                mel_to_hz(lo + (hi - lo) * i as f32 / (N_MELS + 1) as f32)
            })
            .collect();
        let mel = (0..N_MELS)
            .map(|b| {
                let (lo, mid, hi) = (edges[b], edges[b + 1], edges[b + 2]);
                let first = (lo / bin_hz).ceil() as usize;
                let last = ((hi / bin_hz).floor() as usize).min(FFT_LEN / 2);
                let weights = (first..=last)
                    .map(|k| {
                        let f = k as f32 * bin_hz;
                        if f <= mid {
                            (f - lo) / (mid - lo)
                        } else {
                            (hi - f) / (hi - mid)
                        }
                        .max(0.0)
                    })
                    .collect();
                (first, weights)
            })
            .collect();
        let bins = (F_MIN / bin_hz).ceil() as usize..(F_MAX / bin_hz) as usize;
        Analyzer {
            forward: planner.plan_fft_forward(FFT_LEN),
            inverse: planner.plan_fft_inverse(FFT_LEN),
            window,
            window_acf,
            mel,
            bins,
        }
    }

    fn frame(&self, samples: &[f32]) -> Frame {
        let mut input = vec![0.0f32; FFT_LEN];
        for ((slot, s), w) in input.iter_mut().zip(samples).zip(&self.window) {
            *slot = s * w;
        }
        let mean_square = samples.iter().map(|s| s * s).sum::<f32>() / FRAME_LEN as f32;
        let mut spectrum = self.forward.make_output_vec();
        // The lengths come from the plan itself, so the transform cannot refuse them.
        let _ = self.forward.process(&mut input, &mut spectrum);
        let power: Vec<f32> = spectrum.iter().map(|c| c.norm_sqr()).collect();
        let mut log_mel = [0.0f32; N_MELS];
        for (band, (first, weights)) in log_mel.iter_mut().zip(&self.mel) {
            let e: f32 = weights
                .iter()
                .zip(&power[*first..])
                .map(|(w, p)| w * p)
                .sum();
            *band = (e + 1e-10).ln();
        }
        let in_band = &power[self.bins.clone()];
        let total: f32 = in_band.iter().sum::<f32>() + 1e-12;
        let log_mean = in_band.iter().map(|p| (p + 1e-12).ln()).sum::<f32>() / in_band.len() as f32;
        let flatness = (log_mean.exp() / (total / in_band.len() as f32)).clamp(0.0, 1.0);
        let centroid = in_band
            .iter()
            .enumerate()
            .map(|(i, p)| (i + self.bins.start) as f32 * p)
            .sum::<f32>()
            / total
            / self.bins.end as f32;
        let (pitch_hz, clarity) = self.pitch(&power);
        Frame {
            log_mel,
            energy_db: 10.0 * (mean_square + 1e-10).log10(),
            clarity,
            pitch_hz,
            flatness,
            centroid,
        }
    }

    /// The period with the clearest repetition: the autocorrelation is the inverse FFT of the
    /// power spectrum; the shortest local peak near the best one avoids octave errors.
    fn pitch(&self, power: &[f32]) -> (f32, f32) {
        let mut spectrum: Vec<Complex<f32>> = power.iter().map(|&p| Complex::new(p, 0.0)).collect();
        let mut acf = self.inverse.make_output_vec();
        if self.inverse.process(&mut spectrum, &mut acf).is_err() || acf[0] <= 1e-9 {
            return (0.0, 0.0);
        }
        let min_lag = (TARGET_RATE as f32 / PITCH_MAX_HZ) as usize;
        let max_lag = (TARGET_RATE as f32 / PITCH_MIN_HZ) as usize;
        let norm = |lag: usize| acf[lag] / acf[0] / self.window_acf[lag].max(1e-3);
        let peaks: Vec<(usize, f32)> = (min_lag..max_lag)
            .filter_map(|lag| {
                let r = norm(lag);
                (r > norm(lag - 1) && r >= norm(lag + 1)).then_some((lag, r))
            })
            .collect();
        let Some(best) = peaks.iter().map(|p| p.1).reduce(f32::max) else {
            return (0.0, 0.0);
        };
        let Some(&(lag, r)) = peaks.iter().find(|p| p.1 >= OCTAVE_TOLERANCE * best) else {
            return (0.0, 0.0);
        };
        // Parabolic interpolation around the peak for sub-sample precision.
        let (a, b, c) = (norm(lag - 1), r, norm(lag + 1));
        let denom = a - 2.0 * b + c;
        let shift = if denom.abs() > 1e-9 {
            0.5 * (a - c) / denom
        } else {
            0.0
        };
        let period = lag as f32 + shift.clamp(-0.5, 0.5);
        (TARGET_RATE as f32 / period, r.clamp(0.0, 1.0))
    }
}
