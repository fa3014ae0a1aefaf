//! Commands to collars: recorded in PostgreSQL, published on `…/collars/{serial}/cmd` at
//! QoS 1, and matched with the collar's answer on `…/cmd/ack`.

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::AsyncClient;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ids::{PetId, UserId};

/// Shortest and longest reporting interval a collar accepts (collar protocol).
pub const INTERVAL_RANGE_S: std::ops::RangeInclusive<u32> = 2..=3600;
/// Longest error text kept from a collar's answer.
const MAX_ACK_ERROR_CHARS: usize = 500;

/// A command as the collar protocol writes it (without `v` and `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum CollarCommand {
    SetInterval {
        /// Seconds between reports, 2 to 3600.
        #[schema(minimum = 2, maximum = 3600)]
        interval_s: u32,
    },
    FindMe,
    LostMode {
        on: bool,
    },
}

impl CollarCommand {
    /// Checks the protocol's bounds.
    pub fn validate(&self) -> Result<(), &'static str> {
        match self {
            Self::SetInterval { interval_s } if !INTERVAL_RANGE_S.contains(interval_s) => {
                Err("interval_s must be between 2 and 3600")
            }
            _ => Ok(()),
        }
    }
}

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
    ) -> anyhow::Result<()> {
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

    #[test]
    fn set_interval_is_bounded() {
        assert!(CollarCommand::SetInterval { interval_s: 1 }
            .validate()
            .is_err());
        assert!(CollarCommand::SetInterval { interval_s: 2 }
            .validate()
            .is_ok());
        assert!(CollarCommand::SetInterval { interval_s: 3601 }
            .validate()
            .is_err());
    }
}
