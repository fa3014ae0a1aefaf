//! Phase 1, the baseline: P publishers → broker → one subscriber, QoS 1 both ways; the
//! broker's own drain rate, which every ingest figure is compared with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::mqtt::{client_options, publishers, share_of, PUBLISHERS, PUBLISHER_INFLIGHT};
use crate::plan::{Clock, Plan};
use crate::units::grouped;

const BASELINE_BUDGET: Duration = Duration::from_secs(60);
/// The baseline's message size: a typical sample is 120 to 190 bytes.
const BASELINE_BYTES: usize = 180;

#[derive(Debug, Clone, Copy)]
pub(crate) struct BaselineFigure {
    pub(crate) rate: f64,
    received: u64,
    pub(crate) elapsed: Duration,
    pub(crate) complete: bool,
}

/// P publishers → broker → one subscriber, QoS 1 both ways: the broker's own drain rate.
pub(crate) async fn baseline(
    port: u16,
    plan: Plan,
    clock: Clock,
) -> anyhow::Result<BaselineFigure> {
    let n = plan.messages as u64;
    let id = Uuid::new_v4().simple().to_string();
    let mut options = client_options(format!("bench-baseline-sub-{id}"), port);
    options.set_inflight(PUBLISHER_INFLIGHT);
    let (subscriber, mut event_loop) = AsyncClient::new(options, 100);
    let received = Arc::new(AtomicU64::new(0));
    let (subscribed_tx, subscribed_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel::<Instant>();
    let driver = tokio::spawn({
        let received = Arc::clone(&received);
        async move {
            let (mut subscribed, mut done) = (Some(subscribed_tx), Some(done_tx));
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(_))) => {
                        if received.fetch_add(1, Ordering::Relaxed) + 1 == n {
                            if let Some(tx) = done.take() {
                                let _ = tx.send(Instant::now());
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    });
    let result = async {
        subscriber
            .subscribe("bench/baseline/#", QoS::AtLeastOnce)
            .await?;
        tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
            .await
            .context("no SUBACK within 10 s")??;
        let publishers = publishers(port, &format!("bench-baseline-pub-{id}")).await?;
        let payload = baseline_payload();
        clock.say(format!(
            "baseline: {} messages of {} bytes, QoS 1, {PUBLISHERS} publishers → broker → 1 subscriber",
            grouped(n),
            payload.len()
        ));
        let started = Instant::now();
        let tasks: Vec<_> = publishers
            .iter()
            .enumerate()
            .map(|(p, publisher)| {
                let (client, payload) = (publisher.client.clone(), payload.clone());
                let share = share_of(plan.messages, p);
                let topic = format!("bench/baseline/{p}");
                tokio::spawn(async move {
                    for _ in 0..share {
                        client
                            .publish(topic.clone(), QoS::AtLeastOnce, false, payload.clone())
                            .await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        let budget = clock.budget(BASELINE_BUDGET);
        let figure = match tokio::time::timeout(budget, done_rx).await {
            Ok(Ok(finished)) => {
                let elapsed = finished.duration_since(started);
                BaselineFigure {
                    rate: n as f64 / elapsed.as_secs_f64(),
                    received: n,
                    elapsed,
                    complete: true,
                }
            }
            _ => {
                let elapsed = started.elapsed();
                let got = received.load(Ordering::Relaxed);
                BaselineFigure {
                    rate: got as f64 / elapsed.as_secs_f64(),
                    received: got,
                    elapsed,
                    complete: false,
                }
            }
        };
        for task in tasks {
            task.abort();
        }
        let _ = subscriber.disconnect().await;
        anyhow::Ok(figure)
    }
    .await;
    driver.abort();
    let figure = result?;
    if figure.complete {
        clock.say(format!(
            "baseline: all {} received in {:.2} s → {} msg/s",
            grouped(figure.received),
            figure.elapsed.as_secs_f64(),
            grouped(figure.rate as u64)
        ));
    } else {
        clock.say(format!(
            "baseline: timed out: {} of {} received in {:.1} s",
            grouped(figure.received),
            grouped(n),
            figure.elapsed.as_secs_f64()
        ));
    }
    Ok(figure)
}

/// 180 bytes shaped like a sample.
fn baseline_payload() -> Vec<u8> {
    let head = r#"{"v":1,"seq":48213,"ts":1764151500000,"lat":13.756331,"lon":100.501762,"acc":6.5,"hr":96,"steps":41,"act":"walk","bat":83,"temp":38.6,"pad":""#;
    let mut payload = head.as_bytes().to_vec();
    payload.resize(BASELINE_BYTES - 2, b'x');
    payload.extend_from_slice(b"\"}");
    payload
}
