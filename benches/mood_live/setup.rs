//! The run's server (its seed model trained at start, timed), an owner with a pet wearing a
//! paired collar, the collar's MQTT link, the owner's WebSocket, and the clips it sends.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use awc::ws::{Frame, Message};
use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use pettysync::mood::{synth, Mood};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::support::server::{isolated_settings, launch, random_secret, serve};

/// Longest the seed model may take to train and become active.
const SEED_BUDGET: Duration = Duration::from_secs(600);
/// Clip length, seconds, and rate.
const CLIP_SECONDS: f32 = 2.0;
const CLIP_RATE: u32 = 16_000;
/// `mood` frames buffered between the socket reader and the measurement.
const FRAME_QUEUE: usize = 10_000;

pub(crate) struct Bench {
    base: String,
    http: reqwest::Client,
    token: String,
    pet_id: String,
    mqtt: AsyncClient,
    voice_topic: String,
    /// From the server's start to an active model.
    pub seed_trained: Duration,
}

/// Starts the server, waits for its seed model, sets up the owner, pet and collar.
pub(crate) async fn start(run_id: &str) -> anyhow::Result<Bench> {
    let mut settings = isolated_settings("mood_live", run_id)?;
    // This bench measures the seed model's answers: trained at start as `serve` does.
    settings.mood_seed_per_class = pettysync::config::Settings::load()?.mood_seed_per_class;
    let admin = random_secret();
    settings.admin_token = Some(secrecy::SecretString::from(admin.clone()));
    let started = Instant::now();
    let application = launch(&settings).await?;
    let base = serve(application, "mood_live");
    let http = reqwest::Client::new();
    let seed_trained = loop {
        let models: Value = http
            .get(format!("{base}/v1/admin/mood/models"))
            .bearer_auth(&admin)
            .send()
            .await?
            .json()
            .await?;
        if models["active_version"].is_i64() {
            break started.elapsed();
        }
        if started.elapsed() > SEED_BUDGET {
            bail!("no active mood model {SEED_BUDGET:?} after start: {models}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let body = json!({"email": format!("bench-{run_id}@example.com"), "password": "correct horse battery", "display_name": "Bench"});
    let auth = post(&http, &format!("{base}/v1/auth/register"), None, &body).await?;
    let token = auth["access_token"].as_str().context("a token")?.to_owned();
    let pet = post(
        &http,
        &format!("{base}/v1/pets"),
        Some(&token),
        &json!({"name": "Rex", "species": "dog"}),
    )
    .await?;
    let pet_id = pet["id"].as_str().context("a pet id")?.to_owned();
    let serial = format!("BENCH-MOOD-{}", &run_id[..8]);
    let provisioned = post(
        &http,
        &format!("{base}/v1/admin/collars"),
        Some(&admin),
        &json!({"serial": serial}),
    )
    .await?;
    let code = provisioned["pairing_code"].as_str().context("a code")?;
    post(
        &http,
        &format!("{base}/v1/pets/{pet_id}/collar"),
        Some(&token),
        &json!({"serial": serial, "pairing_code": code}),
    )
    .await?;

    let broker = secrecy::ExposeSecret::expose_secret(&settings.mqtt_url).to_owned();
    let mut url = url::Url::parse(&broker)?;
    url.query_pairs_mut()
        .clear()
        .append_pair("client_id", &serial);
    let mut options = MqttOptions::try_from(url).context("the broker URL")?;
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (mqtt, mut events) = AsyncClient::new(options, 64);
    actix_web::rt::spawn(async move {
        while events.poll().await.is_ok() {}
        eprintln!("mood_live: the collar's MQTT link closed");
    });
    let voice_topic = format!("{}/collars/{serial}/voice", settings.mqtt_topic_prefix);
    Ok(Bench {
        base,
        http,
        token,
        pet_id,
        mqtt,
        voice_topic,
        seed_trained,
    })
}

impl Bench {
    /// Publishes one clip (QoS 1) with `seq` and `ts`.
    pub(crate) async fn publish_clip(
        &self,
        seq: i64,
        ts: i64,
        pcm_b64: String,
    ) -> anyhow::Result<()> {
        let message = json!({"v": 1, "seq": seq, "ts": ts, "codec": "pcm_s16le", "rate_hz": CLIP_RATE, "audio_b64": pcm_b64});
        self.mqtt
            .publish(
                &self.voice_topic,
                QoS::AtLeastOnce,
                false,
                message.to_string(),
            )
            .await?;
        Ok(())
    }
}

/// `count` clips, base64 PCM, the five moods in turn.
pub(crate) fn clips(count: usize) -> Vec<String> {
    (0..count)
        .map(|k| {
            let mood = Mood::ALL[k % Mood::ALL.len()];
            let clip = synth::clip_lasting(11, mood, k as u64, 0, CLIP_RATE, Some(CLIP_SECONDS));
            // hound writes the canonical 44-byte header before the samples.
            base64::engine::general_purpose::STANDARD.encode(&clip.wav[44..])
        })
        .collect()
}

/// Opens the owner's WebSocket on the pet; yields `(at, arrival)` of every `mood` frame.
pub(crate) async fn watch_moods(bench: &Bench) -> anyhow::Result<Frames> {
    let url = format!("{}/v1/ws", bench.base.replacen("http", "ws", 1));
    let client = awc::Client::builder()
        .max_http_version(awc::http::Version::HTTP_11)
        .finish();
    let (_, mut framed) = client
        .ws(url)
        .bearer_auth(&bench.token)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("WebSocket handshake: {e}"))?;
    let subscribe = json!({"type": "subscribe", "pet_ids": [bench.pet_id]}).to_string();
    framed.send(Message::Text(subscribe.into())).await?;
    let (tx, rx) = mpsc::channel(FRAME_QUEUE);
    actix_web::rt::spawn(async move {
        while let Some(Ok(frame)) = framed.next().await {
            let Frame::Text(text) = frame else { continue };
            let arrived = Instant::now();
            let Ok(frame) = serde_json::from_slice::<Value>(&text) else {
                continue;
            };
            if frame["type"] == "mood" {
                if let Some(at) = frame["mood"]["at"].as_i64() {
                    let _ = tx.try_send((at, arrived));
                }
            }
        }
    });
    // The subscription's first `state` frame shows it is in place; a short wait stands for it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = &bench.http;
    Ok(Frames(rx))
}

/// The `mood` frames of the owner's socket.
pub(crate) struct Frames(mpsc::Receiver<(i64, Instant)>);

impl Frames {
    pub(crate) async fn recv(&mut self) -> Option<(i64, Instant)> {
        self.0.recv().await
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: {status} {answer}");
    }
    Ok(answer)
}
