//! Abuse resistance: what a hostile client (or a flood of honest ones) cannot do.
//!
//! - here: the admin token is as strong as the JWT key.

use std::time::Duration;

use tokio::process::Command;

#[actix_web::test]
async fn a_short_admin_token_exits_2_and_names_it() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pettysync"));
    command
        .arg("migrate")
        .kill_on_drop(true)
        .env("PETTYSYNC_ADMIN_TOKEN", "x".repeat(31))
        // Never reached with the check in place; unreachable without it, so no test data.
        .env(
            "PETTYSYNC_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .env("PETTYSYNC_MONGODB_URL", "mongodb://127.0.0.1:1/none");

    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("migrate ends within a minute")
        .expect("the binary starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("PETTYSYNC_ADMIN_TOKEN"), "{stderr}");
}
