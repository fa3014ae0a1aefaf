//! Robustness: odd but possible clips give a result or a clear error, never a panic.

use super::*;
use crate::mood::synth::{self, wav_bytes, SeedSpec};

fn tone(rate: u32, seconds: f32, hz: f32, amp: f32) -> Vec<f32> {
    (0..(rate as f32 * seconds) as usize)
        .map(|i| amp * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
        .collect()
}

fn assert_finite(f: &Features) {
    assert_eq!(f.0.len(), N_FEATURES);
    assert!(f.0.iter().all(|v| v.is_finite()), "{:?}", f.0);
}

#[test]
fn silence_clipping_dc_offset_short_long_and_white_noise_all_give_features() {
    let mut lcg = 12345u32;
    let mut noise = || {
        lcg = lcg.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (lcg >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("silence", wav_bytes(&vec![0.0; 16_000], 16_000)),
        (
            "clipping",
            wav_bytes(&tone(16_000, 2.0, 440.0, 4.0), 16_000),
        ),
        (
            "dc offset",
            wav_bytes(
                &tone(8_000, 2.0, 300.0, 0.2)
                    .iter()
                    .map(|s| s + 0.6)
                    .collect::<Vec<_>>(),
                8_000,
            ),
        ),
        ("0.5 s", wav_bytes(&tone(8_000, 0.5, 600.0, 0.5), 8_000)),
        (
            "10 s at 22 050 Hz",
            wav_bytes(&tone(22_050, 10.0, 900.0, 0.5), 22_050),
        ),
        (
            "white noise",
            wav_bytes(&(0..32_000).map(|_| noise()).collect::<Vec<_>>(), 16_000),
        ),
    ];
    for (name, wav) in cases {
        let f = extract(&wav).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_finite(&f);
    }
}

#[test]
fn a_dc_offset_changes_nothing_the_model_sees() {
    // A recording always has a noise floor; a bare synthetic tone's quantisation pattern
    // would move the near-empty bands by itself.
    let mut lcg = 99u32;
    let plain: Vec<f32> = tone(8_000, 2.0, 300.0, 0.2)
        .into_iter()
        .map(|s| {
            lcg = lcg.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            s + 0.003 * ((lcg >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        })
        .collect();
    let offset: Vec<f32> = plain.iter().map(|s| s + 0.3).collect();
    let (a, b) = (
        extract(&wav_bytes(&plain, 8_000)).unwrap(),
        extract(&wav_bytes(&offset, 8_000)).unwrap(),
    );
    let worst =
        a.0.iter()
            .zip(&b.0)
            .map(|(x, y)| (x - y).abs())
            .enumerate()
            .fold((0, 0.0), |w, (i, d)| if d > w.1 { (i, d) } else { w });
    assert!(worst.1 < 0.1, "feature {}: {:?}", worst.0, worst);
}

#[test]
fn the_pitch_of_a_tone_is_found_at_every_rate() {
    for rate in synth::RATES {
        let f = extract(&wav_bytes(&tone(rate, 1.0, 400.0, 0.5), rate)).unwrap();
        // Scalars follow the 2 × 40 mel values; the median pitch is log2(Hz / 100).
        let pitch = 2f64.powf(f.0[2 * 40 + 6]) * 100.0;
        assert!((pitch - 400.0).abs() < 10.0, "{rate} Hz: {pitch}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let short = wav_bytes(&tone(8_000, 0.1, 440.0, 0.5), 8_000);
    let long = wav_bytes(&tone(4_000, 20.0, 440.0, 0.5), 4_000);
    let odd_rate = wav_bytes(&tone(1_000, 1.0, 100.0, 0.5), 1_000);
    let huge = vec![0u8; MAX_WAV_BYTES + 1];
    let mut truncated = wav_bytes(&tone(8_000, 2.0, 440.0, 0.5), 8_000);
    truncated.truncate(44 + 1_000);
    assert!(matches!(extract(&short), Err(MoodError::BadLength { .. })));
    assert!(matches!(extract(&long), Err(MoodError::BadLength { .. })));
    assert!(matches!(extract(&odd_rate), Err(MoodError::Unsupported(_))));
    assert!(matches!(extract(&huge), Err(MoodError::TooLarge { .. })));
    assert!(matches!(
        extract(b"RIFF....not a wav"),
        Err(MoodError::BadWav(_))
    ));
    assert!(matches!(
        extract(&truncated),
        Err(MoodError::BadLength { .. } | MoodError::BadWav(_))
    ));
    assert!(matches!(extract(&[]), Err(MoodError::BadWav(_))));
}

#[test]
fn stereo_eight_bit_and_float_clips_are_read() {
    let mono = tone(16_000, 1.0, 500.0, 0.5);
    for (channels, bits, format) in [
        (2u16, 16u16, hound::SampleFormat::Int),
        (1, 8, hound::SampleFormat::Int),
        (1, 32, hound::SampleFormat::Float),
    ] {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 16_000,
            bits_per_sample: bits,
            sample_format: format,
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for s in &mono {
            for _ in 0..channels {
                match (format, bits) {
                    (hound::SampleFormat::Float, _) => w.write_sample(*s).unwrap(),
                    (_, 8) => w.write_sample((s * 127.0) as i8).unwrap(),
                    _ => w.write_sample((s * 32_767.0) as i16).unwrap(),
                }
            }
        }
        w.finalize().unwrap();
        assert_finite(&extract(&cursor.into_inner()).unwrap());
    }
}

#[test]
fn every_generated_mood_is_analysed() {
    for clip in synth::seed_set(&SeedSpec {
        per_class: 3,
        seed: 5,
        pets: 3,
    }) {
        assert_finite(&extract(&clip.wav).unwrap());
    }
}
