//! Backfill: before a collar goes live it uploads `--backfill-days` of history, as a collar
//! back from a long time out of coverage would: store-and-forward batches with old
//! timestamps, one sample per backfill interval, as fast as the broker takes them. QoS 1 and
//! the link's bounded in-flight window are the flow control: a batch is handed to the MQTT
//! client only when the window has room, so a slow server slows the upload and loses nothing.

use rumqttc::QoS;
use tokio::sync::watch;

use super::link::next_event;
use super::model::Collar;
use super::progress::Counters;
use super::task::{CollarTask, MAX_BATCH};
use super::wire::{json, Batch, Sample};

/// Most days of history: the collar protocol takes samples up to 30 days old, and the
/// upload itself takes a while, so the oldest must still be inside the window on arrival.
pub const MAX_BACKFILL_DAYS: u32 = 29;

/// The history one collar uploads: samples every `interval_ms` ending one interval before
/// the start of the run, so that the live samples that follow are all newer.
#[derive(Debug, Clone)]
pub(super) struct BackfillPlan {
    next_ts: i64,
    end_ts: i64,
    interval_ms: i64,
}

impl BackfillPlan {
    pub(super) fn new(now_ms: i64, days: u32, interval_s: u64) -> BackfillPlan {
        let interval_ms = interval_s as i64 * 1000;
        let count = Self::samples(days, interval_s) as i64;
        BackfillPlan {
            next_ts: now_ms - count * interval_ms,
            end_ts: now_ms,
            interval_ms,
        }
    }

    /// Samples one collar uploads for `days` at one per `interval_s`.
    pub(super) fn samples(days: u32, interval_s: u64) -> u64 {
        u64::from(days) * 86_400 / interval_s.max(1)
    }

    /// The next batch of at most `max` samples, walked by `model`; empty when done.
    fn next_batch(&mut self, model: &mut Collar, max: usize) -> Vec<Sample> {
        let mut batch = Vec::with_capacity(max);
        let step = std::time::Duration::from_millis(self.interval_ms as u64);
        while batch.len() < max && self.next_ts < self.end_ts {
            batch.push(model.step(step, self.next_ts));
            self.next_ts += self.interval_ms;
        }
        batch
    }
}

impl CollarTask {
    /// Uploads the collar's backfill, if it has one; false when stopped (or the client
    /// closed) before the end. Connection events are handled meanwhile: the event loop
    /// waits on them, and commands are obeyed.
    pub(super) async fn backfill(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let Some(mut plan) = self.backfill.take() else {
            return true;
        };
        loop {
            let batch = plan.next_batch(&mut self.model, MAX_BATCH);
            if batch.is_empty() {
                return true;
            }
            let Some(client) = self.link.as_ref().map(|link| link.client.clone()) else {
                return false;
            };
            let payload = json(&Batch {
                v: 1,
                samples: &batch,
            });
            let topic = self.topics.telemetry.clone();
            let publish = client.publish(topic, QoS::AtLeastOnce, false, payload);
            tokio::pin!(publish);
            loop {
                tokio::select! {
                    _ = stop.changed() => return false,
                    handed = &mut publish => {
                        if let Err(error) = handed {
                            tracing::warn!(%error, "backfill stopped: the MQTT client is closed");
                            return false;
                        }
                        break;
                    }
                    Some(event) = next_event(&mut self.link) => self.on_event(event),
                }
            }
            let n = batch.len() as u64;
            Counters::add(&self.counters.batches_sent, 1);
            Counters::add(&self.counters.samples_sent, n);
            Counters::add(&self.counters.backfilled, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::tests::BANGKOK;

    #[test]
    fn a_day_at_five_minutes_is_288_samples_in_batches_ending_before_now() {
        let now = 1_764_151_500_000;
        let mut plan = BackfillPlan::new(now, 1, 300);
        let mut model = Collar::new(BANGKOK, 1);
        let mut samples = Vec::new();
        loop {
            let batch = plan.next_batch(&mut model, MAX_BATCH);
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= MAX_BATCH);
            samples.extend(batch);
        }
        assert_eq!(samples.len() as u64, BackfillPlan::samples(1, 300));
        assert_eq!(samples.len(), 288);
        assert_eq!(samples[0].ts, now - 86_400_000);
        assert_eq!(samples[287].ts, now - 300_000);
        assert!(samples.windows(2).all(|w| w[1].ts - w[0].ts == 300_000));
        assert!(samples.windows(2).all(|w| w[1].seq > w[0].seq));
    }

    #[test]
    fn a_full_batch_fits_the_protocols_256_kib() {
        let mut plan = BackfillPlan::new(1_764_151_500_000, 7, 300);
        let batch = plan.next_batch(&mut Collar::new(BANGKOK, 2), MAX_BATCH);
        assert_eq!(batch.len(), MAX_BATCH);
        let payload = json(&Batch {
            v: 1,
            samples: &batch,
        });
        assert!(payload.len() < 256 * 1024, "{} bytes", payload.len());
    }
}
