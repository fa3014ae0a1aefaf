//! Acknowledging a collar message: a message is acknowledged to the broker only after
//! everything it carried is stored, by whoever stored it last. The token says which message;
//! the [`Acknowledge`] side (the MQTT connection) sends the acknowledgement.

use rumqttc::v5::mqttbytes::QoS;

/// The MQTT message to acknowledge once everything it carried is stored.
#[derive(Debug, Clone, Copy)]
pub struct AckToken {
    pub pkid: u16,
    pub qos: QoS,
}

impl AckToken {
    pub fn of(publish: &rumqttc::v5::mqttbytes::v5::Publish) -> Self {
        Self {
            pkid: publish.pkid,
            qos: publish.qos,
        }
    }
}

/// Sends acknowledgements to the broker.
pub trait Acknowledge: Send + Sync {
    /// Acknowledges the message this token stands for; never waits.
    fn ack(&self, token: AckToken);
}
