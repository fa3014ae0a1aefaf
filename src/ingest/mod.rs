//! Collar traffic over MQTT: the connection messages come in on (`mqtt`), the one commands
//! go out on (`outbound`), the pure decoder (`decode`), the
//! pipeline that hands decoded messages on (`pipeline`), messages of collars that cannot be
//! looked up yet (`parking`), stores beside ingest retried until they succeed (`side`), and
//! voice clip storage (`voice`). Commands to collars are `actors::commands`.

pub mod decode;
pub mod mqtt;
pub mod outbound;
pub mod parking;
pub mod pipeline;
pub mod side;
pub mod voice;
