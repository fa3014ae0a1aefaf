//! The round's collars: an owner with one paired collar per pet (set up over HTTP on one
//! node), and QoS 1 publishers that send their samples through the broker as fast as it
//! takes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::{stream, StreamExt};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

/// Set-up requests at once.
const SETUP_IN_FLIGHT: usize = 16;
/// Publisher connections; a collar always publishes on the same one (its samples in order).
pub(crate) const PUBLISHERS: usize = 4;
/// QoS 1 messages a publisher has in flight.
const PUBLISHER_INFLIGHT: u16 = 1000;

/// One collar: its serial, topic and next sequence number.
pub(crate) struct Collar {
    topic: String,
    seq: u64,
    home: (f64, f64),
}

impl Collar {
    fn sample(&mut self) -> Vec<u8> {
        self.seq += 1;
        let ts = chrono::Utc::now().timestamp_millis();
        let wobble = (self.seq % 50) as f64 * 1e-5;
        let (lat, lon) = (self.home.0 + wobble, self.home.1 - wobble);
        format!(
            r#"{{"v":1,"seq":{},"ts":{ts},"lat":{lat:.6},"lon":{lon:.6},"acc":6.5,"hr":96,"steps":12,"act":"walk","bat":83,"temp":38.6}}"#,
            self.seq
        )
        .into_bytes()
    }
}

/// Registers an owner on `base`, then makes `count` pets, each with a provisioned and
/// paired collar `BENCH-{run}-{i}`.
pub(crate) async fn set_up(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    run: &str,
    topic_prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<Collar>> {
    let email = format!("bench-{run}@example.com");
    let body =
        json!({"email": email, "password": "correct horse battery", "display_name": "Bench"});
    let auth = post(http, base, "/v1/auth/register", None, &body, 201).await?;
    let token = auth["access_token"]
        .as_str()
        .context("register answers with an access token")?
        .to_owned();
    let made: Vec<anyhow::Result<Collar>> = stream::iter(0..count)
        .map(|i| {
            let (token, serial) = (token.as_str(), format!("BENCH-{run}-{i:05}"));
            async move {
                let pet = json!({"name": format!("Bench {i}"), "species": "dog"});
                let pet = post(http, base, "/v1/pets", Some(token), &pet, 201).await?;
                let pet_id = pet["id"].as_str().context("a pet has an id")?;
                let collar = json!({"serial": serial});
                let made = post(http, base, "/v1/admin/collars", Some(admin), &collar, 201).await?;
                let code = made["pairing_code"].as_str().context("a pairing code")?;
                let pairing = json!({"serial": serial, "pairing_code": code});
                let path = format!("/v1/pets/{pet_id}/collar");
                post(http, base, &path, Some(token), &pairing, 200).await?;
                Ok(Collar {
                    topic: format!("{topic_prefix}/collars/{serial}/telemetry"),
                    seq: 0,
                    home: (
                        48.70 + (i / 100) as f64 * 0.02,
                        2.20 + (i % 100) as f64 * 0.02,
                    ),
                })
            }
        })
        .buffer_unordered(SETUP_IN_FLIGHT)
        .collect()
        .await;
    made.into_iter().collect()
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    bearer: Option<&str>,
    body: &Value,
    expect: u16,
) -> anyhow::Result<Value> {
    let mut request = http.post(format!("{base}{path}")).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    if status != expect {
        bail!("POST {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// A QoS 1 connection and its count of PUBACKs.
pub(crate) struct Publisher {
    client: AsyncClient,
    acked: Arc<AtomicU64>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// [`PUBLISHERS`] connections to the broker at `host:port`.
pub(crate) async fn publishers(host: &str, port: u16, run: &str) -> anyhow::Result<Vec<Publisher>> {
    let mut connected = Vec::with_capacity(PUBLISHERS);
    for p in 0..PUBLISHERS {
        let mut options = MqttOptions::new(format!("bench-cluster-{run}-{p}"), host, port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_inflight(PUBLISHER_INFLIGHT);
        let (client, mut event_loop) = AsyncClient::new(options, 1000);
        let acked = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&acked);
        let driver = tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    // rumqttc reconnects on the next poll; the round's deadline bounds the wait.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        connected.push(Publisher {
            client,
            acked,
            driver,
        });
    }
    Ok(connected)
}

/// PUBACKs every publisher has had so far.
pub(crate) fn acked(publishers: &[Publisher]) -> u64 {
    publishers
        .iter()
        .map(|p| p.acked.load(Ordering::Relaxed))
        .sum()
}

/// Publishes `per_collar` samples of every collar, collars dealt out over the publishers,
/// round-robin within a publisher, as fast as the clients take them.
pub(crate) async fn burst(
    publishers: &[Publisher],
    collars: &mut [Collar],
    per_collar: usize,
) -> anyhow::Result<()> {
    let mut hands: Vec<Vec<&mut Collar>> = (0..publishers.len()).map(|_| Vec::new()).collect();
    for (i, collar) in collars.iter_mut().enumerate() {
        hands[i % publishers.len()].push(collar);
    }
    let sends = hands
        .into_iter()
        .zip(publishers)
        .map(|(hand, publisher)| async move {
            let mut hand = hand;
            for _ in 0..per_collar {
                for collar in hand.iter_mut() {
                    let payload = collar.sample();
                    publisher
                        .client
                        .publish(collar.topic.clone(), QoS::AtLeastOnce, false, payload)
                        .await?;
                }
            }
            anyhow::Ok(())
        });
    futures_util::future::try_join_all(sends).await?;
    Ok(())
}
