//! Voice clips: the WAV in S3 (`voice/{serial}/{seq}.wav`), the row of a clip stored there,
//! and the spool of clips S3 did not take yet (their WAV kept here until the spool drainer
//! uploads it).

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::ids::PetId;

/// Longest wait for one upload to S3 (the SDK's own retries included).
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(15);

/// The S3 key of a clip.
pub fn voice_key(serial: &str, seq: i64) -> String {
    format!("voice/{serial}/{seq}.wav")
}

/// Puts a clip's WAV in S3; returns its key.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    clip: &ClipRow,
    wav: Vec<u8>,
) -> anyhow::Result<String> {
    let key = voice_key(&clip.serial, clip.seq);
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("audio/wav")
        .body(ByteStream::from(wav))
        .send();
    tokio::time::timeout(UPLOAD_TIMEOUT, put)
        .await
        .map_err(|_| anyhow::anyhow!("S3 upload timed out"))??;
    Ok(key)
}

/// A clip's facts, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClipRow {
    pub serial: String,
    pub seq: i64,
    pub pet_id: Option<PetId>,
    pub at: DateTime<Utc>,
    pub rate_hz: i32,
    pub duration_ms: i32,
}

/// A spooled clip with its audio.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpooledClip {
    #[sqlx(flatten)]
    pub clip: ClipRow,
    pub wav: Vec<u8>,
    pub attempts: i32,
}

/// Records a clip whose WAV is in S3 under `s3_key` (a redelivered clip changes nothing). A
/// clip of a paired collar joins the mood queue; one without a pet has no one to tell.
pub async fn record(
    conn: &mut PgConnection,
    clip: &ClipRow,
    s3_key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO voice_clips (serial, seq, pet_id, at, s3_key, rate_hz, duration_ms, mood_status)
         VALUES ($1, $2, $3, $4, $5, $6, $7,
                 CASE WHEN $3::uuid IS NULL THEN 'skipped' ELSE 'pending' END)
         ON CONFLICT (serial, seq) DO NOTHING",
    )
    .bind(&clip.serial)
    .bind(clip.seq)
    .bind(clip.pet_id)
    .bind(clip.at)
    .bind(s3_key)
    .bind(clip.rate_hz)
    .bind(clip.duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Clips in the spool now.
pub async fn spooled(pg: &PgPool) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM voice_spool")
        .fetch_one(pg)
        .await?;
    Ok(count)
}

/// Keeps a clip S3 did not take, with its WAV (a redelivered clip changes nothing).
pub async fn spool(pg: &PgPool, clip: &ClipRow, wav: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO voice_spool (serial, seq, pet_id, at, rate_hz, duration_ms, wav)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (serial, seq) DO NOTHING",
    )
    .bind(&clip.serial)
    .bind(clip.seq)
    .bind(clip.pet_id)
    .bind(clip.at)
    .bind(clip.rate_hz)
    .bind(clip.duration_ms)
    .bind(wav)
    .execute(pg)
    .await?;
    Ok(())
}

/// Claims up to `limit` spooled clips that are due, reserving them for `lease` (so several
/// servers share the spool and a crashed one's claims come back).
pub async fn claim_spooled(
    pg: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<SpooledClip>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE voice_spool SET next_attempt_at = now() + make_interval(secs => $2)
         WHERE (serial, seq) IN (
             SELECT serial, seq FROM voice_spool WHERE next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING serial, seq, pet_id, at, rate_hz, duration_ms, wav, attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pg)
    .await
}

/// The spooled clip is in S3 now: record it and take it out of the spool, together.
pub async fn unspool(pg: &PgPool, clip: &ClipRow, s3_key: &str) -> Result<(), sqlx::Error> {
    let mut tx = pg.begin().await?;
    record(&mut tx, clip, s3_key).await?;
    sqlx::query("DELETE FROM voice_spool WHERE serial = $1 AND seq = $2")
        .bind(&clip.serial)
        .bind(clip.seq)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Another upload failed: try again after `backoff`.
pub async fn spool_failed(
    pg: &PgPool,
    clip: &ClipRow,
    backoff: Duration,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE voice_spool SET attempts = attempts + 1, last_error = $3,
                next_attempt_at = now() + make_interval(secs => $4)
         WHERE serial = $1 AND seq = $2",
    )
    .bind(&clip.serial)
    .bind(clip.seq)
    .bind(error)
    .bind(backoff.as_secs_f64())
    .execute(pg)
    .await?;
    Ok(())
}
