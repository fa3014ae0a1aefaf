//! Intake: a stored alert or a social event becomes one notification per user who should
//! hear of it, with one outbox row per enabled device of that user when the gate lets the
//! push through, committed together.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::gate::PushGate;
use super::push;
use crate::actors::events::{Alert, SocialEvent};
use crate::ids::UserId;
use crate::store::notifications::{self as store, NewNotification};

/// Notifies every recipient of an alert; returns the pushes queued.
pub(super) async fn notify_alert(
    pg: &PgPool,
    gate: &PushGate,
    alert: &Alert,
    recipients: &[UserId],
) -> u64 {
    let fence = alert
        .details
        .get("geofence_id")
        .and_then(serde_json::Value::as_str)
        .and_then(|id| id.parse().ok());
    let (pet_name, fence_name) = match store::alert_names(pg, alert.pet_id, fence).await {
        Ok(names) => names,
        Err(error) => {
            // The notification still goes out, with plainer words.
            tracing::warn!(error = ?error, "could not read the pet's name");
            (None, None)
        }
    };
    let pet = pet_name.as_deref().unwrap_or("Your pet");
    let text = push::alert_text(alert.kind, pet, fence_name.as_deref(), &alert.details);
    let data = serde_json::json!({
        "title": text.title,
        "body": text.body,
        "alert_id": alert.id.to_string(),
        "pet_id": alert.pet_id.to_string(),
        "pet_name": pet_name,
        "details": alert.details,
    });
    let at = DateTime::from_timestamp_millis(alert.at).unwrap_or_else(Utc::now);
    let kind = alert.kind.as_str();
    let mut queued = 0;
    for &user in recipients {
        let dedupe = format!("{}:{kind}:{user}", alert.pet_id);
        queued += notify(pg, gate, user, kind, at, &data, Some(dedupe)).await;
    }
    queued
}

/// Notifies the recipient of a social event; returns the pushes queued.
pub(super) async fn notify_social(pg: &PgPool, gate: &PushGate, event: &SocialEvent) -> u64 {
    let actor_name = match store::display_name(pg, event.actor).await {
        Ok(name) => name,
        Err(error) => {
            tracing::warn!(error = ?error, "could not read the actor's name");
            None
        }
    };
    let text = push::social_text(
        event.kind,
        actor_name.as_deref().unwrap_or("Someone"),
        &event.data,
    );
    let mut data = match &event.data {
        serde_json::Value::Object(fields) => fields.clone(),
        _ => serde_json::Map::new(),
    };
    data.insert("title".into(), text.title.into());
    data.insert("body".into(), text.body.into());
    data.insert("actor_id".into(), event.actor.to_string().into());
    data.insert("actor_name".into(), actor_name.into());
    let data = serde_json::Value::Object(data);
    notify(
        pg,
        gate,
        event.recipient,
        event.kind.as_str(),
        Utc::now(),
        &data,
        None,
    )
    .await
}

/// Stores one user's notification, with its pushes when the gate lets it through; returns
/// the pushes queued. Failures are logged and counted: nothing upstream could retry them.
async fn notify(
    pg: &PgPool,
    gate: &PushGate,
    user: UserId,
    kind: &str,
    at: DateTime<Utc>,
    data: &serde_json::Value,
    dedupe: Option<String>,
) -> u64 {
    let stored = async {
        let push =
            store::enabled_devices(pg, user).await? > 0 && gate.admit(user, dedupe, kind).await;
        let new = NewNotification {
            user,
            kind,
            at,
            data,
        };
        store::insert_notification(pg, &new, push).await
    };
    match stored.await {
        Ok(queued) => {
            metrics::counter!("pettysync_notifications_total", "kind" => kind.to_owned())
                .increment(1);
            queued
        }
        Err(error) => {
            metrics::counter!("pettysync_notifications_failed_total").increment(1);
            tracing::error!(error = ?error, %user, kind, "could not store a notification");
            0
        }
    }
}
