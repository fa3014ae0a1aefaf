//! Share tokens are credentials: the request span logs the route pattern of a share route,
//! never its raw path. The test captures every field that PettySync's `http` spans record,
//! through a global subscriber layer installed once for the test binary.

use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};

use reqwest::StatusCode;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{filter, Layer};

use crate::helpers::{expect_json, expect_status, spawn_app, string_at};

/// Every `name=value` recorded on an `http` span since the layer was installed.
static RECORDED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Writes the fields of `http` spans into [`RECORDED`].
struct SpanFields;

struct Collect(Vec<String>);

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: Subscriber> Layer<S> for SpanFields {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        if attrs.metadata().name() == "http" {
            let mut fields = Collect(Vec::new());
            attrs.record(&mut fields);
            keep(fields.0);
        }
    }

    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut fields = Collect(Vec::new());
        values.record(&mut fields);
        keep(fields.0);
    }
}

fn keep(fields: Vec<String>) {
    RECORDED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .extend(fields);
}

/// Installs the capturing layer as the process's subscriber, once. Only PettySync's own
/// spans at INFO and above are enabled, so the other tests' dependencies stay quiet.
fn capture_span_fields() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let only_ours = filter::filter_fn(|meta| {
            meta.target().starts_with("pettysync") && *meta.level() <= tracing::Level::INFO
        });
        let subscriber = tracing_subscriber::registry().with(SpanFields.with_filter(only_ours));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test installs a global subscriber");
    });
}

fn recorded_mentioning(text: &str) -> Vec<String> {
    RECORDED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .filter(|field| field.contains(text))
        .cloned()
        .collect()
}

#[actix_web::test]
async fn a_share_token_never_appears_in_the_request_log() {
    capture_span_fields();
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let link = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let token = string_at(&link, "/token");

    expect_json(app.shared(&token).await, StatusCode::OK).await;
    expect_status(app.get(&format!("/s/{token}"), None).await, StatusCode::OK).await;
    // Not a WebSocket handshake: refused after the token is looked up.
    let ws = app.get(&format!("/v1/share/{token}/ws"), None).await;
    expect_status(ws, StatusCode::BAD_REQUEST).await;
    let typo = app.get(&format!("/v1/share/{token}/nope"), None).await;
    expect_status(typo, StatusCode::NOT_FOUND).await;

    let leaks = recorded_mentioning(&token);
    assert!(leaks.is_empty(), "the token reached the log: {leaks:?}");
    for route in ["/v1/share/{token}", "/v1/share/{token}/ws", "/s/{token}"] {
        let logged = recorded_mentioning(&format!("route={route}"));
        assert!(!logged.is_empty(), "the span names the route {route}");
    }
    // Other routes keep their path, ids and all.
    let pet_path = format!("path=/v1/pets/{pet_id}/share-links");
    assert!(!recorded_mentioning(&pet_path).is_empty(), "{pet_path}");
}
