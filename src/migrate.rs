//! `pettysync migrate`: the PostgreSQL schema and the MongoDB collections and indexes.
//! Every step is idempotent, so running it twice (or on every deploy) is harmless.

use anyhow::Context;
use mongodb::bson::doc;
use mongodb::options::{IndexOptions, TimeseriesGranularity, TimeseriesOptions};
use mongodb::IndexModel;
use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;

use crate::config::Settings;

/// Raw telemetry samples (a time-series collection where the server supports one).
pub const TELEMETRY_COLLECTION: &str = "telemetry";
/// Collar messages that failed validation, with their reason.
pub const DEAD_LETTER_COLLECTION: &str = "dead_letters";
/// Alerts raised and stored with the collar message behind them, until they are in
/// PostgreSQL (an outbox: the alert supervisor drains it).
pub const ALERT_OUTBOX_COLLECTION: &str = "alert_outbox";
/// How long dead letters are kept before MongoDB expires them.
const DEAD_LETTER_TTL_DAYS: u64 = 30;
/// MongoDB's error code for "collection already exists".
const NAMESPACE_EXISTS: i32 = 48;

/// Creates the database if needed and brings both stores to the current schema.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    migrate_postgres(settings).await?;
    migrate_mongodb(settings).await?;
    Ok(())
}

async fn migrate_postgres(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database_url.expose_secret();
    if !sqlx::Postgres::database_exists(url)
        .await
        .context("connecting to PostgreSQL")?
    {
        // Two migrators racing to create it is fine: the loser sees "already exists".
        if let Err(error) = sqlx::Postgres::create_database(url).await {
            if !sqlx::Postgres::database_exists(url).await.unwrap_or(false) {
                return Err(error).context("creating the PostgreSQL database");
            }
        }
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("applying PostgreSQL migrations")?;
    pool.close().await;
    Ok(())
}

async fn migrate_mongodb(settings: &Settings) -> anyhow::Result<()> {
    let client = mongodb::Client::with_uri_str(settings.mongodb_url.expose_secret())
        .await
        .context("connecting to MongoDB")?;
    let db = client.database(&settings.mongodb_database());

    let timeseries = TimeseriesOptions::builder()
        .time_field("at".to_owned())
        .meta_field(Some("meta".to_owned()))
        .granularity(Some(TimeseriesGranularity::Seconds))
        .build();
    ignore_exists(
        db.create_collection(TELEMETRY_COLLECTION)
            .timeseries(timeseries)
            .await,
    )
    .context("creating the telemetry collection")?;
    ignore_exists(db.create_collection(DEAD_LETTER_COLLECTION).await)
        .context("creating the dead-letter collection")?;
    ignore_exists(db.create_collection(ALERT_OUTBOX_COLLECTION).await)
        .context("creating the alert outbox collection")?;

    // Not unique: a real time-series collection cannot carry a unique index, so duplicate
    // suppression happens before insert; these serve time-range reads and that check.
    let telemetry = db.collection::<mongodb::bson::Document>(TELEMETRY_COLLECTION);
    telemetry
        .create_indexes([
            IndexModel::builder()
                .keys(doc! { "meta.pet": 1, "at": 1 })
                .build(),
            IndexModel::builder()
                .keys(doc! { "meta.collar": 1, "seq": 1 })
                .build(),
        ])
        .await
        .context("creating telemetry indexes")?;

    let dead_letters = db.collection::<mongodb::bson::Document>(DEAD_LETTER_COLLECTION);
    let ttl = IndexOptions::builder()
        .expire_after(std::time::Duration::from_secs(
            DEAD_LETTER_TTL_DAYS * 86_400,
        ))
        .build();
    dead_letters
        .create_index(
            IndexModel::builder()
                .keys(doc! { "received_at": 1 })
                .options(ttl)
                .build(),
        )
        .await
        .context("creating dead-letter indexes")?;
    Ok(())
}

fn ignore_exists(result: mongodb::error::Result<()>) -> mongodb::error::Result<()> {
    match result {
        Err(error) if command_code(&error) == Some(NAMESPACE_EXISTS) => Ok(()),
        other => other,
    }
}

fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}
