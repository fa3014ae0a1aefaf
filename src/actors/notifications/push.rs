//! What a push says and how it travels: the words of each notification, the one SNS message
//! that both APNs and FCM accept, what an SNS failure means for the device, and the backoff
//! between attempts. Pure, so it is tested on its own.

use std::time::Duration;

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::actors::events::{AlertKind, SocialKind};

/// Longest wait between two attempts of one push.
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);
/// Longest body a push carries; APNs refuses payloads over 4 KiB.
pub const MAX_BODY_CHARS: usize = 180;
/// Longest single value (a name, a comment) quoted in a push.
const MAX_QUOTE_CHARS: usize = 60;
/// Keys of a notification's `data` that travel in the push for the app to open the right
/// screen: ids only, so the payload stays small whatever the data holds.
const PAYLOAD_IDS: [&str; 5] = ["alert_id", "pet_id", "actor_id", "post_id", "comment_id"];

/// The two lines a phone shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushText {
    pub title: String,
    pub body: String,
}

/// The words of an alert: `pet` is the pet's name, `fence` the name of the geofence it is
/// about (when it is about one).
pub fn alert_text(kind: AlertKind, pet: &str, fence: Option<&str>, details: &Value) -> PushText {
    let pet = quote(pet);
    let fence = fence.map(quote);
    let number = |key: &str| details.get(key).and_then(Value::as_f64);
    let (title, body) = match kind {
        AlertKind::GeofenceExit => (
            "Left a safe zone",
            format!("{pet} left {}", fence.as_deref().unwrap_or("a safe zone")),
        ),
        AlertKind::GeofenceEnter => (
            "Entered a keep-out zone",
            format!(
                "{pet} entered {}",
                fence.as_deref().unwrap_or("a keep-out zone")
            ),
        ),
        AlertKind::HeartRateHigh => (
            "Heart rate high",
            with_figure(format!("{pet}'s heart rate is high"), number("hr"), " bpm"),
        ),
        AlertKind::HeartRateLow => (
            "Heart rate low",
            with_figure(format!("{pet}'s heart rate is low"), number("hr"), " bpm"),
        ),
        AlertKind::BatteryLow => (
            "Collar battery low",
            with_figure(
                format!("{pet}'s collar battery is low"),
                number("pct"),
                " %",
            ),
        ),
        AlertKind::CollarOffline => ("Collar offline", format!("{pet}'s collar is offline")),
        AlertKind::MoodDistress => ("Sounds distressed", format!("{pet} sounds distressed")),
    };
    PushText {
        title: title.to_owned(),
        body: cut(&body, MAX_BODY_CHARS),
    }
}

/// The words of a social event; `actor` is the display name of who did it. A comment's
/// `text` in `data` is quoted.
pub fn social_text(kind: SocialKind, actor: &str, data: &Value) -> PushText {
    let actor = quote(actor);
    let (title, body) = match kind {
        SocialKind::Follow => ("New follower", format!("{actor} started following you")),
        SocialKind::Like => ("New like", format!("{actor} liked your post")),
        SocialKind::Comment => match data.get("text").and_then(Value::as_str) {
            Some(text) => ("New comment", format!("{actor} commented: {}", quote(text))),
            None => ("New comment", format!("{actor} commented on your post")),
        },
    };
    PushText {
        title: title.to_owned(),
        body: cut(&body, MAX_BODY_CHARS),
    }
}

/// The SNS `Message` for `MessageStructure=json`: one key per platform, each value itself a
/// JSON string in that platform's own format, and `default` for any other.
pub fn sns_message(kind: &str, notification_id: Uuid, text: &PushText, data: &Value) -> String {
    let mut ids = Map::new();
    ids.insert("kind".to_owned(), Value::from(kind));
    ids.insert(
        "notification_id".to_owned(),
        Value::from(notification_id.to_string()),
    );
    for key in PAYLOAD_IDS {
        if let Some(Value::String(id)) = data.get(key) {
            ids.insert(key.to_owned(), Value::from(cut(id, MAX_QUOTE_CHARS)));
        }
    }
    let mut apns = json!({
        "aps": {
            "alert": { "title": text.title, "body": text.body },
            "sound": "default",
        },
    });
    if let Value::Object(apns) = &mut apns {
        apns.extend(ids.clone());
    }
    // FCM wants every `data` value as a string: the ids above all are.
    let gcm = json!({
        "notification": { "title": text.title, "body": text.body },
        "data": ids,
    });
    let apns = apns.to_string();
    json!({
        "default": text.body,
        "APNS": apns,
        "APNS_SANDBOX": apns,
        "GCM": gcm.to_string(),
    })
    .to_string()
}

/// What an SNS publish failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The endpoint is disabled or gone (the app was uninstalled, the token expired): the
    /// device is never used again until the phone registers anew.
    EndpointGone,
    /// SNS refused this message for good: retrying cannot help.
    Rejected,
    /// Anything else (SNS unreachable, throttled, failing): try again later.
    Transient,
}

