//! [`CollarTask`]: one collar's life on the network. It samples on its schedule, publishes
//! without ever waiting on the network, keeps a bounded store-and-forward backlog while
//! offline and uploads it in batches, obeys commands, and now and then drops off the network
//! to come back later.

use std::collections::VecDeque;
use std::ops::RangeInclusive;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rumqttc::{MqttOptions, QoS};
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

use super::backfill::BackfillPlan;
use super::command::Control;
use super::link::{mqtt_options, next_event, Link, LinkEvent, Topics};
use super::model::Collar;
use super::progress::Counters;
use super::voice;
use super::wire::{json, Batch, LiveSample, Sample, VoiceClip, OFFLINE_STATUS, ONLINE_STATUS};
use super::SimulateOptions;

/// The protocol's largest batch, and the most samples a collar keeps while offline.
pub(super) const MAX_BATCH: usize = 500;
const MAX_BACKLOG: usize = 2_000;
/// Mean time between abrupt drops per collar: a 10-collar demo sees one every few minutes.
const MEAN_SECONDS_BETWEEN_DROPS: f64 = 1_800.0;
const OFFLINE_SECONDS: RangeInclusive<u64> = 30..=120;
/// Live samples before a collar's first voice clip (so a demo shows moods within seconds),
/// and between later ones (about one clip per 200 samples).
const FIRST_VOICE_AFTER: RangeInclusive<u32> = 2..=5;
const VOICE_EVERY: RangeInclusive<u32> = 100..=300;

/// One collar's life on the network: its schedule, connection, backlog and commands.
pub(super) struct CollarTask {
    pub(super) serial: String,
    pub(super) topics: Topics,
    mqtt: MqttOptions,
    pub(super) model: Collar,
    control: Control,
    /// Network-side chance (start offset, drops, voice), apart from the model's.
    rng: StdRng,
    voice_seq: u64,
    /// Live samples left before the next voice clip.
    voice_countdown: u32,
    /// The collar's number in the fleet: its voice.
    number: u32,
    pub(super) link: Option<Link>,
    online: bool,
    ever_online: bool,
    backlog: VecDeque<Sample>,
    last_sample: Option<Instant>,
    next_sample: Instant,
    reconnect_at: Option<Instant>,
    pub(super) counters: Arc<Counters>,
    /// History still to upload before going live.
    pub(super) backfill: Option<BackfillPlan>,
}

