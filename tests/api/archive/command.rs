//! `pettysync archive [--dry-run]`: the binary runs one pass on the configured stores and
//! prints what it moved; a dry run moves nothing.

use secrecy::ExposeSecret;
use tokio::process::Command;

use super::*;
use crate::helpers::{spawn_app, unique_serial};

async fn archive_command(app: &TestApp, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_pettysync"))
        .arg("archive")
        .args(args)
        .env(
            "PETTYSYNC_DATABASE_URL",
            app.settings.database_url.expose_secret(),
        )
        .env(
            "PETTYSYNC_MONGODB_URL",
            app.settings.mongodb_url.expose_secret(),
        )
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("the command ends")
        .expect("the binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[actix_web::test]
async fn the_archive_command_moves_old_days_and_its_dry_run_only_says_what_would_move() {
    let app = spawn_app().await;
    let serial = unique_serial();
    let day = old_day(0);
    insert(
        &app,
        (1..=3)
            .map(|seq| sample(&serial, None, seq, at(day, seq)).1)
            .collect(),
    )
    .await;

    let dry = archive_command(&app, &["--dry-run"]).await;
    assert!(
        dry.contains(&format!("would archive {serial} {day}: 3 samples")),
        "{dry}"
    );
    assert_eq!(hot_count(&app, &serial).await, 3, "a dry run moves nothing");

    let moved = archive_command(&app, &[]).await;
    assert!(moved.contains("archived 1 objects, 3 samples"), "{moved}");
    assert_eq!(hot_count(&app, &serial).await, 0);
    assert_eq!(
        object_lines(&app, &object_key(&serial, day, 0))
            .await
            .map(|l| l.len()),
        Some(3)
    );
}
