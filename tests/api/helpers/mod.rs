//! Shared fixtures: a real server per test on port 0, against its own PostgreSQL database,
//! MongoDB database, Redis key prefix and MQTT client id / topic prefix, so tests run in
//! parallel without seeing each other's data.
//!
//! - `app`: the server, its isolation and the common requests;
//! - `assertions`: response checks and polling;
//! - `stores`: the stores behind the server's back;
//! - `media`: posts and uploads;
//! - `share`: share links.

mod app;
mod assertions;
mod media;
mod share;
mod stores;

pub use self::app::*;
pub use self::assertions::*;
pub use self::media::*;
pub use self::stores::*;
