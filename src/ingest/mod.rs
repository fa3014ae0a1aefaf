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
