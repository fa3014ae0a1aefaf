//! `PETTYSYNC_MOOD_ENDPOINT`: a real HTTP inference server on a loopback port (an actix-web
//! app in the test) answers the clips while it works, and the built-in model answers when it
//! fails.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pettysync::mood::Mood;
use reqwest::StatusCode;

use super::Lab;
use crate::helpers::{expect_json, expect_status};

/// The inference server's state: what it was sent, and whether it is down.
#[derive(Default)]
struct Inference {
    wavs: AtomicUsize,
    other: AtomicUsize,
    failing: AtomicBool,
}

async fn invocations(
    state: web::Data<Inference>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let is_wav = request
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "audio/wav")
        && body.starts_with(b"RIFF");
    let count = if is_wav { &state.wavs } else { &state.other };
    count.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().body("model unloaded");
    }
    HttpResponse::Ok().json(serde_json::json!({"mood": "happy", "confidence": 0.9}))
}

/// Starts the inference server on a free loopback port; returns its state and URL.
fn inference_server() -> (web::Data<Inference>, String) {
    let state = web::Data::new(Inference::default());
    let shared = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/invocations", web::post().to(invocations))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("a loopback port");
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    (state, format!("http://127.0.0.1:{port}/invocations"))
}

#[actix_web::test]
async fn the_endpoint_answers_while_it_works_and_the_built_in_model_when_it_fails() {
    let (inference, url) = inference_server();
    let (lab, model) = Lab::start(|s| s.mood_endpoint = Some(url)).await;
    let pet = lab.pet().await;

    let answered = lab.clip(&pet, 800, Mood::Sad, 0).await;
    let stored = lab.classified(&[answered]).await;
    assert_eq!(
        (
            stored[0].mood.as_str(),
            stored[0].classifier.as_str(),
            stored[0].model_version
        ),
        ("happy", "external", None),
        "the endpoint's answer"
    );
    assert_eq!(inference.wavs.load(Ordering::SeqCst), 1);
    assert_eq!(inference.other.load(Ordering::SeqCst), 0);
    let response = lab
        .app
        .get(&format!("/v1/pets/{pet}/moods"), lab.owner.bearer())
        .await;
    let body = expect_json(response, StatusCode::OK).await;
    assert_eq!(body["items"][0]["model_version"], serde_json::Value::Null);
    assert_eq!(body["items"][0]["classifier"], "external");
    assert_eq!(body["items"][0]["confidence"], 0.9);

    inference.failing.store(true, Ordering::SeqCst);
    let fallen_back = lab.clip(&pet, 800, Mood::Angry, 1).await;
    let stored = lab.classified(&[fallen_back]).await;
    assert_eq!(
        (
            stored[0].mood.as_str(),
            stored[0].classifier.as_str(),
            stored[0].model_version
        ),
        ("angry", "model", Some(model)),
        "the built-in model's answer"
    );
    assert_eq!(inference.wavs.load(Ordering::SeqCst), 2, "it was asked");
    let metrics = expect_status(lab.app.get("/metrics", None).await, StatusCode::OK).await;
    assert!(
        metrics.contains("pettysync_mood_endpoint_failures_total"),
        "{metrics}"
    );
}
