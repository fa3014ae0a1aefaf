use super::*;

#[test]
fn a_voice_clip_decodes_with_its_duration() {
    let clip = decode_voice(clip_message(16_000, 32_000)).expect("valid");
    assert_eq!((clip.seq, clip.ts_ms), (77, NOW));
    assert_eq!((clip.rate_hz, clip.duration_ms), (16_000, 1000));
    assert_eq!(clip.pcm, vec![0u8; 32_000]);
    let odd_rate = decode_voice(clip_message(22_050, 2 * 33_075)).expect("valid");
    assert_eq!(odd_rate.duration_ms, 1500);
}

#[test]
fn voice_clips_from_half_a_second_to_10_seconds_are_accepted() {
    let duration = |bytes| decode_voice(clip_message(8000, bytes)).map(|c| c.duration_ms);
    assert_eq!(duration(6_400).map_err(|r| r.reason), Err(Reason::BadAudio));
    assert_eq!(duration(8_000), Ok(500));
    assert_eq!(duration(160_000), Ok(10_000));
    assert_eq!(
        duration(161_600).map_err(|r| r.reason),
        Err(Reason::BadAudio)
    );
    assert_eq!(reason_of(duration(0)), Reason::BadAudio);
    assert_eq!(
        decode_voice(clip_message(22_050, 22_050)).map(|c| c.duration_ms),
        Ok(500)
    );
    assert_eq!(
        reason_of(decode_voice(clip_message(22_050, 22_048))),
        Reason::BadAudio
    );
}

#[test]
fn bad_base64_audio_is_rejected() {
    for audio in ["not base64!", "AAA", "AA==AA==", "AAAA\nAAAA"] {
        assert_eq!(
            reason_of(voice_with("audio_b64", json!(audio))),
            Reason::BadAudio
        );
    }
    assert_eq!(
        reason_of(voice_with("audio_b64", json!(12))),
        Reason::WrongType
    );
}

#[test]
fn audio_of_an_odd_byte_count_is_rejected() {
    let rejection = decode_voice(clip_message(8000, 8_001)).expect_err("odd");
    assert_eq!(rejection.reason, Reason::BadAudio);
    assert!(rejection.detail.contains("even"));
}

#[test]
fn a_codec_other_than_pcm_s16le_is_rejected() {
    assert_eq!(
        reason_of(voice_with("codec", json!("opus"))),
        Reason::OutOfRange
    );
    assert_eq!(reason_of(voice_with("codec", json!(1))), Reason::WrongType);
    let mut no_codec = clip_message(8000, 16_000);
    no_codec.remove("codec");
    assert_eq!(reason_of(decode_voice(no_codec)), Reason::MissingField);
}

#[test]
fn a_sample_rate_other_than_8000_16000_or_22050_is_rejected() {
    for rate in [json!(44_100), json!(0), json!(-8000), json!(u64::MAX)] {
        assert_eq!(reason_of(voice_with("rate_hz", rate)), Reason::OutOfRange);
    }
    for rate in [json!("16000"), json!(16_000.0)] {
        assert_eq!(reason_of(voice_with("rate_hz", rate)), Reason::WrongType);
    }
}

#[test]
fn a_voice_clip_follows_the_seq_ts_and_v_rules() {
    assert_eq!(reason_of(voice_with("seq", json!(-1))), Reason::OutOfRange);
    assert_eq!(reason_of(voice_with("seq", json!(1.5))), Reason::WrongType);
    let stale = json!(NOW - MAX_AGE_MS - 1);
    assert_eq!(
        reason_of(voice_with("ts", stale)),
        Reason::TimestampOutOfWindow
    );
    assert_eq!(
        reason_of(voice_with("v", json!(2))),
        Reason::UnsupportedVersion
    );
    let mut no_audio = clip_message(8000, 16_000);
    no_audio.remove("audio_b64");
    assert_eq!(reason_of(decode_voice(no_audio)), Reason::MissingField);
}

#[test]
fn ten_seconds_at_22050_hz_fit_and_a_message_over_640_kib_is_too_large() {
    // 10 s at 22 050 Hz is 441 000 bytes of audio, 588 000 in base64: within the limit.
    let longest = decode_voice(clip_message(22_050, 441_000)).expect("the longest clip fits");
    assert_eq!(longest.duration_ms, 10_000);
    let mut padded = clip_message(8000, 16_000);
    padded.insert("pad".into(), json!("x".repeat(MAX_VOICE_BYTES)));
    assert_eq!(reason_of(decode_voice(padded)), Reason::TooLarge);
}
