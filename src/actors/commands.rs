//! Commands to collars: recorded in PostgreSQL, published on `…/collars/{serial}/cmd` at
//! QoS 1, and matched with the collar's answer on `…/cmd/ack`.

use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

pub use crate::domain::command::{CollarCommand, INTERVAL_RANGE_S};
use crate::ids::{PetId, UserId};

/// Longest error text kept from a collar's answer.
const MAX_ACK_ERROR_CHARS: usize = 500;

#[derive(Serialize)]
struct Envelope<'a> {
    v: u8,
    id: Uuid,
    #[serde(flatten)]
    command: &'a CollarCommand,
}

/// Sends commands and records acknowledgements. Cheap to clone.
#[derive(Clone)]
pub struct Commands {
    pg: PgPool,
    client: AsyncClient,
    topic_prefix: String,
}

impl Commands {
    pub fn new(pg: PgPool, client: AsyncClient, topic_prefix: String) -> Self {
        Self {
            pg,
            client,
            topic_prefix,
        }
    }

    /// Records the command, then publishes it; returns its id. While the broker is away the
    /// publish waits in the MQTT client's bounded queue and goes out on reconnect.
    pub async fn send(
        &self,
        serial: &str,
        pet: Option<PetId>,
        requested_by: Option<UserId>,
        command: CollarCommand,
    ) -> anyhow::Result<Uuid> {
        let id = Uuid::new_v4();
        let payload = serde_json::to_vec(&Envelope {
            v: 1,
            id,
            command: &command,
        })?;
        sqlx::query(
            "INSERT INTO collar_commands (id, serial, pet_id, requested_by, command) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(serial)
        .bind(pet)
        .bind(requested_by)
        .bind(sqlx::types::Json(&command))
        .execute(&self.pg)
        .await?;
        let topic = format!("{}/collars/{serial}/cmd", self.topic_prefix);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        tracing::info!(collar = %serial, command = %id, "command sent");
        Ok(id)
    }

    /// Stores a collar's answer to one of its commands (ignored when the id is not that
    /// collar's: a collar cannot answer for another).
    pub async fn record_ack(
        &self,
        serial: &str,
        id: &str,
        ok: bool,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let Ok(id) = id.parse::<Uuid>() else {
            return Ok(());
        };
        let error: Option<String> = error.map(|e| e.chars().take(MAX_ACK_ERROR_CHARS).collect());
        sqlx::query(
            "UPDATE collar_commands SET acked_at = now(), ok = $3, error = $4
             WHERE id = $1 AND serial = $2 AND acked_at IS NULL",
        )
        .bind(id)
        .bind(serial)
        .bind(ok)
        .bind(error)
        .execute(&self.pg)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_serialise_as_the_collar_protocol() {
        let id = Uuid::nil();
        let json = |command| {
            serde_json::to_value(Envelope {
                v: 1,
                id,
                command: &command,
            })
            .unwrap()
        };
        assert_eq!(
            json(CollarCommand::SetInterval { interval_s: 3 }),
            serde_json::json!({"v":1,"id":id,"cmd":"set_interval","interval_s":3})
        );
        assert_eq!(
            json(CollarCommand::FindMe),
            serde_json::json!({"v":1,"id":id,"cmd":"find_me"})
        );
        assert_eq!(
            json(CollarCommand::LostMode { on: true }),
            serde_json::json!({"v":1,"id":id,"cmd":"lost_mode","on":true})
        );
    }
}
