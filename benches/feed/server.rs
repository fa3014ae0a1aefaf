//! The server under test for the feed benchmark: its own databases, Redis prefix, MQTT client
//! id and topic prefix, and no per-address limit on registrations.

use anyhow::Context as _;
use pettysync::config::Settings;
use secrecy::{ExposeSecret, SecretString};

use crate::support::server::{launch, random_secret, serve, with_database};
use crate::Server;

/// Starts the server on this thread with isolated databases, Redis prefix and MQTT identity.
pub(crate) async fn start_server(run_id: &str) -> anyhow::Result<Server> {
    let mut settings = Settings::load()
        .context("loading settings from PETTYSYNC_* (eval \"$(scripts/services.sh up)\")")?;
    let database = format!("pettysync_bench_feed_{run_id}");
    settings.http_addr = "127.0.0.1:0".to_owned();
    settings.database_url = SecretString::from(with_database(
        settings.database_url.expose_secret(),
        &database,
    )?);
    settings.mongodb_url = SecretString::from(with_database(
        settings.mongodb_url.expose_secret(),
        &database,
    )?);
    settings.redis_prefix = format!("pettysync:bench:feed:{run_id}:");
    let mut mqtt = url::Url::parse(settings.mqtt_url.expose_secret()).context("MQTT URL")?;
    let kept: Vec<(String, String)> = mqtt
        .query_pairs()
        .filter(|(key, _)| key != "client_id")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    mqtt.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("client_id", &format!("pettysync-bench-feed-{run_id}"));
    settings.mqtt_url = SecretString::from(mqtt.to_string());
    settings.mqtt_topic_prefix = format!("bench-feed/{run_id}");
    settings.jwt_secret = Some(SecretString::from(random_secret()));
    // Every user registers from this one address: lift the per-address budget.
    settings.auth_attempts_per_minute = u32::MAX;
    let application = launch(&settings).await?;
    let base = serve(application, "feed");
    Ok(Server { base, settings })
}
