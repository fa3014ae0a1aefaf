use super::*;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

/// A minute after the spec's example `ts`.
const NOW: i64 = 1_764_151_560_000;
const SPEC_SAMPLE: &str = r#"{"v":1,"seq":48213,"ts":1764151500000,"lat":13.756331,"lon":100.501762,"acc":6.5,
 "hr":96,"steps":41,"act":"walk","bat":83,"temp":38.6}"#;
const PREFIX: &str = "pettysync/v1";

fn telemetry(payload: &str) -> Result<Decoded, Rejection> {
    decode(Channel::Telemetry, payload.as_bytes(), NOW)
}

fn entries(decoded: Result<Decoded, Rejection>) -> Vec<Result<Sample, Rejection>> {
    match decoded {
        Ok(Decoded::Telemetry(entries)) => entries,
        other => panic!("expected telemetry, got {other:?}"),
    }
}

/// The one entry of a single-sample message.
fn single(payload: &str) -> Result<Sample, Rejection> {
    let mut entries = entries(telemetry(payload));
    assert_eq!(entries.len(), 1);
    entries.remove(0)
}

fn minimal() -> Object {
    let sample = json!({"v": 1, "seq": 1, "ts": NOW});
    sample.as_object().expect("an object literal").clone()
}

/// A minimal valid sample with `key` set to `value`.
fn with(key: &str, value: Value) -> Result<Sample, Rejection> {
    let mut sample = minimal();
    sample.insert(key.to_owned(), value);
    single(&Value::Object(sample).to_string())
}

/// A minimal valid sample without `key`.
fn without(key: &str) -> Result<Sample, Rejection> {
    let mut sample = minimal();
    sample.remove(key);
    single(&Value::Object(sample).to_string())
}

/// `None` when the sample with `key` set to `value` is accepted, else the reason.
fn outcome(key: &str, value: Value) -> Option<Reason> {
    with(key, value).err().map(|r| r.reason)
}

/// `object` serialised with an unknown `pad` field that makes it exactly `len` bytes.
fn padded(object: Value, len: usize) -> String {
    let mut object = object.as_object().expect("an object").clone();
    object.insert("pad".to_owned(), json!(""));
    let base = Value::Object(object.clone()).to_string().len();
    object.insert("pad".to_owned(), json!("x".repeat(len - base)));
    let text = Value::Object(object).to_string();
    assert_eq!(text.len(), len);
    text
}

fn element(seq: u64) -> Value {
    json!({"seq": seq, "ts": NOW, "hr": 90})
}

fn batch_of(samples: Vec<Value>) -> String {
    json!({"v": 1, "samples": samples}).to_string()
}

fn clip_message(rate_hz: u32, pcm_bytes: usize) -> Object {
    let audio = STANDARD.encode(vec![0u8; pcm_bytes]);
    let clip = json!({"v": 1, "seq": 77, "ts": NOW, "codec": "pcm_s16le",
        "rate_hz": rate_hz, "audio_b64": audio});
    clip.as_object().expect("an object literal").clone()
}

fn decode_voice(clip: Object) -> Result<VoiceClip, Rejection> {
    let payload = Value::Object(clip).to_string();
    match decode(Channel::Voice, payload.as_bytes(), NOW)? {
        Decoded::Voice(clip) => Ok(clip),
        other => panic!("expected a voice clip, got {other:?}"),
    }
}

/// A valid one-second clip at 8 kHz with `key` set to `value`.
fn voice_with(key: &str, value: Value) -> Result<VoiceClip, Rejection> {
    let mut clip = clip_message(8000, 16_000);
    clip.insert(key.to_owned(), value);
    decode_voice(clip)
}

fn decode_status(payload: &str) -> Result<Status, Rejection> {
    match decode(Channel::Status, payload.as_bytes(), NOW)? {
        Decoded::Status(status) => Ok(status),
        other => panic!("expected a status, got {other:?}"),
    }
}

fn decode_ack(payload: &str) -> Result<CmdAck, Rejection> {
    match decode(Channel::CmdAck, payload.as_bytes(), NOW)? {
        Decoded::CmdAck(ack) => Ok(ack),
        other => panic!("expected a command ack, got {other:?}"),
    }
}

fn reason_of<T: std::fmt::Debug>(result: Result<T, Rejection>) -> Reason {
    result.expect_err("should be rejected").reason
}

