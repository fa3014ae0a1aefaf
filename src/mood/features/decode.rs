//! WAV bytes → mono samples at `TARGET_RATE`, within the clip limits.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Cursor;

use audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

use crate::mood::MoodError;

/// Every clip is analysed at 8 kHz: the mel bands stop at 4 kHz, so an 8 kHz collar's clip
/// and a 22.05 kHz one yield comparable features, and the analysis costs the least.
pub const TARGET_RATE: u32 = 8_000;
/// The collar protocol caps a voice clip at 640 KiB; nothing larger is even parsed.
pub const MAX_WAV_BYTES: usize = 640 * 1024;
/// Longest clip analysed (the collar records at most 10 s; a margin for 8-bit or 8 kHz clips).
pub const MAX_CLIP_SECONDS: f64 = 15.0;
/// Shortest clip analysed: below this there is not one bout to measure.
pub const MIN_CLIP_SECONDS: f64 = 0.25;
/// Sample rates a WAV may declare.
const RATES: std::ops::RangeInclusive<u32> = 4_000..=48_000;
/// Input frames per resampler call (the resampler keeps its buffers between clips).
const RESAMPLE_CHUNK: usize = 1024;

thread_local! {
    /// One resampler per input rate and thread: building the FFT plans costs more than a clip.
    static RESAMPLERS: RefCell<HashMap<u32, Fft<f32>>> = RefCell::new(HashMap::new());
}

/// Decodes a WAV (PCM 8/16/24/32-bit or float, any channel count) into mono samples in
/// [-1, 1] at `TARGET_RATE`.
pub fn decode(wav: &[u8]) -> Result<Vec<f32>, MoodError> {
    if wav.len() > MAX_WAV_BYTES {
        return Err(MoodError::TooLarge {
            bytes: wav.len(),
            max: MAX_WAV_BYTES,
        });
    }
    let mut reader =
        hound::WavReader::new(Cursor::new(wav)).map_err(|e| MoodError::BadWav(e.to_string()))?;
    let spec = reader.spec();
    if !RATES.contains(&spec.sample_rate) {
        return Err(MoodError::Unsupported(format!(
            "sample rate {} Hz (supported: {}–{} Hz)",
            spec.sample_rate,
            RATES.start(),
            RATES.end()
        )));
    }
    if spec.channels == 0 {
        return Err(MoodError::Unsupported("no channels".into()));
    }
    let seconds = f64::from(reader.duration()) / f64::from(spec.sample_rate);
    check_length(seconds)?;
    let interleaved = read_samples(&mut reader, spec)?;
    let channels = usize::from(spec.channels);
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    // A truncated file declares more frames than it holds: judge what is really there.
    check_length(mono.len() as f64 / f64::from(spec.sample_rate))?;
    resample(mono, spec.sample_rate)
}

fn check_length(seconds: f64) -> Result<(), MoodError> {
    if (MIN_CLIP_SECONDS..=MAX_CLIP_SECONDS).contains(&seconds) {
        Ok(())
    } else {
        Err(MoodError::BadLength {
            seconds,
            min: MIN_CLIP_SECONDS,
            max: MAX_CLIP_SECONDS,
        })
    }
}

fn read_samples(
    reader: &mut hound::WavReader<Cursor<&[u8]>>,
    spec: hound::WavSpec,
) -> Result<Vec<f32>, MoodError> {
    let bad = |e: hound::Error| MoodError::BadWav(e.to_string());
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .map(|s| {
                s.map(|v| {
                    if v.is_finite() {
                        v.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                })
            })
            .collect::<Result<_, _>>()
            .map_err(bad),
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(bad)
        }
        (format, bits) => Err(MoodError::Unsupported(format!("{format:?} {bits}-bit"))),
    }
}

fn resample(mono: Vec<f32>, rate: u32) -> Result<Vec<f32>, MoodError> {
    if rate == TARGET_RATE {
        return Ok(mono);
    }
    let fail = |e: &dyn std::fmt::Display| MoodError::Resample(e.to_string());
    RESAMPLERS.with(|cell| {
        let mut resamplers = cell.borrow_mut();
        let resampler = match resamplers.entry(rate) {
            std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(
                Fft::new(
                    rate as usize,
                    TARGET_RATE as usize,
                    RESAMPLE_CHUNK,
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| fail(&e))?,
            ),
        };
        resampler.reset();
        let frames = mono.len();
        let input = [mono];
        let out_len = resampler.process_all_needed_output_len(frames);
        let mut output = [vec![0.0f32; out_len]];
        let adapter_in = SequentialSliceOfVecs::new(&input, 1, frames).map_err(|e| fail(&e))?;
        let mut adapter_out =
            SequentialSliceOfVecs::new_mut(&mut output, 1, out_len).map_err(|e| fail(&e))?;
        let (_, produced) = resampler
            .process_all_into_buffer(&adapter_in, &mut adapter_out, frames, None)
            .map_err(|e| fail(&e))?;
        let [mut out] = output;
        out.truncate(produced.min(out_len));
        Ok(out)
    })
}
