//! The voice clips' audio: made by the mood seed generator (`mood::synth`) with an intended
//! mood and the collar's own voice (a pitch offset fixed by its number), so the demo's moods
//! and distress alerts follow what the pet is doing.

use rand::Rng;

use super::activity::Activity;
use crate::mood::{synth, Mood};

/// The generator seed of the simulated fleet's voices.
const FLEET_VOICE_SEED: u64 = 7;
/// Rates simulated collars record at (22 050 Hz would also be valid, at twice the size).
const RATES_HZ: [u32; 2] = [8_000, 16_000];
/// Clip length range, seconds: short enough that a clip stays under 200 KiB base64-encoded.
const SECONDS: (f32, f32) = (1.0, 4.0);
/// Chance that a clip is distressed (anxious, angry or sad) whatever the pet is doing.
const DISTRESS_CHANCE: f64 = 0.1;

/// One clip ready to send: its intended mood, rate and mono 16-bit little-endian PCM.
pub(super) struct Clip {
    pub(super) mood: Mood,
    pub(super) rate_hz: u32,
    pub(super) pcm: Vec<u8>,
}

/// The mood a pet doing `activity` sounds like, now and then distressed.
pub(super) fn intended_mood(activity: Activity, rng: &mut impl Rng) -> Mood {
    if rng.gen_bool(DISTRESS_CHANCE) {
        return [Mood::Anxious, Mood::Angry, Mood::Sad][rng.gen_range(0..3)];
    }
    match activity {
        Activity::Sleep | Activity::Rest => Mood::Calm,
        Activity::Walk if rng.gen_bool(0.3) => Mood::Calm,
        Activity::Walk | Activity::Run | Activity::Play => Mood::Happy,
    }
}

/// Clip number `k` of collar number `collar`, of `mood`.
pub(super) fn clip(collar: u32, k: u64, mood: Mood, rng: &mut impl Rng) -> Clip {
    let rate_hz = RATES_HZ[rng.gen_range(0..RATES_HZ.len())];
    let seconds = rng.gen_range(SECONDS.0..SECONDS.1);
    let made = synth::clip_lasting(
        FLEET_VOICE_SEED,
        mood,
        k,
        collar as usize,
        rate_hz,
        Some(seconds),
    );
    Clip {
        mood,
        rate_hz,
        pcm: pcm_of(&made.wav),
    }
}

/// The PCM of a 16-bit mono WAV the generator made.
fn pcm_of(wav: &[u8]) -> Vec<u8> {
    hound::WavReader::new(wav)
        .map(|reader| {
            reader
                .into_samples::<i16>()
                .filter_map(Result::ok)
                .flat_map(i16::to_le_bytes)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_clip_is_valid_protocol_audio_of_its_intended_mood() {
        let mut rng = StdRng::seed_from_u64(9);
        for (k, mood) in Mood::ALL.into_iter().enumerate() {
            let clip = clip(3, k as u64, mood, &mut rng);
            assert_eq!(clip.mood, mood);
            let seconds = clip.pcm.len() as f64 / 2.0 / f64::from(clip.rate_hz);
            assert!((0.5..=10.0).contains(&seconds), "{seconds} s");
            let encoded = clip.pcm.len().div_ceil(3) * 4;
            assert!(encoded < 200 * 1024, "{encoded} bytes of base64");
        }
    }

    #[test]
    fn a_resting_pet_sounds_calm_and_a_playing_one_happy_unless_distressed() {
        let mut rng = StdRng::seed_from_u64(1);
        let moods: Vec<Mood> = (0..1_000)
            .map(|_| intended_mood(Activity::Play, &mut rng))
            .collect();
        let happy = moods.iter().filter(|m| **m == Mood::Happy).count();
        assert!((850..=950).contains(&happy), "{happy} happy of 1000");
        assert!(!moods.contains(&Mood::Calm));
        let resting = intended_mood(Activity::Rest, &mut StdRng::seed_from_u64(2));
        assert!(matches!(
            resting,
            Mood::Calm | Mood::Anxious | Mood::Angry | Mood::Sad
        ));
    }
}
