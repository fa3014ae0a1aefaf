//! Liveness, readiness, metrics and the API documentation.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    content_type, expect_json, expect_status, poll_until, read, spawn_app, spawn_app_with, TestApp,
};

const DEPENDENCIES: [&str; 6] = ["postgres", "mongodb", "redis", "mqtt", "s3", "sns"];

/// Polls `/readyz` until it answers `status` with a body `accept` likes; returns that body.
async fn readyz_until(app: &TestApp, status: StatusCode, accept: impl Fn(&Value) -> bool) -> Value {
    let accept = &accept;
    poll_until(
        "/readyz to settle",
        Duration::from_secs(30),
        || async move {
            let (actual, _, text) = read(app.get("/readyz", None).await).await;
            match serde_json::from_str::<Value>(&text) {
                Ok(body) if actual == status && accept(&body) => Ok(body),
                _ => Err(format!("{actual}: {text}")),
            }
        },
    )
    .await
}

#[actix_web::test]
async fn healthz_answers_ok_with_a_request_id() {
    let app = spawn_app().await;

    let response = app.get("/healthz", None).await;
    assert!(response.headers().contains_key("x-request-id"));
    expect_status(response, StatusCode::OK).await;
}

#[actix_web::test]
async fn readyz_is_ready_when_every_dependency_is_up() {
    let app = spawn_app().await;

    let body = readyz_until(&app, StatusCode::OK, |_| true).await;
    assert_eq!(body["status"], "ready", "{body}");
    for dependency in DEPENDENCIES {
        assert_eq!(body["checks"][dependency], "ok", "{dependency} in {body}");
    }
}

/// Two nodes on the same stores see each other in `/readyz`, each naming itself.
#[actix_web::test]
async fn readyz_names_the_node_and_the_cluster_members_it_sees() {
    let isolation = crate::helpers::Isolation::new();
    let node = |id: &str| {
        isolation.settings(|s| {
            s.node_id = Some(id.to_owned());
            s.node_ttl_s = 2;
        })
    };
    pettysync::migrate::run(&node("node-a"))
        .await
        .expect("migrations apply to a fresh database");
    let a = crate::helpers::spawn_app_on(&isolation, node("node-a")).await;
    let _b = crate::helpers::spawn_app_on(&isolation, node("node-b")).await;

    let body = readyz_until(&a, StatusCode::OK, |body| {
        body["members"] == serde_json::json!(["node-a", "node-b"])
    })
    .await;
    assert_eq!(body["node"], "node-a", "{body}");
}

#[actix_web::test]
async fn readyz_names_redis_when_it_is_down() {
    let app = spawn_app_with(|settings| {
        settings.redis_url = "redis://127.0.0.1:1/0".to_string().into();
    })
    .await;

    let body = readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE, |body| {
        body["checks"]["redis"].is_string() && body["checks"]["redis"] != "ok"
    })
    .await;
    assert_ne!(body["status"], "ready", "{body}");
    assert_eq!(
        body["checks"]["postgres"], "ok",
        "only the broken dependency fails: {body}"
    );
}

#[actix_web::test]
async fn readyz_names_the_broker_when_it_is_down() {
    let app = spawn_app_with(|settings| {
        settings.mqtt_url = "mqtt://127.0.0.1:1?client_id=pettysync-test-down"
            .to_string()
            .into();
    })
    .await;

    let body = readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE, |body| {
        body["checks"]["mqtt"].is_string() && body["checks"]["mqtt"] != "ok"
    })
    .await;
    assert_eq!(
        body["checks"]["redis"], "ok",
        "only the broken dependency fails: {body}"
    );
}

