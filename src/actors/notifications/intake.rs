//! Intake of social events: one becomes a notification for the user who should hear of it,
//! with one outbox row per enabled device of that user when the gate lets the push through,
//! committed together. (Alerts take their own path: `actors::alerts`.)

use chrono::Utc;
use sqlx::PgPool;

use super::gate::{PushGate, SocialVerdict};
use super::push;
use crate::actors::events::SocialEvent;
use crate::store::notifications::{self as store, NewNotification};

/// Notifies the recipient of a social event; returns the pushes queued.
pub(super) async fn notify_social(pg: &PgPool, gate: &PushGate, event: &SocialEvent) -> u64 {
    let SocialVerdict::Notify { push } = gate.admit_social(event.recipient, event.actor).await
    else {
        return 0;
    };
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
    let new = NewNotification {
        user: event.recipient,
        kind: event.kind.as_str(),
        at: Utc::now(),
        data: &data,
    };
    let stored = async {
        let mut tx = pg.begin().await?;
        let push = push && store::enabled_devices(&mut tx, event.recipient).await? > 0;
        let queued = store::insert_notification_in(&mut tx, &new, push).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(queued)
    };
    match stored.await {
        Ok(queued) => {
            metrics::counter!("pettysync_notifications_total", "kind" => event.kind.as_str())
                .increment(1);
            queued
        }
        Err(error) => {
            // Nothing upstream could retry a social notification: logged and counted.
            metrics::counter!("pettysync_notifications_failed_total").increment(1);
            tracing::error!(error = ?error, user = %new.user, kind = new.kind, "could not store a notification");
            0
        }
    }
}
