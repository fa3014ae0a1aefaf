//! Builds every client once (PostgreSQL, MongoDB, Redis, S3, SNS, MQTT) and the HTTP server,
//! and hands the clients to handlers as `web::Data`.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use aws_config::{BehaviorVersion, Region};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::task::JoinHandle;

use crate::auth::JwtKeys;
use crate::cache::Redis;
use crate::config::Settings;
use crate::http;
use crate::http::health::Dependencies;
use crate::ingest::mqtt;

/// PostgreSQL connections per server.
const PG_POOL_SIZE: u32 = 20;
/// How long a request waits for a PostgreSQL connection (or for MongoDB to be found).
const STORE_WAIT: Duration = Duration::from_secs(3);

/// The running server: its HTTP listener and the background tasks it owns.
pub struct Application {
    port: u16,
    server: Server,
    mqtt_task: JoinHandle<()>,
}

/// The admin bearer token; `None` turns the admin routes off.
#[derive(Clone)]
pub struct AdminToken(pub Option<secrecy::SecretString>);

impl Application {
    /// Connects to everything (lazily, so a dependency that is down shows in `/readyz`
    /// instead of stopping the start) and binds the HTTP listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let jwt = JwtKeys::new(settings.require_jwt_secret()?);
        let pg = PgPoolOptions::new()
            .max_connections(PG_POOL_SIZE)
            .acquire_timeout(STORE_WAIT)
            .connect_lazy(settings.database_url.expose_secret())
            .context("PETTYSYNC_DATABASE_URL")?;
        let mongo = mongo_database(&settings).await?;
        let redis = Redis::new(&settings).context("PETTYSYNC_REDIS_URL")?;
        let aws = aws_config(&settings).await;
        let s3 = s3_client(&aws, &settings);
        let sns = sns_client(&aws, &settings);
        let (mqtt, mqtt_task) = mqtt::connect(&settings).context("PETTYSYNC_MQTT_URL")?;

        let dependencies = Dependencies {
            pg: pg.clone(),
            mongo,
            redis: redis.clone(),
            s3,
            s3_bucket: settings.s3_bucket.clone(),
            sns,
            mqtt,
        };
        let listener = TcpListener::bind(&settings.http_addr).context("PETTYSYNC_HTTP_ADDR")?;
        let address = listener.local_addr()?;
        tracing::info!(%address, "HTTP listening");

        let pg = web::Data::new(pg);
        let redis = web::Data::new(redis);
        let jwt = web::Data::new(jwt);
        let admin = web::Data::new(AdminToken(settings.admin_token.clone()));
        let dependencies = web::Data::new(dependencies);
        let metrics = web::Data::new(crate::telemetry::metrics_handle());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::middleware::observe))
                .app_data(pg.clone())
                .app_data(redis.clone())
                .app_data(jwt.clone())
                .app_data(admin.clone())
                .app_data(dependencies.clone())
                .app_data(metrics.clone())
                .configure(http::configure)
        })
        .listen(listener)?
        .run();
        Ok(Self {
            port: address.port(),
            server,
            mqtt_task,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT (actix stops taking connections and drains requests).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.server.await;
        self.mqtt_task.abort();
        tracing::info!("server stopped");
        Ok(result?)
    }
}

/// A pool for short-lived commands (`provision-collar`) that need only PostgreSQL.
pub async fn pg_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(STORE_WAIT)
        .connect(settings.database_url.expose_secret())
        .await
        .context("connecting to PostgreSQL (PETTYSYNC_DATABASE_URL)")
}

async fn mongo_database(settings: &Settings) -> anyhow::Result<mongodb::Database> {
    let mut options = mongodb::options::ClientOptions::parse(settings.mongodb_url.expose_secret())
        .await
        .context("PETTYSYNC_MONGODB_URL")?;
    options.server_selection_timeout = Some(STORE_WAIT);
    options.app_name = Some("pettysync".to_owned());
    let client = mongodb::Client::with_options(options).context("PETTYSYNC_MONGODB_URL")?;
    Ok(client.database(&settings.mongodb_database()))
}

/// Region and credentials from the settings when given, else the AWS default chain.
async fn aws_config(settings: &Settings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.aws_region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let (Some(id), Some(secret)) = (&settings.aws_access_key_id, &settings.aws_secret_access_key)
    {
        let credentials = aws_sdk_s3::config::Credentials::new(
            id,
            secret.expose_secret(),
            None,
            None,
            "pettysync-settings",
        );
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

fn s3_client(aws: &aws_config::SdkConfig, settings: &Settings) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::config::Builder::from(aws);
    if let Some(endpoint) = &settings.s3_endpoint {
        // S3-compatible servers (MinIO, s3s-fs) want path-style bucket addressing.
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

fn sns_client(aws: &aws_config::SdkConfig, settings: &Settings) -> aws_sdk_sns::Client {
    let mut config = aws_sdk_sns::config::Builder::from(aws);
    if let Some(endpoint) = &settings.sns_endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_sns::Client::from_conf(config.build())
}