/// A stand-in SNS endpoint that answers `ListPlatformApplications` (what `/readyz` asks)
/// and counts the calls; `down` makes it answer 500.
#[derive(Clone, Default)]
struct FakeSns {
    probes: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

const LIST_PLATFORM_APPLICATIONS: &str = r#"<ListPlatformApplicationsResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <ListPlatformApplicationsResult><PlatformApplications/></ListPlatformApplicationsResult>
  <ResponseMetadata><RequestId>fake-sns</RequestId></ResponseMetadata>
</ListPlatformApplicationsResponse>"#;

impl FakeSns {
    /// Serves on a free loopback port; returns the endpoint URL.
    fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let fake = self.clone();
        let server = HttpServer::new(move || {
            let fake = fake.clone();
            App::new().default_service(web::to(move |body: web::Bytes| {
                let fake = fake.clone();
                async move {
                    if !String::from_utf8_lossy(&body).contains("Action=ListPlatformApplications") {
                        return HttpResponse::BadRequest().finish();
                    }
                    fake.probes.fetch_add(1, Ordering::SeqCst);
                    if fake.down.load(Ordering::SeqCst) {
                        return HttpResponse::InternalServerError().finish();
                    }
                    HttpResponse::Ok()
                        .content_type("text/xml")
                        .body(LIST_PLATFORM_APPLICATIONS)
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("the fake SNS listens")
        .run();
        actix_web::rt::spawn(server);
        url
    }
}

#[actix_web::test]
async fn a_flood_of_readyz_probes_the_dependencies_once_per_few_seconds() {
    let sns = FakeSns::default();
    let endpoint = sns.start();
    let app = spawn_app_with(|settings| settings.sns_endpoint = Some(endpoint)).await;
    readyz_until(&app, StatusCode::OK, |_| true).await;

    let before = sns.probes.load(Ordering::SeqCst);
    let answers = join_all((0..50).map(|_| app.get("/readyz", None))).await;
    let probes = sns.probes.load(Ordering::SeqCst) - before;
    let ready = answers
        .iter()
        .filter(|a| a.status() == StatusCode::OK)
        .count();
    assert_eq!(ready, 50, "every answer is the (cached) ready one");
    // One refresh at most, two if the burst straddles the end of the cache's lifetime.
    assert!(probes <= 2, "50 calls probed SNS {probes} times");

    // The cache does expire: a dependency that fails is reported within seconds.
    sns.down.store(true, Ordering::SeqCst);
    let body = readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE, |body| {
        body["checks"]["sns"] == "unreachable"
    })
    .await;
    assert_eq!(body["checks"]["postgres"], "ok", "{body}");
}

#[actix_web::test]
async fn metrics_count_http_requests() {
    let app = spawn_app().await;
    expect_status(app.get("/healthz", None).await, StatusCode::OK).await;

    let metrics = expect_status(app.get("/metrics", None).await, StatusCode::OK).await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}

#[actix_web::test]
async fn the_openapi_document_is_3_1_and_describes_pets() {
    let app = spawn_app().await;

    let document = expect_json(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "openapi: {version:?}");
    assert!(
        document["paths"]["/v1/pets"].is_object(),
        "no /v1/pets in the paths"
    );
}

#[actix_web::test]
async fn the_docs_page_loads_every_asset_from_the_server_itself() {
    let app = spawn_app().await;

    let (status, headers, html) = read(app.get("/docs/", None).await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        content_type(&headers).starts_with("text/html"),
        "{headers:?}"
    );
    let assets = asset_references(&html);
    assert!(!assets.is_empty(), "the docs page loads scripts: {html}");
    for asset in assets {
        assert!(
            !asset.starts_with("http://")
                && !asset.starts_with("https://")
                && !asset.starts_with("//"),
            "the docs page loads {asset} from elsewhere: it must work offline"
        );
        let url = url::Url::parse(&app.url("/docs/"))
            .and_then(|base| base.join(&asset))
            .expect("an asset reference is a relative URL");
        let response = app
            .client
            .get(url)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::OK, "asset {asset}");
    }
}

#[actix_web::test]
async fn docs_without_a_trailing_slash_redirects_or_serves() {
    let app = spawn_app().await;

    let response = app.get("/docs", None).await;
    let status = response.status();
    if status.is_redirection() {
        let location = response.headers()["location"].to_str().unwrap_or_default();
        assert!(location.ends_with("/docs/"), "redirects to {location}");
    } else {
        assert_eq!(status, StatusCode::OK);
    }
}

/// The `src` of every `<script>` and the `href` of every `<link>` in a page.
fn asset_references(html: &str) -> Vec<String> {
    html.split('<')
        .filter_map(|tag| {
            let attribute = if tag.starts_with("script") {
                "src="
            } else if tag.starts_with("link") {
                "href="
            } else {
                return None;
            };
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            let value = &tag[tag.find(attribute)? + attribute.len()..];
            let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let value = &value[1..];
            Some(value[..value.find(quote)?].to_string())
        })
        .collect()
}
