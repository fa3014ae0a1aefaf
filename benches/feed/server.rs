//! The server under test for the feed benchmark: its own databases, Redis prefix, MQTT client
//! id and topic prefix, and no per-address limit on registrations.

use crate::support::server::{isolated_settings, launch, serve};
use crate::Server;

/// Starts the server on this thread with isolated databases, Redis prefix and MQTT identity.
pub(crate) async fn start_server(run_id: &str) -> anyhow::Result<Server> {
    let mut settings = isolated_settings("feed", run_id)?;
    // Every user registers from this one address: lift the per-address budget.
    settings.auth_attempts_per_minute = u32::MAX;
    let application = launch(&settings).await?;
    let base = serve(application, "feed");
    Ok(Server { base, settings })
}