/// Classifies a publish failure by SNS's error code (`None` when SNS was not reached) and
/// message.
pub fn classify(code: Option<&str>, message: Option<&str>) -> Failure {
    let says_disabled = message.is_some_and(|m| m.to_ascii_lowercase().contains("disabled"));
    match code {
        Some("EndpointDisabled" | "NotFound") => Failure::EndpointGone,
        // Older SNS answers a disabled endpoint with a plain InvalidParameter.
        Some("InvalidParameter") if says_disabled => Failure::EndpointGone,
        Some("InvalidParameter" | "InvalidParameterValue" | "ValidationException") => {
            Failure::Rejected
        }
        _ => Failure::Transient,
    }
}

/// How long to wait before the next attempt after `attempts` failed ones: 2 s, 4 s, 8 s, …,
/// at most [`BACKOFF_CAP`].
pub fn backoff(attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 16) as u32;
    Duration::from_secs(2u64.pow(exponent)).min(BACKOFF_CAP)
}

fn with_figure(sentence: String, figure: Option<f64>, unit: &str) -> String {
    match figure {
        Some(figure) => format!("{sentence} ({}{unit})", figure.round()),
        None => sentence,
    }
}

fn quote(text: &str) -> String {
    cut(text.trim(), MAX_QUOTE_CHARS)
}

/// `text` cut to `max` characters (never inside one), with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(message: &Value, key: &str) -> Value {
        let inner = message[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a JSON string: {message}"));
        serde_json::from_str(inner).unwrap_or_else(|e| panic!("{key} parses ({e}): {inner}"))
    }

    #[test]
    fn a_geofence_exit_names_the_pet_and_the_fence() {
        let text = alert_text(AlertKind::GeofenceExit, "Rex", Some("Home"), &json!({}));
        assert_eq!(text.body, "Rex left Home");
        let text = alert_text(AlertKind::GeofenceExit, "Rex", None, &json!({}));
        assert_eq!(text.body, "Rex left a safe zone");
    }

    #[test]
    fn figures_from_the_details_are_quoted_when_present() {
        let text = alert_text(AlertKind::BatteryLow, "Rex", None, &json!({"pct": 10}));
        assert_eq!(text.body, "Rex's collar battery is low (10 %)");
        let text = alert_text(AlertKind::HeartRateHigh, "Rex", None, &json!({}));
        assert_eq!(text.body, "Rex's heart rate is high");
    }

    #[test]
    fn a_long_comment_is_cut_on_a_character_boundary() {
        let text = social_text(
            SocialKind::Comment,
            "Ann",
            &json!({"text": "é".repeat(500)}),
        );
        assert!(text.body.starts_with("Ann commented: éé"));
        assert!(text.body.ends_with('…'));
        assert!(text.body.chars().count() <= MAX_BODY_CHARS);
    }

    #[test]
    fn the_sns_message_carries_a_json_string_per_platform() {
        let id = Uuid::new_v4();
        let text = PushText {
            title: "Collar battery low".into(),
            body: "Rex's collar battery is low (10 %)".into(),
        };
        let data = json!({"alert_id": "a1", "pet_id": "p1", "details": {"pct": 10}});
        let message: Value =
            serde_json::from_str(&sns_message("battery_low", id, &text, &data)).unwrap();
        assert_eq!(message["default"], text.body);
        let apns = platform(&message, "APNS");
        assert_eq!(apns["aps"]["alert"]["body"], text.body);
        assert_eq!(apns["aps"]["alert"]["title"], text.title);
        assert_eq!(apns["kind"], "battery_low");
        assert_eq!(apns["notification_id"], id.to_string());
        assert_eq!(apns["pet_id"], "p1");
        assert!(apns.get("details").is_none());
        assert_eq!(platform(&message, "APNS_SANDBOX"), apns);
        let gcm = platform(&message, "GCM");
        assert_eq!(gcm["notification"]["body"], text.body);
        let fcm_data = gcm["data"].as_object().unwrap();
        assert_eq!(fcm_data["alert_id"], "a1");
        assert!(fcm_data.values().all(Value::is_string), "{gcm}");
    }

    #[test]
    fn disabled_or_missing_endpoints_are_gone_and_outages_are_transient() {
        assert_eq!(
            classify(Some("EndpointDisabled"), Some("Endpoint is disabled")),
            Failure::EndpointGone
        );
        assert_eq!(classify(Some("NotFound"), None), Failure::EndpointGone);
        assert_eq!(
            classify(Some("InvalidParameter"), Some("Endpoint is disabled")),
            Failure::EndpointGone
        );
        assert_eq!(
            classify(Some("InvalidParameter"), Some("Message too long")),
            Failure::Rejected
        );
        assert_eq!(classify(None, None), Failure::Transient);
        assert_eq!(classify(Some("Throttled"), None), Failure::Transient);
        assert_eq!(classify(Some("InternalError"), None), Failure::Transient);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(9), Duration::from_secs(512));
        assert_eq!(backoff(10), BACKOFF_CAP);
        assert_eq!(backoff(1000), BACKOFF_CAP);
        assert_eq!(backoff(0), Duration::from_secs(2));
    }
}
