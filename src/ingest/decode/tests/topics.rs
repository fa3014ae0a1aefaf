use super::*;

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
