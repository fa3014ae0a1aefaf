//! Collar traffic over MQTT: the connection (`mqtt`), the pure decoder (`decode`), the
//! pipeline that hands decoded messages on (`pipeline`), commands to collars (`commands`)
//! and voice clip storage (`voice`).

pub mod commands;
pub mod decode;
pub mod mqtt;
pub mod pipeline;
pub mod voice;
