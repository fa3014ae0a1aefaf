use super::*;

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