// ---- samples ----

#[test]
fn the_spec_example_sample_decodes_to_the_expected_struct() {
    let expected = Sample {
        seq: 48213,
        ts_ms: 1_764_151_500_000,
        fix: Some(Fix {
            lat: 13.756331,
            lon: 100.501762,
            acc: Some(6.5),
        }),
        hr: Some(96),
        steps: Some(41),
        act: Some(Activity::Walk),
        bat: Some(83),
        temp: Some(38.6),
    };
    assert_eq!(single(SPEC_SAMPLE), Ok(expected));
}

#[test]
fn a_sample_with_only_required_fields_has_no_optional_values() {
    let sample = without("nothing").expect("valid");
    let expected = Sample {
        seq: 1,
        ts_ms: NOW,
        fix: None,
        hr: None,
        steps: None,
        act: None,
        bat: None,
        temp: None,
    };
    assert_eq!(sample, expected);
}

#[test]
fn unknown_fields_are_ignored() {
    let sample = with("firmware_extra", json!({"nested": [1, 2, "x"]})).expect("valid");
    assert_eq!(sample.seq, 1);
    assert_eq!(with("spo2", json!("anything")).map(|s| s.hr), Ok(None));
}

#[test]
fn null_optional_fields_are_treated_as_absent() {
    let payload = json!({"v": 1, "seq": 1, "ts": NOW, "lat": null, "lon": null,
        "acc": null, "hr": null, "steps": null, "act": null, "bat": null, "temp": null});
    let sample = single(&payload.to_string()).expect("valid");
    assert_eq!(sample, without("nothing").expect("valid"));
}

#[test]
fn a_null_required_field_counts_as_missing() {
    assert_eq!(reason_of(with("seq", Value::Null)), Reason::MissingField);
    assert_eq!(reason_of(with("ts", Value::Null)), Reason::MissingField);
    let no_v = json!({"v": null, "seq": 1, "ts": NOW}).to_string();
    assert_eq!(reason_of(telemetry(&no_v)), Reason::MissingField);
}

