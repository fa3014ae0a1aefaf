//! The voice clips' audio: a synthetic bark, generated rather than shipped as a file.

use std::f64::consts::TAU;

use rand::Rng;

pub(super) const VOICE_RATE_HZ: u32 = 8_000;

/// One second of mono 16-bit little-endian PCM: two or three barks (a falling tone with a
/// harmonic and breath noise) over near silence.
pub(super) fn bark_pcm(rng: &mut impl Rng) -> Vec<u8> {
    let rate = VOICE_RATE_HZ as usize;
    let mut signal = vec![0.0f64; rate];
    let barks = rng.gen_range(2..=3);
    for bark in 0..barks {
        let start = bark * rate / barks + rng.gen_range(0..rate / 10);
        let len = rng.gen_range(rate * 12 / 100..rate * 20 / 100);
        let pitch = rng.gen_range(350.0..650.0);
        let mut phase = 0.0f64;
        for (k, value) in signal[start..].iter_mut().take(len).enumerate() {
            let progress = k as f64 / len as f64;
            phase += TAU * pitch * (1.0 - 0.4 * progress) / VOICE_RATE_HZ as f64;
            let envelope = (progress * 20.0).min(1.0) * (-4.0 * progress).exp();
            let noise = rng.gen_range(-1.0..1.0);
            *value = envelope * (0.6 * phase.sin() + 0.25 * (2.0 * phase).sin() + 0.15 * noise);
        }
    }
    signal
        .into_iter()
        .flat_map(|value| {
            let hiss = rng.gen_range(-0.005..0.005);
            (((value + hiss).clamp(-1.0, 1.0) * 0.8 * f64::from(i16::MAX)) as i16).to_le_bytes()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_bark_is_one_second_of_audible_16_bit_audio() {
        let pcm = bark_pcm(&mut StdRng::seed_from_u64(9));
        assert_eq!(pcm.len(), 2 * VOICE_RATE_HZ as usize);
        let peak = pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
            .max();
        assert!(peak.unwrap() > 10_000);
    }
}
