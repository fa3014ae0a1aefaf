//! S3 cut off behind a TCP proxy while a collar sends voice clips and telemetry: telemetry
//! keeps flowing, the clips wait (spooled, their messages acknowledged), and when S3 is
//! back every clip is in S3 and recorded.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::collar::{now_ms, TestCollar, SETTLE};
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{poll_until, spawn_app_with};
use crate::realtime::wait_for_samples;

const CLIPS: i64 = 3;

/// A voice clip message of one second of 8 kHz silence with a tone in it.
pub fn voice_clip(seq: i64, ts: i64) -> Value {
    let pcm: Vec<u8> = (0..8000i32)
        .flat_map(|i| (((i % 40) - 20) as i16 * 500).to_le_bytes())
        .collect();
    let audio = base64::engine::general_purpose::STANDARD.encode(pcm);
    json!({"v": 1, "seq": seq, "ts": ts, "codec": "pcm_s16le", "rate_hz": 8000, "audio_b64": audio})
}

#[actix_web::test]
async fn telemetry_flows_while_s3_is_down_and_every_clip_is_stored_when_it_is_back() {
    let base = pettysync::config::Settings::load().expect("settings load");
    let endpoint = base
        .s3_endpoint
        .clone()
        .expect("PETTYSYNC_S3_ENDPOINT is set");
    let (switch, proxied) = TcpSwitch::in_front_of(&endpoint).await;
    let app = spawn_app_with(|s| s.s3_endpoint = Some(proxied.trim_end_matches('/').into())).await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let db = app.mongo().await;
    let pg = app.pg().await;

    switch.set(false);
    for seq in 1..=CLIPS {
        collar
            .link
            .send_raw("voice", voice_clip(seq, now_ms()).to_string())
            .await;
        collar
            .publish_sample(&collar.reading(seq as u64, json!({"hr": 90})))
            .await;
    }
    wait_for_samples(&db, &collar.serial, "telemetry while S3 is down", |s| {
        s.len() >= CLIPS as usize
    })
    .await;
    let spooled = poll_until("the clips in the spool", SETTLE, || async {
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM voice_spool WHERE serial = $1")
            .bind(&collar.serial)
            .fetch_one(&pg)
            .await
            .map_err(|e| e.to_string())?;
        if count == CLIPS {
            Ok(count)
        } else {
            Err(format!("{count} spooled"))
        }
    })
    .await;
    assert_eq!(spooled, CLIPS);
    // Acknowledged once spooled: the broker has nothing left to redeliver.
    collar.link.flushed().await;

    switch.set(true);
    let keys: Vec<(String,)> = poll_until("every clip recorded", SETTLE * 6, || async {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT s3_key FROM voice_clips WHERE serial = $1 ORDER BY seq")
                .bind(&collar.serial)
                .fetch_all(&pg)
                .await
                .map_err(|e| e.to_string())?;
        if rows.len() == CLIPS as usize {
            Ok(rows)
        } else {
            Err(format!("{} recorded", rows.len()))
        }
    })
    .await;
    let s3 = app.s3();
    for (key,) in &keys {
        let head = s3
            .head_object()
            .bucket(&app.settings.s3_bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key} is in S3: {e:?}"));
        assert_eq!(head.content_length(), Some(44 + 16_000), "{key}");
    }
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM voice_spool WHERE serial = $1")
        .bind(&collar.serial)
        .fetch_one(&pg)
        .await
        .expect("the spool is readable");
    assert_eq!(left, 0, "the spool is empty again");
}
