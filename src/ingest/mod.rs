//! Collar traffic over MQTT: the connection messages come in on (`mqtt`), the one commands
//! go out on (`outbound`), the pure decoder (`decode`), the
//! pipeline that hands decoded messages on (`pipeline`), messages of collars that cannot be
//! looked up yet (`parking`), stores beside ingest retried until they succeed (`side`), and
//! voice clip storage (`voice`). In a cluster, messages of collars another node owns are
//! stored here and handed to the owner (`forward`), with the collar's pairings read without
//! its actor (`pairing_cache`). Commands to collars are `actors::commands`.

pub mod decode;
pub mod forward;
pub mod mqtt;
pub mod outbound;
pub mod pairing_cache;
pub mod parking;
pub mod pipeline;
pub mod side;
pub mod voice;

/// Records `pettysync_actor_delay_seconds{path}`: from the broker's delivery of a message
/// (`received_at_ms`, on the node that read it) to its collar actor's answer, on the node
/// that runs the actor. `path` is `local` or `forwarded`; the difference is what a forward
/// adds to the live path (the nodes' clocks assumed in step, as NTP keeps them).
pub fn record_actor_delay(path: &'static str, received_at_ms: i64) {
    let delay_ms = (chrono::Utc::now().timestamp_millis() - received_at_ms).max(0);
    metrics::histogram!("pettysync_actor_delay_seconds", "path" => path)
        .record(delay_ms as f64 / 1e3);
}