#[test]
fn a_sample_without_v_is_rejected_whole() {
    let rejection = telemetry(r#"{"seq":1,"ts":1764151500000}"#).expect_err("no v");
    assert_eq!(rejection.reason, Reason::MissingField);
    assert_eq!(rejection.detail, "v is required");
}

#[test]
fn a_sample_of_another_version_is_rejected_whole() {
    for v in [json!(2), json!(0), json!("1"), json!(1.0), json!(true)] {
        let payload = json!({"v": v, "seq": 1, "ts": NOW}).to_string();
        assert_eq!(reason_of(telemetry(&payload)), Reason::UnsupportedVersion);
    }
}

#[test]
fn a_sample_without_seq_is_rejected() {
    let rejection = without("seq").expect_err("no seq");
    assert_eq!(rejection.reason, Reason::MissingField);
    assert_eq!(rejection.detail, "seq is required");
    assert_eq!(rejection.index, None);
}

#[test]
fn seq_must_be_an_integer() {
    for seq in [json!(1.5), json!("1"), json!(1e3), json!([1])] {
        assert_eq!(outcome("seq", seq), Some(Reason::WrongType));
    }
}

#[test]
fn seq_is_accepted_from_0_to_just_below_2_pow_53() {
    assert_eq!(with("seq", json!(0)).map(|s| s.seq), Ok(0));
    assert_eq!(
        with("seq", json!(MAX_SEQ - 1)).map(|s| s.seq),
        Ok(MAX_SEQ - 1)
    );
    assert_eq!(outcome("seq", json!(-1)), Some(Reason::OutOfRange));
    assert_eq!(outcome("seq", json!(MAX_SEQ)), Some(Reason::OutOfRange));
    assert_eq!(outcome("seq", json!(u64::MAX)), Some(Reason::OutOfRange));
}

#[test]
fn a_sample_without_ts_is_rejected() {
    assert_eq!(reason_of(without("ts")), Reason::MissingField);
}

#[test]
fn ts_must_be_an_integer() {
    for ts in [json!(1.7641515e12), json!("1764151500000"), json!(false)] {
        assert_eq!(outcome("ts", ts), Some(Reason::WrongType));
    }
}

#[test]
fn ts_is_accepted_from_30_days_before_to_5_minutes_after_receipt() {
    let oldest = NOW - MAX_AGE_MS;
    let newest = NOW + MAX_FUTURE_SKEW_MS;
    assert_eq!(with("ts", json!(oldest)).map(|s| s.ts_ms), Ok(oldest));
    assert_eq!(with("ts", json!(newest)).map(|s| s.ts_ms), Ok(newest));
    let late = Some(Reason::TimestampOutOfWindow);
    assert_eq!(outcome("ts", json!(oldest - 1)), late);
    assert_eq!(outcome("ts", json!(newest + 1)), late);
    assert_eq!(outcome("ts", json!(-1)), late);
    assert_eq!(outcome("ts", json!(u64::MAX)), late);
}

#[test]
fn the_ts_window_does_not_overflow_at_extreme_receive_times() {
    for now in [i64::MIN, i64::MAX, 0] {
        let payload = json!({"v": 1, "seq": 1, "ts": i64::MAX}).to_string();
        let _ = decode(Channel::Telemetry, payload.as_bytes(), now);
    }
}

#[test]
fn lat_is_accepted_from_minus_90_to_90() {
    let at = |lat: f64| with("lat", json!(lat)).map(|s| s.fix.map(|f| f.lat));
    let position = |lat: f64| {
        let payload = json!({"v": 1, "seq": 1, "ts": NOW, "lat": lat, "lon": 0});
        single(&payload.to_string()).err().map(|r| r.reason)
    };
    assert_eq!(position(-90.0), None);
    assert_eq!(position(90.0), None);
    assert_eq!(position(90.000001), Some(Reason::OutOfRange));
    assert_eq!(position(-90.000001), Some(Reason::OutOfRange));
    assert_eq!(
        at(95.0).map_err(|r| r.detail),
        Err("lat must be a number from -90 to 90".into())
    );
}

#[test]
fn lon_is_accepted_from_minus_180_to_180() {
    let position = |lon: f64| {
        let payload = json!({"v": 1, "seq": 1, "ts": NOW, "lat": 0, "lon": lon});
        single(&payload.to_string()).err().map(|r| r.reason)
    };
    assert_eq!(position(-180.0), None);
    assert_eq!(position(180.0), None);
    assert_eq!(position(180.5), Some(Reason::OutOfRange));
    assert_eq!(position(-180.5), Some(Reason::OutOfRange));
}

#[test]
fn integer_coordinates_are_numbers() {
    let payload = json!({"v": 1, "seq": 1, "ts": NOW, "lat": 13, "lon": -100});
    let fix = single(&payload.to_string()).expect("valid").fix;
    let expected = Fix {
        lat: 13.0,
        lon: -100.0,
        acc: None,
    };
    assert_eq!(fix, Some(expected));
}

#[test]
fn lat_without_lon_is_an_incomplete_position() {
    assert_eq!(
        outcome("lat", json!(13.7)),
        Some(Reason::PositionIncomplete)
    );
    assert_eq!(
        outcome("lon", json!(100.5)),
        Some(Reason::PositionIncomplete)
    );
    let null_lon = json!({"v": 1, "seq": 1, "ts": NOW, "lat": 1.0, "lon": null});
    let rejection = single(&null_lon.to_string()).expect_err("lon is null");
    assert_eq!(rejection.reason, Reason::PositionIncomplete);
}

#[test]
fn coordinates_must_be_numbers() {
    let payload = json!({"v": 1, "seq": 1, "ts": NOW, "lat": "13.7", "lon": 100.5});
    assert_eq!(reason_of(single(&payload.to_string())), Reason::WrongType);
}

#[test]
fn acc_is_kept_with_a_fix_and_checked_from_0_to_10000() {
    let fix_with = |acc: Value| {
        let payload = json!({"v": 1, "seq": 1, "ts": NOW, "lat": 1, "lon": 2, "acc": acc});
        single(&payload.to_string())
    };
    let acc = |value: Value| fix_with(value).map(|s| s.fix.and_then(|f| f.acc));
    assert_eq!(acc(json!(0)), Ok(Some(0.0)));
    assert_eq!(acc(json!(10_000)), Ok(Some(10_000.0)));
    assert_eq!(reason_of(fix_with(json!(-0.1))), Reason::OutOfRange);
    assert_eq!(reason_of(fix_with(json!(10_000.5))), Reason::OutOfRange);
    assert_eq!(reason_of(fix_with(json!("6.5"))), Reason::WrongType);
}

#[test]
fn acc_without_a_fix_is_dropped() {
    assert_eq!(with("acc", json!(6.5)).map(|s| s.fix), Ok(None));
}

#[test]
fn hr_is_an_integer_from_1_to_400() {
    assert_eq!(with("hr", json!(1)).map(|s| s.hr), Ok(Some(1)));
    assert_eq!(with("hr", json!(400)).map(|s| s.hr), Ok(Some(400)));
    assert_eq!(outcome("hr", json!(0)), Some(Reason::OutOfRange));
    assert_eq!(outcome("hr", json!(401)), Some(Reason::OutOfRange));
    assert_eq!(outcome("hr", json!(-5)), Some(Reason::OutOfRange));
    assert_eq!(outcome("hr", json!(96.5)), Some(Reason::WrongType));
    assert_eq!(outcome("hr", json!("96")), Some(Reason::WrongType));
}

#[test]
fn a_rejection_detail_names_the_field_and_its_rule() {
    let rejection = with("hr", json!(96.5)).expect_err("float hr");
    assert_eq!(rejection.detail, "hr must be an integer from 1 to 400");
    assert_eq!(
        rejection.to_string(),
        "wrong_type: hr must be an integer from 1 to 400"
    );
}

#[test]
fn steps_is_an_integer_from_0_to_100000() {
    assert_eq!(with("steps", json!(0)).map(|s| s.steps), Ok(Some(0)));
    assert_eq!(
        with("steps", json!(100_000)).map(|s| s.steps),
        Ok(Some(100_000))
    );
    assert_eq!(outcome("steps", json!(-1)), Some(Reason::OutOfRange));
    assert_eq!(outcome("steps", json!(100_001)), Some(Reason::OutOfRange));
    assert_eq!(outcome("steps", json!(4.5)), Some(Reason::WrongType));
}

#[test]
fn bat_is_an_integer_from_0_to_100() {
    assert_eq!(with("bat", json!(0)).map(|s| s.bat), Ok(Some(0)));
    assert_eq!(with("bat", json!(100)).map(|s| s.bat), Ok(Some(100)));
    assert_eq!(outcome("bat", json!(-1)), Some(Reason::OutOfRange));
    assert_eq!(outcome("bat", json!(101)), Some(Reason::OutOfRange));
    assert_eq!(outcome("bat", json!(300)), Some(Reason::OutOfRange));
    assert_eq!(outcome("bat", json!(83.0)), Some(Reason::WrongType));
    assert_eq!(outcome("bat", json!(true)), Some(Reason::WrongType));
}

#[test]
fn temp_is_a_number_from_25_to_45() {
    assert_eq!(with("temp", json!(25)).map(|s| s.temp), Ok(Some(25.0)));
    assert_eq!(with("temp", json!(45.0)).map(|s| s.temp), Ok(Some(45.0)));
    assert_eq!(outcome("temp", json!(24.9)), Some(Reason::OutOfRange));
    assert_eq!(outcome("temp", json!(45.1)), Some(Reason::OutOfRange));
    assert_eq!(outcome("temp", json!("38.6")), Some(Reason::WrongType));
}

#[test]
fn act_is_one_of_five_activities() {
    for activity in Activity::ALL {
        let act = with("act", json!(activity.as_str())).map(|s| s.act);
        assert_eq!(act, Ok(Some(activity)));
    }
    assert_eq!(outcome("act", json!("swim")), Some(Reason::OutOfRange));
    assert_eq!(outcome("act", json!("Walk")), Some(Reason::OutOfRange));
    assert_eq!(outcome("act", json!(2)), Some(Reason::WrongType));
}

#[test]
fn activities_serialise_as_their_protocol_names() {
    for activity in Activity::ALL {
        let text = serde_json::to_string(&activity).expect("serialisable");
        assert_eq!(text, format!("\"{}\"", activity.as_str()));
    }
}

// ---- whole telemetry messages ----

#[test]
fn a_single_sample_of_4_kib_is_accepted_and_one_byte_more_is_too_large() {
    let sample = json!({"v": 1, "seq": 1, "ts": NOW});
    assert!(single(&padded(sample.clone(), MAX_SAMPLE_BYTES)).is_ok());
    let too_big = padded(sample, MAX_SAMPLE_BYTES + 1);
    assert_eq!(reason_of(telemetry(&too_big)), Reason::TooLarge);
}

#[test]
fn a_batch_may_be_larger_than_4_kib() {
    let samples = (0..200).map(element).collect();
    let payload = batch_of(samples);
    assert!(payload.len() > MAX_SAMPLE_BYTES);
    assert_eq!(entries(telemetry(&payload)).len(), 200);
}

#[test]
fn a_payload_over_256_kib_is_too_large() {
    let batch = json!({"v": 1, "samples": [element(1)]});
    let at_limit = padded(batch.clone(), MAX_BATCH_BYTES);
    assert_eq!(entries(telemetry(&at_limit)).len(), 1);
    let over = padded(batch, MAX_BATCH_BYTES + 1);
    assert_eq!(reason_of(telemetry(&over)), Reason::TooLarge);
    let garbage = vec![b'x'; MAX_BATCH_BYTES + 1];
    let rejection = decode(Channel::Telemetry, &garbage, NOW).expect_err("too big");
    assert_eq!(rejection.reason, Reason::TooLarge);
}

#[test]
fn a_batch_keeps_valid_samples_and_rejects_the_invalid_one_by_index() {
    let bad = json!({"seq": 2, "ts": NOW, "hr": 0});
    let entries = entries(telemetry(&batch_of(vec![element(1), bad, element(3)])));
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].as_ref().map(|s| s.seq), Ok(1));
    let rejection = entries[1].as_ref().expect_err("hr 0");
    assert_eq!(rejection.reason, Reason::OutOfRange);
    assert_eq!(rejection.index, Some(1));
    assert_eq!(entries[2].as_ref().map(|s| s.seq), Ok(3));
}

