//! The pages and their files as HTTP sees them (no browser needed): compiled into the
//! server, with a Content-Security-Policy that allows only the server and the tile host.

use reqwest::StatusCode;

use crate::helpers::{content_type, expect_json, expect_problem, spawn_app, spawn_app_with};

#[actix_web::test]
async fn the_pages_and_their_files_come_from_the_server_itself() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/s/any-token", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/share.js", "text/javascript"),
        ("/static/common.js", "text/javascript"),
        ("/static/moods.js", "text/javascript"),
        ("/static/style.css", "text/css"),
        ("/static/vendor/leaflet/leaflet.js", "text/javascript"),
        ("/static/vendor/leaflet/leaflet.css", "text/css"),
        ("/static/vendor/leaflet/LICENSE", "text/plain"),
        ("/static/vendor/leaflet/images/marker-icon.png", "image/png"),
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            content_type(response.headers()).starts_with(kind),
            "{path}: {:?}",
            response.headers().get("content-type")
        );
        let body = response.text().await.expect("the body can be read");
        assert!(
            !body.contains("://unpkg.com") && !body.contains("cdn."),
            "{path} loads nothing from a CDN"
        );
    }
    let missing = app.get("/static/nope.js", None).await;
    expect_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_page_allows_only_this_server_and_the_tile_host() {
    let app = spawn_app_with(|settings| {
        settings.map_tile_url = "https://tiles.example.net/{z}/{x}/{y}.png".to_string();
    })
    .await;
    let response = app.get("/s/some-token", None).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let policy = header("content-security-policy");
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(
        policy.contains("img-src 'self' data: https://tiles.example.net;"),
        "{policy}"
    );
    assert_eq!(
        header("referrer-policy"),
        "no-referrer",
        "the token never leaks"
    );
    // WebSockets to this server only ('self' covers ws: and wss: of the same host).
    let connect = policy
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("connect-src"))
        .unwrap_or_default();
    assert_eq!(connect, "connect-src 'self'", "{policy}");

    let config = expect_json(app.get("/web-config.json", None).await, StatusCode::OK).await;
    assert_eq!(
        config["tile_url"],
        "https://tiles.example.net/{z}/{x}/{y}.png"
    );
}

#[actix_web::test]
async fn an_unchanged_file_is_not_sent_again() {
    let app = spawn_app().await;
    let first = app.get("/static/share.js", None).await;
    let etag = first
        .headers()
        .get("etag")
        .expect("a file has an ETag")
        .clone();
    let again = app
        .client
        .get(app.url("/static/share.js"))
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}
