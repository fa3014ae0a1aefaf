//! Collar traffic over MQTT: the connection (`mqtt`), the pure decoder (`decode`), the
//! pipeline that hands decoded messages on (`pipeline`), messages of collars that cannot be
//! looked up yet (`parking`), stores beside ingest retried until they succeed (`side`), and
//! voice clip storage (`voice`). Commands to collars are `actors::commands`.

pub mod decode;
pub mod mqtt;
pub mod parking;
pub mod pipeline;
pub mod side;
pub mod voice;