#[test]
fn a_batch_element_with_its_own_v_must_say_1() {
    let mut own_v = element(2);
    own_v["v"] = json!(1);
    let mut other_v = element(3);
    other_v["v"] = json!(2);
    let entries = entries(telemetry(&batch_of(vec![element(1), own_v, other_v])));
    assert!(entries[1].is_ok());
    let rejection = entries[2].as_ref().expect_err("v 2");
    assert_eq!(rejection.reason, Reason::UnsupportedVersion);
    assert_eq!(rejection.index, Some(2));
}

#[test]
fn a_batch_element_that_is_not_an_object_is_rejected() {
    let entries = entries(telemetry(&batch_of(vec![json!(7), element(1)])));
    let rejection = entries[0].as_ref().expect_err("not an object");
    assert_eq!(rejection.reason, Reason::NotAnObject);
    assert_eq!(rejection.index, Some(0));
    assert!(entries[1].is_ok());
}

#[test]
fn a_batch_without_v_is_rejected_whole() {
    let payload = json!({"samples": [element(1)]}).to_string();
    assert_eq!(reason_of(telemetry(&payload)), Reason::MissingField);
}

#[test]
fn a_batch_of_0_or_501_samples_is_rejected() {
    assert_eq!(reason_of(telemetry(&batch_of(vec![]))), Reason::BatchSize);
    let too_many = (0..501).map(element).collect();
    assert_eq!(reason_of(telemetry(&batch_of(too_many))), Reason::BatchSize);
    let most = (0..500).map(element).collect();
    let entries = entries(telemetry(&batch_of(most)));
    assert_eq!(entries.len(), 500);
    assert!(entries.iter().all(Result::is_ok));
}

