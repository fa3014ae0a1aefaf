//! The `pettysync` binary: usage, `migrate`, `provision-collar`, bad settings, and
//! `simulate --backfill-days`.

use std::process::Output;
use std::time::Duration;

use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use pettysync::config::Settings;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::Connection;
use tokio::process::Command;

use crate::helpers::{
    expect_json, expect_status, poll_until, spawn_app, string_at, unique_serial, unique_suffix,
    Isolation,
};

/// The binary under test, with its output captured and killed if the test drops it.
fn pettysync(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pettysync"));
    command.args(args).kill_on_drop(true);
    command
}

/// Runs a command to completion, or fails the test if it outlives `timeout`.
async fn run(mut command: Command, timeout: Duration) -> Output {
    tokio::time::timeout(timeout, command.output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} still runs after {timeout:?}"))
        .expect("the binary starts")
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Fresh PostgreSQL and MongoDB databases no test uses, as the binary's environment.
struct FreshDatabases {
    database_url: String,
    mongodb_url: String,
}

impl FreshDatabases {
    fn new() -> FreshDatabases {
        let base = Settings::load().expect("the test environment's settings load");
        let isolation = Isolation::new();
        FreshDatabases {
            database_url: isolation.database_url(&base),
            mongodb_url: isolation.mongodb_url(&base),
        }
    }

    fn apply(&self, mut command: Command) -> Command {
        command
            .env("PETTYSYNC_DATABASE_URL", &self.database_url)
            .env("PETTYSYNC_MONGODB_URL", &self.mongodb_url);
        command
    }
}

#[actix_web::test]
async fn help_exits_zero_and_lists_the_commands() {
    let output = run(pettysync(&["--help"]), Duration::from_secs(30)).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let usage = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "provision-collar"] {
        assert!(usage.contains(command), "usage lacks {command}: {usage}");
    }
}

#[actix_web::test]
async fn migrating_twice_is_harmless() {
    let databases = FreshDatabases::new();
    for run_number in 1..=2 {
        let output = run(
            databases.apply(pettysync(&["migrate"])),
            Duration::from_secs(120),
        )
        .await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "run {run_number}: {}",
            describe(&output)
        );
    }

    let mut connection = sqlx::PgConnection::connect(&databases.database_url)
        .await
        .expect("migrate created the database");
    for table in ["public.users", "public.pets"] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&mut connection)
            .await
            .expect("the catalogue can be queried");
        assert!(exists, "migrate created {table}");
    }
}

#[actix_web::test]
async fn a_bad_setting_exits_2_and_names_it() {
    let mut command = FreshDatabases::new().apply(pettysync(&["migrate"]));
    command.env("PETTYSYNC_HOT_RETENTION_DAYS", "abc");

    let output = run(command, Duration::from_secs(60)).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PETTYSYNC_HOT_RETENTION_DAYS"), "{stderr}");
}

#[actix_web::test]
async fn serving_without_a_jwt_secret_exits_2_and_names_it() {
    let mut command = FreshDatabases::new().apply(pettysync(&["serve"]));
    command
        .env_remove("PETTYSYNC_JWT_SECRET")
        .env("PETTYSYNC_HTTP_ADDR", "127.0.0.1:0");

    let output = run(command, Duration::from_secs(60)).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PETTYSYNC_JWT_SECRET"), "{stderr}");
}

#[actix_web::test]
async fn a_collar_provisioned_from_the_command_line_can_be_paired() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let serial = unique_serial();

    let mut command = pettysync(&["provision-collar", &serial]);
    command
        .env(
            "PETTYSYNC_DATABASE_URL",
            app.settings.database_url.expose_secret(),
        )
        .env(
            "PETTYSYNC_MONGODB_URL",
            app.settings.mongodb_url.expose_secret(),
        )
        .env("PETTYSYNC_REDIS_PREFIX", &app.settings.redis_prefix);
    let output = run(command, Duration::from_secs(60)).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let code = pairing_code(&String::from_utf8_lossy(&output.stdout));
    let pairing = app.pair_collar(&owner, &pet_id, &serial, &code).await;
    expect_status(pairing, StatusCode::OK).await;
}

/// The pairing code in `provision-collar`'s output: a JSON object's `pairing_code`, or the
/// last word printed.
fn pairing_code(stdout: &str) -> String {
    let stdout = stdout.trim();
    if let Ok(printed) = serde_json::from_str::<Value>(stdout) {
        return string_at(&printed, "/pairing_code");
    }
    stdout
        .split_whitespace()
        .last()
        .unwrap_or_else(|| panic!("provision-collar printed no code: {stdout:?}"))
        .to_string()
}

#[actix_web::test]
async fn a_backfill_of_one_day_stores_a_day_of_samples_per_collar_before_going_live() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let prefix = format!("BF{}-", unique_suffix());
    let mut pets = Vec::new();
    for i in 1..=2 {
        let serial = format!("{prefix}{i:04}");
        let pet_id = string_at(&app.create_pet(&owner, &format!("Rex {i}")).await, "/id");
        let code = app.provision_collar(&serial).await;
        expect_json(
            app.pair_collar(&owner, &pet_id, &serial, &code).await,
            StatusCode::OK,
        )
        .await;
        pets.push((serial, pet_id));
    }

    // A sample every 300 s for a day, ending before the run started: 288 per collar. The
    // live interval is an hour, and live samples are newer than the start anyway.
    let started_ms = chrono::Utc::now().timestamp_millis();
    let broker = app.settings.mqtt_url.expose_secret().to_owned();
    let mut simulate = pettysync(&[
        "simulate",
        "--collars",
        "2",
        "--broker",
        &broker,
        "--topic-prefix",
        &app.settings.mqtt_topic_prefix,
        "--serial-prefix",
        &prefix,
        "--interval-s",
        "3600",
        "--backfill-days",
        "1",
        "--seconds",
        "300",
        "--no-progress",
    ]);
    let child = simulate
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the simulator starts");

    let telemetry = app.mongo().await.collection::<Document>("telemetry");
    let past_day = doc! {
        "$gte": BsonDateTime::from_millis(started_ms - 86_400_000),
        "$lt": BsonDateTime::from_millis(started_ms),
    };
    for (serial, pet_id) in &pets {
        let filter = doc! {"meta.collar": serial, "meta.pet": pet_id, "at": past_day.clone()};
        let telemetry = &telemetry;
        poll_until(
            &format!("a day of {serial}'s history stored"),
            Duration::from_secs(120),
            || {
                let filter = filter.clone();
                async move {
                    let stored = telemetry
                        .count_documents(filter)
                        .await
                        .map_err(|e| e.to_string())?;
                    if stored == 288 {
                        Ok(())
                    } else {
                        Err(format!("{stored} stored"))
                    }
                }
            },
        )
        .await;
    }
    let older = doc! {"at": {"$lt": BsonDateTime::from_millis(started_ms - 86_400_000)}};
    assert_eq!(
        telemetry.count_documents(older).await.unwrap(),
        0,
        "nothing older than a day"
    );
    drop(child);
}
