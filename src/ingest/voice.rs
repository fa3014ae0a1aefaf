//! Voice clips: stored in S3 as WAV files under `voice/{serial}/{seq}.wav` and recorded in
//! PostgreSQL. `(serial, seq)` makes a redelivered clip harmless. When S3 does not take a
//! clip, it goes to the PostgreSQL spool instead (and its message is acknowledged): the
//! spool drainer uploads it when S3 is back, so an S3 outage neither loses clips nor holds
//! the broker's in-flight window. A recorded clip of a pet wakes the mood supervisor, so its
//! mood follows within a second instead of at the supervisor's next poll.

use actix::Recipient;
use sqlx::PgPool;

use super::decode::VoiceClip;
use super::side::StoreError;
use crate::actors::mood::Wake;
use crate::ids::PetId;
use crate::store::voice::{self as store, ClipRow};

/// Clips the spool may hold (a 10 s clip at 22 kHz is 430 KiB of WAV); when it is full, a
/// clip S3 does not take stays unacknowledged and is tried again.
pub const MAX_SPOOLED_CLIPS: i64 = 2_000;

/// Where voice clips go. Cheap to clone.
#[derive(Clone)]
pub struct VoiceStore {
    pub pg: PgPool,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    /// The mood supervisor, told of each recorded clip of a pet.
    pub mood: Recipient<Wake>,
}

impl VoiceStore {
    /// Stores a clip in S3 and records it, or spools it when S3 is away.
    pub async fn store(
        &self,
        serial: &str,
        pet: Option<PetId>,
        clip: &VoiceClip,
    ) -> Result<(), StoreError> {
        let row = ClipRow {
            serial: serial.to_owned(),
            seq: clip.seq as i64,
            pet_id: pet,
            at: chrono::DateTime::from_timestamp_millis(clip.ts_ms)
                .unwrap_or_else(chrono::Utc::now),
            rate_hz: clip.rate_hz as i32,
            duration_ms: clip.duration_ms as i32,
        };
        let wav = wav(&clip.pcm, clip.rate_hz);
        match store::upload(&self.s3, &self.bucket, &row, wav.clone()).await {
            Ok(key) => {
                let mut conn = self.pg.acquire().await.map_err(StoreError::from_sqlx)?;
                store::record(&mut conn, &row, &key)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                metrics::counter!("pettysync_voice_clips_total").increment(1);
                if pet.is_some() {
                    self.mood.do_send(Wake);
                }
                Ok(())
            }
            Err(error) => {
                if store::spooled(&self.pg)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    >= MAX_SPOOLED_CLIPS
                {
                    return Err(StoreError::Transient(
                        error.context("the voice spool is full"),
                    ));
                }
                tracing::warn!(collar = %serial, seq = clip.seq, error = ?error, "S3 did not take a voice clip; spooled");
                store::spool(&self.pg, &row, &wav)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                metrics::counter!("pettysync_voice_spooled_total").increment(1);
                Ok(())
            }
        }
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