#[test]
fn samples_that_is_not_an_array_is_rejected() {
    let payload = json!({"v": 1, "samples": {"seq": 1}}).to_string();
    assert_eq!(reason_of(telemetry(&payload)), Reason::WrongType);
}

#[test]
fn invalid_utf8_is_malformed_json() {
    let payload = b"{\"v\":1,\"seq\":1,\"ts\":1764151500000,\"x\":\"\xff\xfe\"}";
    for channel in [
        Channel::Telemetry,
        Channel::Voice,
        Channel::Status,
        Channel::CmdAck,
    ] {
        let rejection = decode(channel, payload, NOW).expect_err("not UTF-8");
        assert_eq!(rejection.reason, Reason::MalformedJson);
    }
}

#[test]
fn a_payload_that_is_not_json_is_malformed() {
    for payload in ["", "{", "v=1", "{\"v\":1,}", "{\"v\":NaN}"] {
        assert_eq!(reason_of(telemetry(payload)), Reason::MalformedJson);
    }
}

#[test]
fn a_payload_that_is_not_an_object_is_rejected() {
    for payload in ["[]", "1", "\"v\"", "null", "[{\"v\":1}]"] {
        assert_eq!(reason_of(telemetry(payload)), Reason::NotAnObject);
    }
}

// ---- voice ----

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

