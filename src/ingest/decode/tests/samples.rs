use super::*;

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
