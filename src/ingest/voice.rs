//! Voice clips: stored in S3 as WAV files under `voice/{serial}/{seq}.wav` and recorded in
//! PostgreSQL. `(serial, seq)` makes a redelivered clip harmless.

use aws_sdk_s3::primitives::ByteStream;
use sqlx::PgPool;

use super::decode::VoiceClip;
use crate::ids::PetId;

/// Where voice clips go. Cheap to clone.
#[derive(Clone)]
pub struct VoiceStore {
    pub pg: PgPool,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

/// The S3 key of a clip.
pub fn voice_key(serial: &str, seq: u64) -> String {
    format!("voice/{serial}/{seq}.wav")
}

impl VoiceStore {
    pub async fn store(
        &self,
        serial: &str,
        pet: Option<PetId>,
        clip: VoiceClip,
    ) -> anyhow::Result<()> {
        let key = voice_key(serial, clip.seq);
        let wav = wav(&clip.pcm, clip.rate_hz);
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("audio/wav")
            .body(ByteStream::from(wav))
            .send()
            .await?;
        let at =
            chrono::DateTime::from_timestamp_millis(clip.ts_ms).unwrap_or_else(chrono::Utc::now);
        sqlx::query(
            "INSERT INTO voice_clips (serial, seq, pet_id, at, s3_key, rate_hz, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (serial, seq) DO NOTHING",
        )
        .bind(serial)
        .bind(clip.seq as i64)
        .bind(pet)
        .bind(at)
        .bind(&key)
        .bind(clip.rate_hz as i32)
        .bind(clip.duration_ms as i32)
        .execute(&self.pg)
        .await?;
        metrics::counter!("pettysync_voice_clips_total").increment(1);
        Ok(())
    }
}

/// A mono 16-bit PCM WAV file around the samples.
fn wav(pcm: &[u8], rate_hz: u32) -> Vec<u8> {
    let data_len = pcm.len() as u32;
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate_hz.to_le_bytes());
    out.extend_from_slice(&(rate_hz * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_header_describes_mono_16_bit_pcm() {
        let file = wav(&[0u8; 16_000], 8000);
        assert_eq!(&file[..4], b"RIFF");
        assert_eq!(&file[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(file[24..28].try_into().unwrap()), 8000);
        assert_eq!(u32::from_le_bytes(file[40..44].try_into().unwrap()), 16_000);
        assert_eq!(file.len(), 44 + 16_000);
    }
}