// ---- status and command acks ----

#[test]
fn an_online_status_with_firmware_decodes() {
    let status = decode_status(r#"{"v":1,"online":true,"fw":"1.4.2"}"#);
    let expected = Status {
        online: true,
        fw: Some("1.4.2".into()),
    };
    assert_eq!(status, Ok(expected));
}

#[test]
fn the_last_will_decodes_as_offline() {
    let status = decode_status(r#"{"v":1,"online":false}"#);
    assert_eq!(
        status,
        Ok(Status {
            online: false,
            fw: None
        })
    );
}

#[test]
fn a_bad_status_is_rejected() {
    let cases = [
        (r#"{"v":1}"#, Reason::MissingField),
        (r#"{"v":1,"online":"yes"}"#, Reason::WrongType),
        (r#"{"v":1,"online":true,"fw":142}"#, Reason::WrongType),
        (r#"{"online":true}"#, Reason::MissingField),
        (r#"{"v":2,"online":true}"#, Reason::UnsupportedVersion),
        ("[true]", Reason::NotAnObject),
    ];
    for (payload, reason) in cases {
        assert_eq!(reason_of(decode_status(payload)), reason, "{payload}");
    }
}

#[test]
fn firmware_names_are_at_most_64_characters() {
    let status = |fw: String| decode_status(&json!({"v": 1, "online": true, "fw": fw}).to_string());
    assert!(status("é".repeat(64)).is_ok());
    assert_eq!(reason_of(status("1".repeat(65))), Reason::OutOfRange);
}

#[test]
fn an_oversized_status_is_too_large() {
    let payload = padded(json!({"v": 1, "online": true}), MAX_CONTROL_BYTES + 1);
    assert_eq!(reason_of(decode_status(&payload)), Reason::TooLarge);
}

#[test]
fn a_successful_command_ack_decodes() {
    let ack = decode_ack(r#"{"v":1,"id":"6f1c","ok":true}"#);
    let expected = CmdAck {
        id: "6f1c".into(),
        ok: true,
        error: None,
    };
    assert_eq!(ack, Ok(expected));
}

#[test]
fn a_failed_command_ack_keeps_its_error() {
    let ack = decode_ack(r#"{"v":1,"id":"6f1c","ok":false,"error":"no fix"}"#);
    assert_eq!(
        ack.map(|a| (a.ok, a.error)),
        Ok((false, Some("no fix".into())))
    );
}

#[test]
fn a_long_ack_error_is_cut_to_500_characters() {
    let payload = json!({"v": 1, "id": "a", "ok": false, "error": "é".repeat(600)});
    let error = decode_ack(&payload.to_string()).expect("valid").error;
    assert_eq!(error, Some("é".repeat(500)));
}

#[test]
fn a_bad_command_ack_is_rejected() {
    let long_id = "a".repeat(65);
    let cases = [
        (json!({"v": 1, "ok": true}), Reason::MissingField),
        (json!({"v": 1, "id": "", "ok": true}), Reason::OutOfRange),
        (
            json!({"v": 1, "id": long_id, "ok": true}),
            Reason::OutOfRange,
        ),
        (json!({"v": 1, "id": 5, "ok": true}), Reason::WrongType),
        (json!({"v": 1, "id": "a"}), Reason::MissingField),
        (json!({"v": 1, "id": "a", "ok": "true"}), Reason::WrongType),
        (
            json!({"v": 1, "id": "a", "ok": false, "error": 3}),
            Reason::WrongType,
        ),
        (json!({"id": "a", "ok": true}), Reason::MissingField),
    ];
    for (payload, reason) in cases {
        assert_eq!(
            reason_of(decode_ack(&payload.to_string())),
            reason,
            "{payload}"
        );
    }
    assert!(decode_ack(&json!({"v": 1, "id": "a".repeat(64), "ok": true}).to_string()).is_ok());
}

// ---- topics ----

#[test]
fn collar_topics_parse_to_serial_and_channel() {
    let cases = [
        ("telemetry", Channel::Telemetry),
        ("voice", Channel::Voice),
        ("status", Channel::Status),
        ("cmd/ack", Channel::CmdAck),
    ];
    for (tail, channel) in cases {
        let topic = parse_topic(PREFIX, &format!("pettysync/v1/collars/PS-0001_a/{tail}"));
        let expected = Topic {
            serial: CollarSerial::parse("PS-0001_a").expect("valid serial"),
            channel,
        };
        assert_eq!(topic, Ok(expected));
    }
}

#[test]
fn the_topic_prefix_is_configurable() {
    let parsed = |prefix: &str, topic: &str| parse_topic(prefix, topic).map(|t| t.channel);
    assert_eq!(
        parsed("acme/prod", "acme/prod/collars/PS-1/voice"),
        Ok(Channel::Voice)
    );
    let trailing = parsed("pettysync/v1/", "pettysync/v1/collars/PS-1/status");
    assert_eq!(trailing, Ok(Channel::Status));
    assert_eq!(parsed("", "collars/PS-1/telemetry"), Ok(Channel::Telemetry));
}

#[test]
fn a_serial_with_bad_characters_or_length_is_a_bad_topic() {
    for serial in ["PS+0001", "PS 0001", "+", "#", "PS-#", "abc", "", "PS.001"] {
        let topic = format!("pettysync/v1/collars/{serial}/telemetry");
        let rejection = parse_topic(PREFIX, &topic).expect_err(serial);
        assert_eq!(rejection.reason, Reason::BadTopic, "{serial}");
    }
    let long = format!("pettysync/v1/collars/{}/telemetry", "a".repeat(65));
    assert_eq!(reason_of(parse_topic(PREFIX, &long)), Reason::BadTopic);
}

#[test]
fn a_topic_under_another_prefix_is_a_bad_topic() {
    let topics = [
        "other/v1/collars/PS-0001/telemetry",
        "pettysync/v2/collars/PS-0001/telemetry",
        "pettysync/v1x/collars/PS-0001/telemetry",
        "/pettysync/v1/collars/PS-0001/telemetry",
        "pettysync/v1/collar/PS-0001/telemetry",
        "",
    ];
    for topic in topics {
        assert_eq!(
            reason_of(parse_topic(PREFIX, topic)),
            Reason::BadTopic,
            "{topic}"
        );
    }
}

#[test]
fn a_topic_with_extra_or_missing_levels_is_a_bad_topic() {
    let topics = [
        "pettysync/v1/collars/PS-0001/telemetry/extra",
        "pettysync/v1/collars/PS-0001/cmd/ack/extra",
        "pettysync/v1/collars/PS-0001/x/telemetry",
        "pettysync/v1/extra/collars/PS-0001/telemetry",
        "pettysync/v1/collars/PS-0001",
        "pettysync/v1/collars/PS-0001/",
        "pettysync/v1/collars/PS-0001/Telemetry",
    ];
    for topic in topics {
        assert_eq!(
            reason_of(parse_topic(PREFIX, topic)),
            Reason::BadTopic,
            "{topic}"
        );
    }
}

#[test]
fn the_servers_own_cmd_topic_is_a_bad_topic() {
    let topic = parse_topic(PREFIX, "pettysync/v1/collars/PS-0001/cmd");
    assert_eq!(reason_of(topic), Reason::BadTopic);
}

// ---- reasons ----

#[test]
fn reasons_have_distinct_stable_labels() {
    let labels: std::collections::HashSet<_> = Reason::ALL.iter().map(Reason::as_str).collect();
    assert_eq!(labels.len(), Reason::ALL.len());
    assert_eq!(
        Reason::TimestampOutOfWindow.to_string(),
        "timestamp_out_of_window"
    );
    assert_eq!(Reason::BadTopic.as_str(), "bad_topic");
    assert_eq!(Reason::BadAudio.as_str(), "bad_audio");
}

// ---- robustness ----

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fragments that steer mutations towards type, range and nesting edge cases, `|`-separated.
const TOKENS: &str = "null|-1|1.5|1e999|18446744073709551616|\"\\u0000\"|{|}|[|]|\"v\":2,|\
    \"samples\":[|true|\"\\ud800\"|,|\u{fffd}";

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(300);
    (0..len).map(|_| rng.next() as u8).collect()
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if at < bytes.len() => bytes[at] = rng.next() as u8,
            1 => {
                let tokens: Vec<&str> = TOKENS.split('|').collect();
                let token = tokens[rng.below(tokens.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => bytes.truncate(at),
            _ => {
                let digit = b'0' + rng.below(10) as u8;
                bytes.insert(at, digit);
            }
        }
    }
    bytes
}

const FIELDS: &str = "v seq ts lat lon acc hr steps act bat temp samples codec rate_hz \
    audio_b64 online fw id ok error";

/// Values at or past the edges of the protocol's types and ranges.
const VALUES: &str = r#"[null, -1, 0, 1, 1.5, 400, 1e300, 18446744073709551615,
    -9223372036854775808, 1764151560000, 8000, "walk", "", "AAAA", true, [], {},
    [{"seq": 1, "ts": 1764151560000}, 3]]"#;

/// Sets, nulls or removes known fields of the message, or of its first batch element.
fn mutate_fields(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut message: Value = serde_json::from_slice(seed).expect("seeds are JSON");
    for _ in 0..=rng.below(3) {
        let target = match message.pointer_mut("/samples/0") {
            Some(element) if rng.below(2) == 0 => element,
            _ => &mut message,
        };
        let Some(object) = target.as_object_mut() else {
            continue;
        };
        let fields: Vec<&str> = FIELDS.split_whitespace().collect();
        let field = fields[rng.below(fields.len())].to_owned();
        if rng.below(4) == 0 {
            object.remove(&field);
        } else {
            let values: Vec<Value> = serde_json::from_str(VALUES).expect("a JSON array");
            object.insert(field, values[rng.below(values.len())].clone());
        }
    }
    message.to_string().into_bytes()
}

/// Checks what any outcome of `decode` must satisfy.
fn check_invariants(result: &Result<Decoded, Rejection>) {
    match result {
        Err(rejection) => assert_eq!(rejection.index, None),
        Ok(Decoded::Telemetry(entries)) => {
            assert!((1..=MAX_BATCH_SAMPLES).contains(&entries.len()));
            for sample in entries.iter().flatten() {
                assert!(sample.seq < MAX_SEQ);
                assert!(sample.hr.is_none_or(|hr| (1..=400).contains(&hr)));
                assert!(sample.bat.is_none_or(|bat| bat <= 100));
            }
        }
        Ok(Decoded::Voice(clip)) => assert!((500..=10_000).contains(&clip.duration_ms)),
        Ok(Decoded::CmdAck(ack)) => assert!(ack.error.as_ref().is_none_or(|e| e.len() <= 2000)),
        Ok(Decoded::Status(_)) => {}
    }
}

#[test]
fn decode_never_panics_on_random_bytes_or_mutated_messages() {
    let batch = batch_of(vec![
        element(1),
        json!({"seq": 2, "ts": NOW, "lat": 1, "lon": 2}),
    ]);
    let voice = Value::Object(clip_message(8000, 8_000)).to_string();
    let seeds: [&[u8]; 5] = [
        SPEC_SAMPLE.as_bytes(),
        batch.as_bytes(),
        voice.as_bytes(),
        br#"{"v":1,"online":true,"fw":"1.4.2"}"#,
        br#"{"v":1,"id":"6f1c","ok":false,"error":"no fix"}"#,
    ];
    let channels = [
        Channel::Telemetry,
        Channel::Voice,
        Channel::Status,
        Channel::CmdAck,
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4000 {
        let seed = seeds[rng.below(seeds.len())];
        let payload = match round % 3 {
            0 => random_bytes(&mut rng),
            1 => mutate(seed, &mut rng),
            _ => mutate_fields(seed, &mut rng),
        };
        for channel in channels {
            check_invariants(&decode(channel, &payload, NOW));
        }
    }
}

#[test]
fn deeply_nested_json_is_rejected_without_overflowing_the_stack() {
    let deep = format!(
        "{{\"v\":1,\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(reason_of(telemetry(&deep)), Reason::MalformedJson);
}
