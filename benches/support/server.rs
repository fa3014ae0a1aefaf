//! The server under test, run in the bench process on the actix System of its main thread (as
//! `serve` runs it), against databases, a Redis prefix and an MQTT identity of its own; and
//! the runtime of the load generator, whose threads never queue behind the server's.

use anyhow::Context as _;
use pettysync::config::Settings;
use pettysync::startup::Application;
use uuid::Uuid;

/// Threads of the load generator's runtime carry this name.
pub const LOAD_THREAD: &str = "bench-load";

/// The load generator's runtime: two threads named [`LOAD_THREAD`].
pub fn load_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(LOAD_THREAD)
        .enable_all()
        .build()
}

/// A store URL pointed at `database`.
pub fn with_database(raw: &str, database: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(raw).context("a store URL does not parse")?;
    url.set_path(&format!("/{database}"));
    Ok(url.to_string())
}

/// A fresh random secret (a JWT key, an admin token).
pub fn random_secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// The test environment's settings with a database, Redis prefix, MQTT identity and topic
/// prefix of the bench run's own (`pettysync_bench_{bench}_{run_id}`), a random JWT key, and
/// no seed mood model to train.
pub fn isolated_settings(bench: &str, run_id: &str) -> anyhow::Result<Settings> {
    let mut settings = Settings::load()
        .context("loading settings from PETTYSYNC_* (eval \"$(scripts/services.sh up)\")")?;
    let database = format!("pettysync_bench_{bench}_{run_id}");
    settings.http_addr = "127.0.0.1:0".to_owned();
    settings.database_url = secrecy::SecretString::from(with_database(
        secrecy::ExposeSecret::expose_secret(&settings.database_url),
        &database,
    )?);
    settings.mongodb_url = secrecy::SecretString::from(with_database(
        secrecy::ExposeSecret::expose_secret(&settings.mongodb_url),
        &database,
    )?);
    settings.redis_prefix = format!("pettysync:bench:{bench}:{run_id}:");
    let mut mqtt = url::Url::parse(secrecy::ExposeSecret::expose_secret(&settings.mqtt_url))
        .context("MQTT URL")?;
    // The broker URL's other options (keep-alive, credentials) stay; only the identity changes.
    let kept: Vec<(String, String)> = mqtt
        .query_pairs()
        .filter(|(key, _)| key != "client_id")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    mqtt.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("client_id", &format!("pettysync-bench-{bench}-{run_id}"));
    settings.mqtt_url = secrecy::SecretString::from(mqtt.to_string());
    settings.mqtt_topic_prefix = format!("bench-{bench}/{run_id}");
    settings.jwt_secret = Some(secrecy::SecretString::from(random_secret()));
    // No seed mood model trained at start: its minute of CPU on one core would land in the
    // figures of whatever the bench measures meanwhile (mood_live asks for it back).
    settings.mood_seed_per_class = 0;
    Ok(settings)
}

/// Checks the settings, migrates the bench databases and builds the server.
pub async fn launch(settings: &Settings) -> anyhow::Result<Application> {
    settings.validate()?;
    pettysync::migrate::run(settings)
        .await
        .context("migrating the bench databases")?;
    Application::build(settings.clone())
        .await
        .context("building the server")
}

/// Runs the server on this thread's actix System and returns its base URL; `bench` names the
/// program in the line printed if the server stops.
pub fn serve(application: Application, bench: &'static str) -> String {
    let base = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(async move {
        if let Err(error) = application.run_until_stopped().await {
            eprintln!("{bench}: the server stopped: {error:#}");
        }
    });
    base
}
