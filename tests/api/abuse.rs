//! Abuse resistance: what a hostile client (or a flood of honest ones) cannot do.
//!
//! - `logins`: password hashing under a burst (memory bounded), the per-email login limit
//!   under parallel guesses, the per-address register and login budget;
//! - `addresses`: the client address behind trusted proxies (`X-Forwarded-For`, IPv6 /64);
//! - `request_log`: share tokens never reach the request logs;
//! - here: the admin token is as strong as the JWT key.

mod addresses;
mod logins;
mod request_log;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Command;

use crate::helpers::{expect_problem, TestApp};

/// `POST /v1/auth/login` for `email`, through a proxy that saw the client as `forwarded_for`
/// when given.
pub async fn login_as(
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.expect("the server answers")
}

/// Checks a 429 `rate_limited` answer with a `Retry-After` of at most `window_s`.
pub async fn expect_rate_limited(response: reqwest::Response, window_s: u64) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| (1..=window_s).contains(&s)),
        "a 429 says when to retry, within {window_s} s: {retry_after:?}"
    );
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

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