impl CollarTask {
    pub(super) fn new(
        options: &SimulateOptions,
        i: u32,
        broker: &Url,
        seed: u64,
        counters: Arc<Counters>,
    ) -> anyhow::Result<Self> {
        let serial = options.serial(i);
        let topics = Topics::new(&options.topic_prefix, &serial);
        let mqtt = mqtt_options(broker, &serial, &topics.status)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let control = Control {
            interval_s: options.interval_s,
            lost_mode: false,
        };
        // A random first offset within one interval, so the fleet does not report in lockstep.
        let first = control.interval().mul_f64(rng.gen());
        Ok(CollarTask {
            model: Collar::new(options.centre, rng.gen()),
            voice_seq: rng.gen_range(1..1_000_000),
            voice_countdown: rng.gen_range(FIRST_VOICE_AFTER),
            number: i,
            next_sample: Instant::now() + first,
            serial,
            topics,
            mqtt,
            control,
            rng,
            link: None,
            online: false,
            ever_online: false,
            backlog: VecDeque::new(),
            last_sample: None,
            reconnect_at: None,
            counters,
            backfill: (options.backfill_days > 0).then(|| {
                BackfillPlan::new(
                    chrono::Utc::now().timestamp_millis(),
                    options.backfill_days,
                    options.backfill_interval_s,
                )
            }),
        })
    }

    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        self.link = Some(Link::open(&self.mqtt));
        if self.backfill(&mut stop).await {
            self.live(&mut stop).await;
        }
        // A collar switched off says so itself; otherwise its retained status would read
        // online forever, since a clean disconnect does not fire the Last Will.
        let said_goodbye = self.send(&self.topics.status, OFFLINE_STATUS.into(), true);
        self.set_online(false);
        if let Some(link) = self.link.take() {
            link.close(said_goodbye).await;
        }
    }

    /// Samples on the collar's schedule until stopped.
    async fn live(&mut self, stop: &mut watch::Receiver<bool>) {
        self.next_sample = self.next_sample.max(Instant::now());
        loop {
            let reconnect_at = self.reconnect_at.unwrap_or(self.next_sample);
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep_until(self.next_sample) => self.sample(),
                () = tokio::time::sleep_until(reconnect_at), if self.reconnect_at.is_some() => {
                    self.reconnect_at = None;
                    self.link = Some(Link::open(&self.mqtt));
                }
                Some(event) = next_event(&mut self.link) => self.on_event(event),
            }
        }
    }

    fn sample(&mut self) {
        let now = Instant::now();
        let dt = self
            .last_sample
            .map_or(self.control.interval(), |last| now - last);
        let sample = self.model.step(dt, chrono::Utc::now().timestamp_millis());
        self.last_sample = Some(now);
        self.next_sample = now + self.control.interval();
        let drop_chance = (dt.as_secs_f64() / MEAN_SECONDS_BETWEEN_DROPS).min(0.5);
        if self.online && self.rng.gen_bool(drop_chance) {
            self.drop_link();
        }
        self.flush_backlog();
        let live = LiveSample {
            v: 1,
            sample: &sample,
        };
        if !self.backlog.is_empty() || !self.send(&self.topics.telemetry, json(&live), false) {
            self.queue(sample);
            return;
        }
        Counters::add(&self.counters.samples_sent, 1);
        self.voice_countdown = self.voice_countdown.saturating_sub(1);
        if self.voice_countdown == 0 {
            self.voice_countdown = self.rng.gen_range(VOICE_EVERY);
            self.send_voice(sample.act);
        }
    }

    /// Hands a message to the event loop without waiting; false when offline or queue full.
    fn send(&self, topic: &str, payload: Vec<u8>, retain: bool) -> bool {
        let Some(link) = self.link.as_ref().filter(|_| self.online) else {
            return false;
        };
        link.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .is_ok()
    }

    fn queue(&mut self, sample: Sample) {
        if self.backlog.len() >= MAX_BACKLOG {
            self.backlog.pop_front();
            Counters::add(&self.counters.samples_dropped, 1);
        }
        self.backlog.push_back(sample);
    }

    /// Uploads the backlog, oldest first, in batches the protocol accepts.
    fn flush_backlog(&mut self) {
        while self.online && !self.backlog.is_empty() {
            let n = self.backlog.len().min(MAX_BATCH);
            let payload = json(&Batch {
                v: 1,
                samples: &self.backlog.make_contiguous()[..n],
            });
            if !self.send(&self.topics.telemetry, payload, false) {
                return;
            }
            self.backlog.drain(..n);
            Counters::add(&self.counters.batches_sent, 1);
            Counters::add(&self.counters.samples_sent, n as u64);
        }
    }

    /// Sends a clip that sounds like a pet doing `activity`, in this collar's voice.
    fn send_voice(&mut self, activity: super::activity::Activity) {
        let mood = voice::intended_mood(activity, &mut self.rng);
        let made = voice::clip(self.number, self.voice_seq, mood, &mut self.rng);
        tracing::debug!(serial = %self.serial, mood = made.mood.as_str(), "voice clip");
        let clip = VoiceClip {
            v: 1,
            seq: self.voice_seq,
            ts: chrono::Utc::now().timestamp_millis(),
            codec: "pcm_s16le",
            rate_hz: made.rate_hz,
            audio_b64: base64::engine::general_purpose::STANDARD.encode(&made.pcm),
        };
        self.voice_seq += 1;
        if self.send(&self.topics.voice, json(&clip), false) {
            Counters::add(&self.counters.voice_sent, 1);
        }
    }

    pub(super) fn on_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up => self.came_online(),
            LinkEvent::Down => self.set_online(false),
            LinkEvent::Command(payload) => self.obey(&payload),
        }
    }

    /// Announces itself, listens for commands (a clean session forgets them), then uploads
    /// what it recorded while away.
    fn came_online(&mut self) {
        if std::mem::replace(&mut self.ever_online, true) {
            Counters::add(&self.counters.reconnects, 1);
        }
        self.set_online(true);
        self.send(&self.topics.status, ONLINE_STATUS.into(), true);
        let subscribed = self.link.as_ref().map(|link| {
            link.client
                .try_subscribe(&self.topics.cmd, QoS::AtLeastOnce)
        });
        if !matches!(subscribed, Some(Ok(()))) {
            tracing::warn!("could not subscribe to commands");
        }
        self.flush_backlog();
    }

    fn obey(&mut self, payload: &[u8]) {
        let before = self.control.interval();
        let Some(ack) = self.control.apply(payload) else {
            tracing::debug!("ignoring a malformed command");
            return;
        };
        tracing::debug!(?ack, "command");
        if ack.ok {
            Counters::add(&self.counters.commands_obeyed, 1);
        }
        if self.control.interval() != before {
            self.next_sample = Instant::now() + self.control.interval();
        }
        if !self.send(&self.topics.ack, json(&ack), false) {
            tracing::warn!(id = %ack.id, "could not acknowledge a command");
        }
    }

    /// Leaves without a goodbye and comes back 30–120 s later; samples meanwhile go to the backlog.
    fn drop_link(&mut self) {
        if let Some(link) = self.link.take() {
            link.drop_abruptly();
        }
        self.set_online(false);
        let away = Duration::from_secs(self.rng.gen_range(OFFLINE_SECONDS));
        self.reconnect_at = Some(Instant::now() + away);
        tracing::debug!(?away, "dropping off the network");
    }

    fn set_online(&mut self, online: bool) {
        if std::mem::replace(&mut self.online, online) == online {
            return;
        }
        if online {
            self.counters.online.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.online.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::tests::options;

    #[tokio::test]
    async fn an_offline_collar_keeps_the_newest_samples_and_counts_the_rest() {
        let counters = Arc::new(Counters::default());
        let broker = Url::parse(&options().broker).unwrap();
        let mut collar = CollarTask::new(&options(), 1, &broker, 1, counters.clone()).unwrap();
        for _ in 0..MAX_BACKLOG + 100 {
            collar.sample();
        }
        assert_eq!(collar.backlog.len(), MAX_BACKLOG);
        assert_eq!(counters.report().samples_dropped, 100);
        assert_eq!(counters.report().samples_sent, 0);
        let seqs: Vec<u64> = collar.backlog.iter().map(|s| s.seq).collect();
        assert!(seqs.windows(2).all(|pair| pair[1] == pair[0] + 1));
    }
}
