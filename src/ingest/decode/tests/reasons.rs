use super::*;

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
