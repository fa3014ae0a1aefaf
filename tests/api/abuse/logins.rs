//! Sign-in under pressure: a burst of logins, parallel guesses, one address's budget.

use futures_util::future::join_all;
use reqwest::StatusCode;

use super::{expect_rate_limited, login_as};
use crate::helpers::{expect_field_error, spawn_app_with, unique_email, PASSWORD};

/// Hashes the test server runs at once in the burst test.
const HASHES_AT_ONCE: usize = 4;
/// Memory one Argon2id hash holds (the library's default parameters).
const MIB_PER_HASH: u64 = 19;

/// A field of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Sets the process's peak RSS (`VmHWM`) back to its current RSS; false where the kernel
/// does not allow it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[actix_web::test]
async fn two_hundred_parallel_logins_are_served_with_bounded_memory() {
    let app = spawn_app_with(|settings| {
        settings.password_hash_concurrency = Some(HASHES_AT_ONCE);
        // Every request comes from 127.0.0.1: this test is about memory, not that budget.
        settings.auth_attempts_per_minute = 10_000;
    })
    .await;
    // 40 accounts × 5 logins: within the per-email limit of 5 attempts in flight.
    let emails: Vec<String> = (0..40).map(|_| unique_email()).collect();
    for email in &emails {
        app.register(email).await;
    }

    let peak_reset = reset_peak_rss();
    let before = proc_status_kib("VmRSS");
    let started = std::time::Instant::now();
    let logins = emails
        .iter()
        .cycle()
        .take(200)
        .map(|email| login_as(&app, email, PASSWORD, None));
    let statuses: Vec<StatusCode> = join_all(logins)
        .await
        .into_iter()
        .map(|response| response.status())
        .collect();
    let elapsed = started.elapsed();
    let (after, peak) = (proc_status_kib("VmRSS"), proc_status_kib("VmHWM"));

    let growth_mib = |kib: u64| kib.saturating_sub(before) as f64 / 1024.0;
    println!(
        "200 parallel logins, {HASHES_AT_ONCE} hashes at once, in {elapsed:.1?}: VmRSS {} → {} MiB \
         (+{:.0} MiB), peak {} (+{:.0} MiB; peak {})",
        before / 1024,
        after / 1024,
        growth_mib(after),
        peak / 1024,
        growth_mib(peak),
        if peak_reset { "reset before the burst" } else { "since the process started" },
    );
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 200, "every login is served: {statuses:?}");
    // Uncapped, the burst holds up to 200 × 19 MiB (3.7 GiB) at once. Capped, it holds
    // 4 × 19 MiB; the bound leaves room for allocator slack and tests running beside it.
    let bound_mib = 1024;
    assert!(HASHES_AT_ONCE as u64 * MIB_PER_HASH * 4 < bound_mib);
    if peak_reset {
        assert!(
            growth_mib(peak) < bound_mib as f64,
            "the peak grew by {:.0} MiB",
            growth_mib(peak)
        );
    }
}

#[actix_web::test]
async fn parallel_wrong_passwords_for_one_email_get_exactly_five_tries() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.register(&unique_email()).await;

    let passwords: Vec<String> = (0..20).map(|i| format!("guess number {i}")).collect();
    let guesses = passwords
        .iter()
        .map(|password| login_as(&app, &user.email, password, None));
    let statuses: Vec<StatusCode> = join_all(guesses)
        .await
        .into_iter()
        .map(|response| response.status())
        .collect();

    let tried = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((tried, refused), (5, 15), "{statuses:?}");
    // The right password is refused too until the window ends.
    let response = login_as(&app, &user.email, PASSWORD, None).await;
    expect_rate_limited(response, 15 * 60).await;
}

#[actix_web::test]
async fn an_email_longer_than_254_characters_is_refused_before_any_limit() {
    let app = spawn_app_with(|_| {}).await;
    let email = format!("{}@example.com", "a".repeat(243));

    let response = login_as(&app, &email, PASSWORD, None).await;
    expect_field_error(response, "email").await;
    // Just within the limit it is an ordinary failed login.
    let email = format!("{}@example.com", "a".repeat(242));
    let response = login_as(&app, &email, PASSWORD, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
