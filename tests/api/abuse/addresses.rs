//! The client address every per-address limit counts under: the TCP peer, or behind a
//! trusted proxy the right-most untrusted `X-Forwarded-For` entry, IPv6 by its /64. The
//! server under test is reached over loopback, so 127.0.0.1 plays the proxy.

use reqwest::StatusCode;
use serde_json::json;

use super::{expect_rate_limited, login_as};
use crate::helpers::{expect_status, spawn_app_with, string_at, unique_email, TestApp, PASSWORD};

/// A server whose per-address budget is three attempts a minute.
async fn app_with_budget_of_three(trusted_proxies: &str) -> TestApp {
    let trusted = pettysync::config::TrustedProxies::parse(trusted_proxies).expect("a valid list");
    spawn_app_with(|settings| {
        settings.auth_attempts_per_minute = 3;
        settings.trusted_proxies = trusted;
    })
    .await
}

#[actix_web::test]
async fn one_address_gets_a_budget_of_register_and_login_attempts() {
    let app = app_with_budget_of_three("").await;

    for _ in 0..3 {
        let response = login_as(&app, &unique_email(), PASSWORD, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_as(&app, &unique_email(), PASSWORD, None).await;
    expect_rate_limited(response, 60).await;
    // Registering shares the budget: a fresh account cannot be made either.
    let body = json!({"email": unique_email(), "password": PASSWORD, "display_name": "Tester"});
    let response = app.post("/v1/auth/register", None, &body).await;
    expect_rate_limited(response, 60).await;
}

#[actix_web::test]
async fn registering_alone_is_limited_per_address_too() {
    let app = app_with_budget_of_three("").await;

    for _ in 0..3 {
        app.register(&unique_email()).await;
    }
    let body = json!({"email": unique_email(), "password": PASSWORD, "display_name": "Tester"});
    let response = app.post("/v1/auth/register", None, &body).await;
    expect_rate_limited(response, 60).await;
}

#[actix_web::test]
async fn an_untrusted_client_cannot_escape_its_budget_with_x_forwarded_for() {
    let app = app_with_budget_of_three("").await;

    for i in 0..3 {
        let claimed = format!("198.51.100.{i}");
        let response = login_as(&app, &unique_email(), PASSWORD, Some(&claimed)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_as(&app, &unique_email(), PASSWORD, Some("198.51.100.99")).await;
    expect_rate_limited(response, 60).await;
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = app_with_budget_of_three("127.0.0.1/32").await;

    for _ in 0..3 {
        let response = login_as(&app, &unique_email(), PASSWORD, Some("198.51.100.7")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_as(&app, &unique_email(), PASSWORD, Some("198.51.100.7")).await;
    expect_rate_limited(response, 60).await;
    // What the client itself wrote left of the proxy's entry does not matter.
    let forged = "192.0.2.1, 198.51.100.7";
    let response = login_as(&app, &unique_email(), PASSWORD, Some(forged)).await;
    expect_rate_limited(response, 60).await;

    let response = login_as(&app, &unique_email(), PASSWORD, Some("198.51.100.8")).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "another client"
    );
}

#[actix_web::test]
async fn ipv6_clients_behind_a_trusted_proxy_share_a_budget_per_slash_64() {
    let app = app_with_budget_of_three("127.0.0.1").await;

    for address in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
    ] {
        let response = login_as(&app, &unique_email(), PASSWORD, Some(address)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{address}");
    }
    let response = login_as(&app, &unique_email(), PASSWORD, Some("2001:db8:1:2::9")).await;
    expect_rate_limited(response, 60).await;

    let next_subnet = "2001:db8:1:3::1";
    let response = login_as(&app, &unique_email(), PASSWORD, Some(next_subnet)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "another /64");
}

#[actix_web::test]
async fn share_token_lookups_count_per_forwarded_client_behind_a_trusted_proxy() {
    let app = app_with_budget_of_three("127.0.0.1").await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let link = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let token = string_at(&link, "/token");
    let lookup = |token: String, client: &'static str| {
        let request = app.client.get(app.url(&format!("/v1/share/{token}")));
        async move {
            request
                .header("X-Forwarded-For", client)
                .send()
                .await
                .expect("the server answers")
        }
    };

    // The share route's own limit: 30 failed lookups a minute per client.
    for _ in 0..30 {
        let response = lookup(format!("wrong-{}", unique_email()), "198.51.100.7").await;
        expect_status(response, StatusCode::NOT_FOUND).await;
    }
    expect_rate_limited(lookup(token.clone(), "198.51.100.7").await, 60).await;
    let other_client = lookup(token, "198.51.100.8").await;
    expect_status(other_client, StatusCode::OK).await;
}
