//! The server under test (its own databases, Redis prefix and MQTT identity), an owner with
//! a pet, and the samples: `COLLARS` collars over the 30 days from 45 to 15 days ago (half
//! of it past the 30-day hot window), written into MongoDB as persistence writes them. The
//! pet wears collar 0.

use anyhow::Context as _;
use chrono::Utc;
use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
use pettysync::actors::archival::ArchiveStores;
use pettysync::config::Settings;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::server::{isolated_settings, launch, serve};

/// Collars the samples are spread over.
pub const COLLARS: u64 = 10;
/// Documents per `insertMany`.
const INSERT_BATCH: usize = 1_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// The samples span these days ago.
const OLDEST_DAYS_AGO: i64 = 45;
const NEWEST_DAYS_AGO: i64 = 15;

pub struct Bench {
    pub settings: Settings,
    pub stores: ArchiveStores,
    base: String,
    client: reqwest::Client,
    token: String,
    pet: String,
}

impl Bench {
    /// The pet's track over the 30 days of samples, at most 10 000 points.
    pub async fn track_30_days(&self) -> anyhow::Result<Value> {
        let now = Utc::now().timestamp_millis();
        let (from, to) = (
            now - OLDEST_DAYS_AGO * DAY_MS,
            now - NEWEST_DAYS_AGO * DAY_MS,
        );
        let url = format!(
            "{}/v1/pets/{}/track?from={from}&to={to}&max_points=10000",
            self.base, self.pet
        );
        let response = self.client.get(url).bearer_auth(&self.token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "track answered {}",
            response.status()
        );
        Ok(response.json().await?)
    }
}

pub async fn start(samples: u64) -> anyhow::Result<Bench> {
    let run_id = Uuid::new_v4().simple().to_string();
    let settings = isolated_settings("archive", &run_id)?;
    let application = launch(&settings).await?;
    let base = serve(application, "archive");
    let client = reqwest::Client::new();
    let auth: Value = client
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"email": format!("bench-{run_id}@example.com"), "password": "correct horse battery", "display_name": "Bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = auth["access_token"].as_str().context("a token")?.to_owned();
    let pet: Value = client
        .post(format!("{base}/v1/pets"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench", "species": "dog"}))
        .send()
        .await?
        .json()
        .await?;
    let pet = pet["id"].as_str().context("a pet id")?.to_owned();
    let aws = pettysync::startup::aws_config(&settings).await;
    let stores = ArchiveStores {
        pg: sqlx::PgPool::connect(settings.database_url.expose_secret()).await?,
        mongo: pettysync::startup::mongo_database(&settings).await?,
        s3: pettysync::startup::s3_client(&aws, &settings),
    };
    write_samples(&stores.mongo, &run_id, &pet, samples).await?;
    Ok(Bench {
        settings,
        stores,
        base,
        client,
        token,
        pet,
    })
}

/// Writes `samples` documents spread evenly over the collars and the 30 days.
async fn write_samples(
    mongo: &mongodb::Database,
    run_id: &str,
    pet: &str,
    samples: u64,
) -> anyhow::Result<()> {
    let telemetry = mongo.collection::<Document>("telemetry");
    let per_collar = samples / COLLARS;
    let span = (OLDEST_DAYS_AGO - NEWEST_DAYS_AGO) * DAY_MS;
    let oldest = Utc::now().timestamp_millis() - OLDEST_DAYS_AGO * DAY_MS;
    let step = span / per_collar.max(1) as i64;
    let started = std::time::Instant::now();
    let mut batch = Vec::with_capacity(INSERT_BATCH);
    for collar in 0..COLLARS {
        let serial = format!("BENCH-{}-{collar:02}", &run_id[..8]);
        let pet = if collar == 0 {
            Bson::String(pet.to_owned())
        } else {
            Bson::Null
        };
        for seq in 0..per_collar as i64 {
            let ts = oldest + seq * step;
            batch.push(doc! {
                "at": BsonDateTime::from_millis(ts),
                "meta": { "collar": &serial, "pet": pet.clone() },
                "seq": seq,
                "received_at": BsonDateTime::from_millis(ts + 800),
                "lat": 13.75 + (seq % 1000) as f64 * 1e-5, "lon": 100.5 + (seq % 777) as f64 * 1e-5,
                "acc": 6.0 + (seq % 9) as f64,
                "hr": Bson::Int32(80 + (seq % 40) as i32), "steps": seq % 50, "act": "walk",
                "bat": Bson::Int32(90 - (seq % 80) as i32), "temp": 38.4,
            });
            if batch.len() == INSERT_BATCH {
                telemetry.insert_many(std::mem::take(&mut batch)).await?;
            }
        }
    }
    if !batch.is_empty() {
        telemetry.insert_many(batch).await?;
    }
    println!(
        "set-up: {} samples written to MongoDB in {:.1} s",
        per_collar * COLLARS,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
