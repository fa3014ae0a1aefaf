//! The lifecycle benchmark's set-up: the server on databases of its own, a user and pets,
//! samples stored as the persistence actor stores them, and a year of roll-ups for one pet.

use anyhow::Context as _;
use mongodb::bson::Document;
use pettysync::actors::persistence::SampleRecord;
use pettysync::domain::sample::{Activity, Fix, Sample};
use pettysync::ids::PetId;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::server::{isolated_settings, launch, serve};

/// Samples per MongoDB insert.
const INSERT_CHUNK: usize = 5_000;

pub(crate) struct Bench {
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    pub user: Uuid,
    pub pg: PgPool,
    pub mongo: mongodb::Database,
    /// The stores a roll-up pass reads history from.
    pub history: pettysync::store::history::History,
}

/// Starts the server on fresh databases (and a Redis prefix and MQTT identity of its own),
/// registers a user.
pub(crate) async fn start(run_id: &str) -> anyhow::Result<Bench> {
    let mut settings = isolated_settings("lifecycle", run_id)?;
    // The benchmark times its own pass: the scheduled one stays out of the way.
    settings.rollup_interval_s = 24 * 3600;
    let application = launch(&settings).await?;
    let base = serve(application, "lifecycle");
    let client = reqwest::Client::new();
    let body = json!({"email": format!("bench-{run_id}@example.com"), "password": "correct horse battery", "display_name": "Bench"});
    let auth: serde_json::Value = client
        .post(format!("{base}/v1/auth/register"))
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let token = auth["access_token"]
        .as_str()
        .context("register answers a token")?
        .to_owned();
    let user = auth["user"]["id"]
        .as_str()
        .context("register answers a user")?
        .parse()?;
    let pg = pettysync::startup::pg_pool(&settings).await?;
    let mongo = pettysync::startup::mongo_database(&settings).await?;
    let aws = pettysync::startup::aws_config(&settings).await;
    let history = pettysync::store::history::History {
        pg: pg.clone(),
        mongo: mongo.clone(),
        s3: pettysync::startup::s3_client(&aws, &settings),
        bucket: settings.s3_bucket.clone(),
    };
    Ok(Bench {
        base,
        client,
        token,
        user,
        pg,
        mongo,
        history,
    })
}

/// `count` pets of the bench user, inserted as `POST /v1/pets` inserts them.
pub(crate) async fn pets(bench: &Bench, count: usize) -> anyhow::Result<Vec<PetId>> {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    sqlx::query(
        "INSERT INTO pets (id, owner_id, name, species) SELECT id, $2, 'Bench', 'dog' FROM UNNEST($1::uuid[]) id",
    )
    .bind(&ids)
    .bind(bench.user)
    .execute(&bench.pg)
    .await?;
    Ok(ids.into_iter().map(PetId).collect())
}

/// `hours` hours of samples from `first_hour` for each pet, stored as the persistence actor
/// stores them; returns how many.
pub(crate) async fn samples(
    bench: &Bench,
    pets: &[PetId],
    first_hour: i64,
    hours: i64,
    per_hour: i64,
) -> anyhow::Result<usize> {
    let telemetry = bench.mongo.collection::<Document>("telemetry");
    let spacing = 3_600_000 / per_hour;
    let mut stored = 0;
    for (p, &pet) in pets.iter().enumerate() {
        let serial = format!("BENCH-{p:04}");
        let docs: Vec<Document> = (0..hours * per_hour)
            .map(|i| {
                let sample = Sample {
                    seq: i as u64,
                    ts_ms: first_hour + i * spacing,
                    fix: Some(Fix {
                        lat: 13.75 + (i % 50) as f64 * 1e-4,
                        lon: 100.5,
                        acc: Some(8.0),
                    }),
                    hr: Some(80 + (i % 40) as u16),
                    steps: Some((i % 100) as u32),
                    act: Some(Activity::ALL[(i % 5) as usize]),
                    bat: Some(80),
                    temp: Some(38.5),
                };
                SampleRecord::new(&serial, Some(pet), &sample, sample.ts_ms).doc
            })
            .collect();
        for chunk in docs.chunks(INSERT_CHUNK) {
            telemetry.insert_many(chunk.to_vec()).await?;
            stored += chunk.len();
        }
    }
    Ok(stored)
}

/// A year of quarter-hour roll-ups for `pet`, ending at the last UTC midnight; returns the
/// year's first millisecond.
pub(crate) async fn year_of_quarters(bench: &Bench, pet: PetId) -> anyhow::Result<i64> {
    let day_ms = 24 * 3_600_000;
    let end = chrono::Utc::now().timestamp_millis() / day_ms * day_ms;
    let start = end - 365 * day_ms;
    sqlx::query(
        "INSERT INTO pet_stats_quarter (pet_id, start_at, samples, hr_min, hr_max, hr_sum, hr_count,
                                        steps, distance_m, active_ms, rest_ms, sleep_ms)
         SELECT $1, q, 3, 70, 110, 270, 3, 120, 35.5, 300000, 300000, 300000
         FROM generate_series(to_timestamp($2 / 1000.0), to_timestamp($3 / 1000.0) - interval '15 minutes', interval '15 minutes') q
         ON CONFLICT DO NOTHING",
    )
    .bind(pet.0)
    .bind(start as f64)
    .bind(end as f64)
    .execute(&bench.pg)
    .await?;
    Ok(start)
}
