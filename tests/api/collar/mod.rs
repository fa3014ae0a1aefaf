//! A test collar (an MQTT client that publishes like a collar and receives its commands) and
//! a live-protocol WebSocket client, both talking to a real server through real transports.
//!
//! - `link`: one MQTT connection acting as a collar;
//! - `paired`: a collar provisioned, paired to a new pet and connected;
//! - `socket`: a live-protocol WebSocket.

mod link;
mod paired;
mod socket;

use std::time::Duration;

pub use self::link::CollarLink;
pub use self::paired::TestCollar;
pub use self::socket::{refused_upgrade, ticket_url, LiveSocket};

/// Long enough for anything asynchronous to happen on a loaded test machine.
pub const SETTLE: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(500);

/// The Last Will every real collar sets on its status topic.
pub const WILL: &str = r#"{"v":1,"online":false}"#;

/// Now, in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
