//! An alert from the outbox into PostgreSQL: the alert row, and one notification per user
//! who should hear of it (with its pushes when the gate lets them through), in one
//! transaction. The alert's id comes from what raised it, so storing it a second time (after
//! a crash, or from the outbox sweep) finds it stored and does nothing: each alert is stored
//! and pushed once.

use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
use sqlx::PgPool;
use uuid::Uuid;

use super::RaiseAlert;
use crate::actors::events::{Alert, AlertKind};
use crate::actors::notifications::gate::PushGate;
use crate::actors::notifications::push;
use crate::ids::{PetId, UserId};
use crate::store::alerts::{self, NewAlert};
use crate::store::notifications::{self as notifications, NewNotification};

/// An alert now stored, and who it is for.
pub(super) struct Stored {
    pub alert: Alert,
    pub recipients: Vec<UserId>,
    /// Pushes queued in the outbox.
    pub pushes: u64,
}

/// Stores the alert with its notifications; `None` when it was stored before.
///
/// Who is told and whose phones are pushed is decided first, outside the transaction: the
/// push gate asks Redis, and a slow Redis must not hold PostgreSQL rows locked. The gate
/// answers the same for the same alert id, so deciding for an alert that turns out to be
/// stored already (or a retry after a failed transaction) spends no budget twice.
pub(super) async fn store(
    pg: &PgPool,
    gate: &PushGate,
    raised: &RaiseAlert,
) -> Result<Option<Stored>, sqlx::Error> {
    let kind = raised.kind.as_str();
    let mut decided = Vec::new();
    {
        let mut conn = pg.acquire().await?;
        for user in alerts::recipients(&mut conn, raised.pet_id).await? {
            let push = notifications::enabled_devices(&mut conn, user).await? > 0
                && gate
                    .admit_alert(user, &format!("{}:{kind}", raised.pet_id), raised.id)
                    .await;
            decided.push((user, push));
        }
    }
    let mut tx = pg.begin().await?;
    let new = NewAlert {
        id: raised.id,
        pet: raised.pet_id,
        serial: &raised.serial,
        kind: raised.kind,
        at_ms: raised.at,
        details: &raised.details,
    };
    let Some(alert) = alerts::insert_new(&mut tx, &new).await? else {
        return Ok(None);
    };
    let fence = alert
        .details
        .get("geofence_id")
        .and_then(serde_json::Value::as_str)
        .and_then(|id| id.parse().ok());
    let (pet_name, fence_name) = notifications::alert_names(&mut tx, alert.pet_id, fence).await?;
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
    let mut pushes = 0;
    for &(user, push) in &decided {
        let new = NewNotification {
            user,
            kind,
            at,
            data: &data,
        };
        pushes += notifications::insert_notification_in(&mut tx, &new, push).await?;
    }
    tx.commit().await?;
    let recipients: Vec<UserId> = decided.into_iter().map(|(user, _)| user).collect();
    metrics::counter!("pettysync_notifications_total", "kind" => kind)
        .increment(recipients.len() as u64);
    Ok(Some(Stored {
        alert,
        recipients,
        pushes,
    }))
}

impl RaiseAlert {
    /// The alert as an outbox document (`_id` is its id).
    pub fn to_outbox_doc(&self) -> Document {
        let details = mongodb::bson::to_bson(&self.details).unwrap_or(Bson::Null);
        doc! {
            "_id": self.id.to_string(),
            "pet": self.pet_id.to_string(),
            "serial": self.serial.as_str(),
            "kind": self.kind.as_str(),
            "at": self.at,
            "details": details,
            "raised_at": BsonDateTime::now(),
        }
    }

    /// An alert read back from the outbox; `None` for a document this build cannot read.
    pub fn from_outbox_doc(doc: &Document) -> Option<Self> {
        let id: Uuid = doc.get_str("_id").ok()?.parse().ok()?;
        let pet_id = PetId(doc.get_str("pet").ok()?.parse().ok()?);
        let kind: AlertKind =
            serde_json::from_value(serde_json::Value::String(doc.get_str("kind").ok()?.into()))
                .ok()?;
        let at = crate::actors::persistence::integer(doc, "at")?;
        let details = doc
            .get("details")
            .map(|b| b.clone().into_relaxed_extjson())
            .unwrap_or(serde_json::Value::Null);
        Some(Self {
            id,
            pet_id,
            serial: doc.get_str("serial").ok()?.to_owned(),
            kind,
            at,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_survives_the_outbox_unchanged() {
        let alert = RaiseAlert {
            id: Uuid::new_v4(),
            pet_id: PetId::new(),
            serial: "SN-1".into(),
            kind: AlertKind::GeofenceExit,
            at: 1_764_151_500_000,
            details: serde_json::json!({"geofence_id": "x", "distance_m": 12.0, "acc": null}),
        };
        let back = RaiseAlert::from_outbox_doc(&alert.to_outbox_doc()).expect("readable");
        assert_eq!(back.id, alert.id);
        assert_eq!(back.pet_id, alert.pet_id);
        assert_eq!(back.kind, alert.kind);
        assert_eq!(back.at, alert.at);
        assert_eq!(back.details, alert.details);
    }
}
