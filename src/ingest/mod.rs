//! Collar traffic: the MQTT connection (`mqtt`), and in later work the pure decoder and the
//! dead-letter store.

pub mod mqtt;
