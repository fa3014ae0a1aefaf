use super::*;

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

/// No store keeps a NUL in text (PostgreSQL refuses it for good): a name or id with one is
/// rejected, and an error, which is only shown, keeps its ack with the NUL replaced.
#[test]
fn a_nul_character_is_rejected_in_names_and_replaced_in_errors() {
    let status = json!({"v": 1, "online": true, "fw": "1.0\u{0}"}).to_string();
    assert_eq!(reason_of(decode_status(&status)), Reason::WrongType);
    let id = json!({"v": 1, "id": "a\u{0}", "ok": true}).to_string();
    assert_eq!(reason_of(decode_ack(&id)), Reason::WrongType);
    let error = json!({"v": 1, "id": "a", "ok": false, "error": "bad\u{0}fix"}).to_string();
    assert_eq!(
        decode_ack(&error).map(|a| a.error),
        Ok(Some("bad\u{fffd}fix".into()))
    );
}
