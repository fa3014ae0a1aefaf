//! `pettysync simulate`: a fleet of virtual collars that speak the collar protocol
//! (`collar-protocol.md`) to a real MQTT broker, for demos and load tests.
//!
//! `Collar` is the pure motion and vitals model (one `step` per sample); `Control` applies
//! commands; `CollarTask` is one collar's network side (connection, schedule,
//! store-and-forward backlog); `drive` only polls that collar's MQTT event loop and forwards
//! what matters. Each collar task runs in a `collar` span.

use std::collections::VecDeque;
use std::f64::consts::{PI, TAU};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions};
use rumqttc::{Outgoing, Packet, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

/// Requests a collar may queue for its event loop; when full, samples wait in the backlog.
const REQUEST_CHANNEL_CAPACITY: usize = 32;
/// Connection events (up, down, commands) queued from an event loop to its collar.
const LINK_EVENT_CAPACITY: usize = 16;
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Batches and voice clips exceed rumqttc's 10 KiB default; the protocol allows 256 KiB.
const MAX_OUTGOING_PACKET: usize = 256 * 1024;
const MAX_INCOMING_PACKET: usize = 16 * 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a clean stop waits for DISCONNECT to be written before giving up.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);
/// The protocol's largest batch, and the most samples a collar keeps while offline.
const MAX_BATCH: usize = 500;
const MAX_BACKLOG: usize = 2_000;
/// Mean time between abrupt drops per collar: a 10-collar demo sees one every few minutes.
const MEAN_SECONDS_BETWEEN_DROPS: f64 = 1_800.0;
const OFFLINE_SECONDS: RangeInclusive<u64> = 30..=120;
const VOICE_PROBABILITY: f64 = 1.0 / 200.0;
const VOICE_RATE_HZ: u32 = 8_000;
const LOST_MODE_INTERVAL_S: u64 = 10;
const INTERVAL_RANGE_S: RangeInclusive<u64> = 2..=3600;
const ONLINE_STATUS: &str = r#"{"v":1,"online":true,"fw":"1.4.2"}"#;
const OFFLINE_STATUS: &str = r#"{"v":1,"online":false}"#;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Long intervals are integrated in model steps of at most this many seconds.
const MAX_SUBSTEP_S: f64 = 5.0;
const HOME_SPREAD_M: f64 = 3_000.0;
/// Beyond `PULL_START_M` from home a pet turns homeward, fully so at `ROAM_LIMIT_M`.
const PULL_START_M: f64 = 300.0;
const ROAM_LIMIT_M: f64 = 500.0;
const METRES_PER_DEGREE: f64 = 111_320.0;
const NO_FIX_PROBABILITY: f64 = 0.01;
const ACC_SPIKE_PROBABILITY: f64 = 0.02;
/// Per sample rather than per hour, so a demo visibly drains and live mode (3 s) drains fast.
const BATTERY_DRAIN_PER_SAMPLE: f64 = 0.2;
const BATTERY_RECHARGE_AT: f64 = 5.0;

/// Settings of one `pettysync simulate` run.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Number of virtual collars.
    pub collars: u32,
    /// Broker URL, e.g. mqtt://127.0.0.1:1883 (client ids are added per collar).
    pub broker: String,
    /// Normal reporting interval in seconds (a `set_interval` command changes it per collar).
    pub interval_s: u64,
    /// Stop after this many seconds; None = until Ctrl-C.
    pub seconds: Option<u64>,
    /// Topic prefix, default "pettysync/v1".
    pub topic_prefix: String,
    /// Serial of collar i is format!("{serial_prefix}{i:04}") for i in 1..=collars, e.g. "SIM-0001".
    pub serial_prefix: String,
    /// Centre of the area the pets roam (lat, lon); default Bangkok 13.7563, 100.5018.
    pub centre: (f64, f64),
    /// Show an indicatif progress bar (false in tests / when not a terminal).
    pub progress: bool,
    /// Seed for the random walk, for repeatable runs.
    pub seed: u64,
}

impl SimulateOptions {
    /// The serial number of collar `i` (1-based).
    pub fn serial(&self, i: u32) -> String {
        format!("{}{i:04}", self.serial_prefix)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.collars >= 1, "collars must be at least 1");
        anyhow::ensure!(self.interval_s >= 1, "interval_s must be at least 1");
        let serial = self.serial(self.collars);
        let serial_ok = serial.len() <= 64
            && serial
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        anyhow::ensure!(
            serial_ok,
            "serial_prefix makes invalid serials such as {serial:?}"
        );
        let prefix = &self.topic_prefix;
        let prefix_ok = !prefix.is_empty() && !prefix.contains(['+', '#']);
        anyhow::ensure!(
            prefix_ok,
            "topic_prefix must be non-empty without MQTT wildcards"
        );
        let (lat, lon) = self.centre;
        anyhow::ensure!(
            lat.abs() <= 85.0 && lon.abs() <= 180.0,
            "centre is not a valid position"
        );
        Ok(())
    }
}

/// What a run sent, counted when handed to the MQTT client.
#[derive(Debug, Default, Clone)]
pub struct SimulateReport {
    /// Telemetry samples sent, live and in batches.
    pub samples_sent: u64,
    /// Backlog batches sent once (re)connected.
    pub batches_sent: u64,
    /// Voice clips sent.
    pub voice_sent: u64,
    /// Commands acknowledged with `ok: true`.
    pub commands_obeyed: u64,
    /// Connections re-established after a drop (simulated or real).
    pub reconnects: u64,
    /// Oldest backlog samples discarded because the backlog was full.
    pub samples_dropped: u64,
}

/// Runs the fleet until `seconds` elapse or Ctrl-C; returns what was sent.
pub async fn run(options: SimulateOptions) -> anyhow::Result<SimulateReport> {
    options.validate()?;
    let broker = Url::parse(&options.broker).context("broker is not a valid URL")?;
    let counters = Arc::new(Counters::default());
    let mut seeds = StdRng::seed_from_u64(options.seed);
    let collars = (1..=options.collars)
        .map(|i| CollarTask::new(&options, i, &broker, seeds.gen(), counters.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let (stop, stopped) = watch::channel(false);
    let tasks: Vec<_> = collars
        .into_iter()
        .map(|collar| {
            let span = tracing::info_span!("collar", collar = %collar.serial);
            tokio::spawn(collar.run(stopped.clone()).instrument(span))
        })
        .collect();
    // The monitor outlives the collars, so its last line shows the fleet disconnected.
    let (done, finished) = watch::channel(false);
    let monitor = tokio::spawn(monitor(
        counters.clone(),
        options.collars,
        options.progress,
        finished,
    ));

    wait_for_stop(options.seconds).await;
    stop.send_replace(true);
    for task in tasks {
        task.await.context("a collar task panicked")?;
    }
    done.send_replace(true);
    monitor.await.context("the progress task panicked")?;
    Ok(counters.report())
}

async fn wait_for_stop(seconds: Option<u64>) {
    let deadline = async {
        match seconds {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => std::future::pending().await,
        }
    };
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            // Without a signal handler the run still ends at its deadline.
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = deadline => {}
        () = ctrl_c => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The model: pure given its seed.

/// What the pet is doing; serialized as the protocol's `act`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Activity {
    Sleep,
    Rest,
    Walk,
    Run,
    Play,
}

/// How an activity shows in the sensors.
struct Profile {
    speed_mps: f64,
    hr_bpm: f64,
    steps_per_s: f64,
    temp_delta: f64,
    dwell_s: (f64, f64),
}

impl Activity {
    fn profile(self) -> Profile {
        let (speed_mps, hr_bpm, steps_per_s, temp_delta, dwell_s) = match self {
            Activity::Sleep => (0.0, 60.0, 0.0, -0.3, (1_200.0, 5_400.0)),
            Activity::Rest => (0.0, 80.0, 0.05, 0.0, (300.0, 1_800.0)),
            Activity::Walk => (1.2, 100.0, 2.0, 0.2, (120.0, 900.0)),
            Activity::Run => (4.0, 150.0, 3.5, 0.7, (30.0, 180.0)),
            Activity::Play => (1.5, 130.0, 2.5, 0.5, (60.0, 600.0)),
        };
        Profile {
            speed_mps,
            hr_bpm,
            steps_per_s,
            temp_delta,
            dwell_s,
        }
    }

    /// Weighted so pets mostly rest and sleep, often walk, and only run for a while.
    fn next(self, rng: &mut impl Rng) -> Activity {
        use Activity::*;
        let choices: &[(Activity, u32)] = match self {
            Sleep => &[(Rest, 1)],
            Rest => &[(Sleep, 3), (Walk, 4), (Play, 2)],
            Walk => &[(Rest, 4), (Run, 2), (Play, 2)],
            Run => &[(Walk, 3), (Rest, 1)],
            Play => &[(Rest, 3), (Walk, 2), (Run, 1)],
        };
        let (next, _) = choices
            .choose_weighted(rng, |choice| choice.1)
            .expect("every list above is non-empty with positive weights");
        *next
    }
}

/// One telemetry sample, without `v` (a batch's elements carry none).
#[derive(Clone, Debug, PartialEq, Serialize)]
struct Sample {
    seq: u64,
    ts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acc: Option<f64>,
    hr: u16,
    steps: u32,
    act: Activity,
    bat: u8,
    temp: f64,
}

/// A sample as published live: the same fields plus `v`.
#[derive(Serialize)]
struct LiveSample<'a> {
    v: u8,
    #[serde(flatten)]
    sample: &'a Sample,
}

/// A store-and-forward upload.
#[derive(Serialize)]
struct Batch<'a> {
    v: u8,
    samples: &'a [Sample],
}

/// A voice clip; its `seq` is a counter of its own.
#[derive(Serialize)]
struct VoiceClip {
    v: u8,
    seq: u64,
    ts: i64,
    codec: &'static str,
    rate_hz: u32,
    audio_b64: String,
}

/// One pet wearing a collar: where it is, what it does, and what the sensors read.
struct Collar {
    rng: StdRng,
    home: (f64, f64),
    /// True position, metres east and north of home.
    offset: (f64, f64),
    /// Direction of travel, radians counter-clockwise from east.
    heading: f64,
    activity: Activity,
    activity_left_s: f64,
    hr_baseline: f64,
    temp_baseline: f64,
    battery: f64,
    next_seq: u64,
}

impl Collar {
    fn new(centre: (f64, f64), seed: u64) -> Collar {
        let mut rng = StdRng::seed_from_u64(seed);
        Collar {
            home: displace(centre, random_offset(&mut rng, HOME_SPREAD_M)),
            offset: random_offset(&mut rng, 50.0),
            heading: rng.gen_range(0.0..TAU),
            activity: Activity::Rest,
            activity_left_s: rng.gen_range(0.0..600.0),
            // Pets differ: a big dog's heart beats slower than a terrier's.
            hr_baseline: rng.gen_range(-10.0..25.0),
            temp_baseline: rng.gen_range(38.2..38.8),
            battery: rng.gen_range(40.0..100.0),
            // Collars have been running for a while: seq does not start at zero.
            next_seq: rng.gen_range(1..1_000_000_000),
            rng,
        }
    }

    /// Lives through `dt` and reads the sensors as the collar would at `ts_ms`.
    fn step(&mut self, dt: Duration, ts_ms: i64) -> Sample {
        let mut left = dt.as_secs_f64();
        let mut steps = 0.0;
        while left > 0.0 {
            let sub = left.min(MAX_SUBSTEP_S);
            steps += self.advance(sub);
            left -= sub;
        }
        self.read_sensors(steps, ts_ms)
    }

    /// Moves the pet for `dt_s` seconds; returns the steps it took.
    fn advance(&mut self, dt_s: f64) -> f64 {
        self.activity_left_s -= dt_s;
        if self.activity_left_s <= 0.0 {
            self.activity = self.activity.next(&mut self.rng);
            let (min, max) = self.activity.profile().dwell_s;
            self.activity_left_s = self.rng.gen_range(min..max);
        }
        let profile = self.activity.profile();
        if self.activity == Activity::Play {
            self.heading = self.rng.gen_range(0.0..TAU);
        } else {
            self.heading += self.rng.gen_range(-0.3..0.3);
        }
        self.turn_home();
        let distance = profile.speed_mps * dt_s * self.rng.gen_range(0.8..1.2);
        self.offset.0 += distance * self.heading.cos();
        self.offset.1 += distance * self.heading.sin();
        profile.steps_per_s * dt_s
    }

    /// Turns toward home the further the pet has strayed, so it stays within about 500 m.
    fn turn_home(&mut self) {
        let distance = self.offset.0.hypot(self.offset.1);
        if distance <= PULL_START_M {
            return;
        }
        let home_bearing = (-self.offset.1).atan2(-self.offset.0);
        let weight = ((distance - PULL_START_M) / (ROAM_LIMIT_M - PULL_START_M)).min(1.0);
        let turn = (home_bearing - self.heading + PI).rem_euclid(TAU) - PI;
        self.heading += weight * turn;
    }

    fn read_sensors(&mut self, steps: f64, ts_ms: i64) -> Sample {
        let profile = self.activity.profile();
        let fix = self.gps_fix();
        let hr = profile.hr_bpm + self.hr_baseline + self.rng.gen_range(-8.0..8.0);
        let steps = steps * self.rng.gen_range(0.85..1.15);
        let temp = self.temp_baseline + profile.temp_delta + self.rng.gen_range(-0.15..0.15);
        let seq = self.next_seq;
        self.next_seq += 1;
        Sample {
            seq,
            ts: ts_ms,
            lat: fix.map(|(lat, _, _)| lat),
            lon: fix.map(|(_, lon, _)| lon),
            acc: fix.map(|(_, _, acc)| acc),
            hr: hr.round().clamp(1.0, 400.0) as u16,
            steps: steps.round().clamp(0.0, 100_000.0) as u32,
            act: self.activity,
            bat: self.drain_battery(),
            temp: round_to(temp.clamp(37.5, 39.5), 1),
        }
    }

    /// (lat, lon, acc): the true position blurred by GPS error, sometimes badly, sometimes none.
    fn gps_fix(&mut self) -> Option<(f64, f64, f64)> {
        if self.rng.gen_bool(NO_FIX_PROBABILITY) {
            return None;
        }
        let acc = if self.rng.gen_bool(ACC_SPIKE_PROBABILITY) {
            self.rng.gen_range(50.0..=300.0)
        } else {
            self.rng.gen_range(3.0..=8.0)
        };
        let error = random_offset(&mut self.rng, acc);
        let seen = (self.offset.0 + error.0, self.offset.1 + error.1);
        let (lat, lon) = displace(self.home, seen);
        Some((round_to(lat, 6), round_to(lon, 6), round_to(acc, 1)))
    }

    /// Reports the level, then plugs the collar in once it is nearly empty.
    fn drain_battery(&mut self) -> u8 {
        self.battery = (self.battery - BATTERY_DRAIN_PER_SAMPLE).max(0.0);
        let reported = self.battery.round() as u8;
        if self.battery <= BATTERY_RECHARGE_AT {
            self.battery = 100.0;
        }
        reported
    }
}

/// A point uniformly spread over a disc of `radius_m`, as (east, north) metres.
fn random_offset(rng: &mut impl Rng, radius_m: f64) -> (f64, f64) {
    let r = radius_m * rng.gen::<f64>().sqrt();
    let angle = rng.gen_range(0.0..TAU);
    (r * angle.cos(), r * angle.sin())
}

/// `origin` (lat, lon) moved by (east, north) metres; flat-earth is fine at these distances.
fn displace(origin: (f64, f64), (east, north): (f64, f64)) -> (f64, f64) {
    let lat = origin.0 + north / METRES_PER_DEGREE;
    let lon = origin.1 + east / (METRES_PER_DEGREE * origin.0.to_radians().cos());
    (lat, lon)
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// One second of mono 16-bit little-endian PCM: two or three barks (a falling tone with a
/// harmonic and breath noise) over near silence.
fn bark_pcm(rng: &mut impl Rng) -> Vec<u8> {
    let rate = VOICE_RATE_HZ as usize;
    let mut signal = vec![0.0f64; rate];
    let barks = rng.gen_range(2..=3);
    for bark in 0..barks {
        let start = bark * rate / barks + rng.gen_range(0..rate / 10);
        let len = rng.gen_range(rate * 12 / 100..rate * 20 / 100);
        let pitch = rng.gen_range(350.0..650.0);
        let mut phase = 0.0f64;
        for (k, value) in signal[start..].iter_mut().take(len).enumerate() {
            let progress = k as f64 / len as f64;
            phase += TAU * pitch * (1.0 - 0.4 * progress) / VOICE_RATE_HZ as f64;
            let envelope = (progress * 20.0).min(1.0) * (-4.0 * progress).exp();
            let noise = rng.gen_range(-1.0..1.0);
            *value = envelope * (0.6 * phase.sin() + 0.25 * (2.0 * phase).sin() + 0.15 * noise);
        }
    }
    signal
        .into_iter()
        .flat_map(|value| {
            let hiss = rng.gen_range(-0.005..0.005);
            (((value + hiss).clamp(-1.0, 1.0) * 0.8 * f64::from(i16::MAX)) as i16).to_le_bytes()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Commands: pure, so they are tested without a broker.

/// A command from the server; unknown fields are ignored, as the protocol says.
#[derive(Deserialize)]
struct Command {
    v: u64,
    id: String,
    cmd: String,
    interval_s: Option<serde_json::Number>,
    on: Option<bool>,
}

/// The answer on `…/cmd/ack`.
#[derive(Debug, Serialize)]
struct Ack {
    v: u8,
    id: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// What the server may change on a collar.
#[derive(Debug, Clone, PartialEq)]
struct Control {
    interval_s: u64,
    lost_mode: bool,
}

impl Control {
    /// Time between samples: lost mode reports at least every 10 s, live mode still faster.
    fn interval(&self) -> Duration {
        let seconds = if self.lost_mode {
            self.interval_s.min(LOST_MODE_INTERVAL_S)
        } else {
            self.interval_s
        };
        Duration::from_secs(seconds)
    }

    /// Carries out a command; `None` for a payload that is not a command (ignored unanswered).
    fn apply(&mut self, payload: &[u8]) -> Option<Ack> {
        let command: Command = serde_json::from_slice(payload).ok()?;
        let result = self.execute(&command);
        Some(Ack {
            v: 1,
            id: command.id,
            ok: result.is_ok(),
            error: result.err(),
        })
    }

    fn execute(&mut self, command: &Command) -> Result<(), &'static str> {
        if command.v != 1 {
            return Err("unsupported protocol version");
        }
        match command.cmd.as_str() {
            "set_interval" => {
                let seconds = command.interval_s.as_ref().ok_or("interval_s missing")?;
                match seconds.as_u64() {
                    Some(s) if INTERVAL_RANGE_S.contains(&s) => self.interval_s = s,
                    _ => return Err("interval_s out of range"),
                }
            }
            "find_me" => {}
            "lost_mode" => self.lost_mode = command.on.ok_or("on missing")?,
            _ => return Err("unknown command"),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The network side.

/// Counters shared by every collar, read by the progress line and the final report.
#[derive(Default)]
struct Counters {
    samples_sent: AtomicU64,
    batches_sent: AtomicU64,
    voice_sent: AtomicU64,
    commands_obeyed: AtomicU64,
    reconnects: AtomicU64,
    samples_dropped: AtomicU64,
    online: AtomicU32,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn report(&self) -> SimulateReport {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SimulateReport {
            samples_sent: get(&self.samples_sent),
            batches_sent: get(&self.batches_sent),
            voice_sent: get(&self.voice_sent),
            commands_obeyed: get(&self.commands_obeyed),
            reconnects: get(&self.reconnects),
            samples_dropped: get(&self.samples_dropped),
        }
    }

    fn summary(&self, collars: u32, elapsed: Duration) -> String {
        let report = self.report();
        let rate = report.samples_sent as f64 / elapsed.as_secs_f64().max(1.0);
        let online = self.online.load(Ordering::Relaxed);
        format!(
            "{} samples ({rate:.1}/s), {online}/{collars} online, {} commands obeyed, \
             {} batches, {} voice, {} reconnects",
            report.samples_sent,
            report.commands_obeyed,
            report.batches_sent,
            report.voice_sent,
            report.reconnects
        )
    }
}

/// Shows the fleet's progress on a spinner line, or logs it every 10 s, until stopped.
async fn monitor(
    counters: Arc<Counters>,
    collars: u32,
    progress: bool,
    mut stop: watch::Receiver<bool>,
) {
    let bar = progress.then(|| {
        let style = ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {msg}")
            .expect("the template is a valid constant");
        let bar = ProgressBar::new_spinner().with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let started = Instant::now();
    let every = if progress {
        PROGRESS_EVERY
    } else {
        SUMMARY_EVERY
    };
    let mut ticks = tokio::time::interval_at(started + every, every);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        let line = counters.summary(collars, started.elapsed());
        match &bar {
            Some(bar) => bar.set_message(line),
            None => tracing::info!("simulate: {line}"),
        }
    }
    if let Some(bar) = bar {
        bar.finish_with_message(counters.summary(collars, started.elapsed()));
    }
}

/// Topics of one collar.
struct Topics {
    telemetry: String,
    voice: String,
    status: String,
    cmd: String,
    ack: String,
}

impl Topics {
    fn new(prefix: &str, serial: &str) -> Topics {
        let base = format!("{prefix}/collars/{serial}");
        Topics {
            telemetry: format!("{base}/telemetry"),
            voice: format!("{base}/voice"),
            status: format!("{base}/status"),
            cmd: format!("{base}/cmd"),
            ack: format!("{base}/cmd/ack"),
        }
    }
}

/// Broker options for one collar: the broker URL with the serial as client id, and the
/// collar's Last Will (per connection, hence one connection per collar).
fn mqtt_options(broker: &Url, serial: &str, status_topic: &str) -> anyhow::Result<MqttOptions> {
    let mut url = broker.clone();
    let query: Vec<(String, String)> = broker
        .query_pairs()
        .filter(|(key, _)| key != "client_id")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(query)
        .append_pair("client_id", serial);
    // The error names the setting, not the URL: it may hold a password.
    let mut options = MqttOptions::try_from(url).context("broker URL is not a usable MQTT URL")?;
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
        .set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY)
        .set_last_will(LastWill::new(
            status_topic,
            OFFLINE_STATUS,
            QoS::AtLeastOnce,
            true,
        ));
    Ok(options)
}

/// What an event loop tells its collar.
enum LinkEvent {
    Up,
    Down,
    Command(Vec<u8>),
}

/// One MQTT connection: the client to publish with and the task polling its event loop.
struct Link {
    client: AsyncClient,
    events: mpsc::Receiver<LinkEvent>,
    task: JoinHandle<()>,
}

impl Link {
    fn open(options: &MqttOptions) -> Link {
        let (client, eventloop) = AsyncClient::new(options.clone(), REQUEST_CHANNEL_CAPACITY);
        let (sender, events) = mpsc::channel(LINK_EVENT_CAPACITY);
        let task = tokio::spawn(drive(eventloop, sender).in_current_span());
        Link {
            client,
            events,
            task,
        }
    }

    /// Dropping the event loop closes the socket without DISCONNECT: the broker then
    /// publishes the Last Will, as for a collar that walked out of coverage.
    fn drop_abruptly(self) {
        self.task.abort();
    }

    /// Sends DISCONNECT (so no Last Will) and waits briefly for the event loop to write it;
    /// without a connection (`connected` false) there is nothing to wait for.
    async fn close(mut self, connected: bool) {
        if connected && self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(DISCONNECT_GRACE, &mut self.task).await;
        }
        self.task.abort();
    }
}

/// Polls one connection and forwards what matters, reconnecting with bounded backoff. The
/// awaits on `events` are short: a collar never waits on the network (it only `try_publish`es),
/// so it always drains them.
async fn drive(mut eventloop: EventLoop, events: mpsc::Sender<LinkEvent>) {
    let mut backoff = MIN_BACKOFF;
    let mut up = false;
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = MIN_BACKOFF;
                up = true;
                LinkEvent::Up
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                LinkEvent::Command(publish.payload.to_vec())
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(ConnectionError::RequestsDone) => {
                return
            }
            Ok(_) => continue,
            Err(error) => {
                tracing::debug!(%error, ?backoff, "collar lost the broker");
                if std::mem::take(&mut up) && events.send(LinkEvent::Down).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// One collar's life on the network: its schedule, connection, backlog and commands.
struct CollarTask {
    serial: String,
    topics: Topics,
    mqtt: MqttOptions,
    model: Collar,
    control: Control,
    /// Network-side chance (start offset, drops, voice), apart from the model's.
    rng: StdRng,
    voice_seq: u64,
    link: Option<Link>,
    online: bool,
    ever_online: bool,
    backlog: VecDeque<Sample>,
    last_sample: Option<Instant>,
    next_sample: Instant,
    reconnect_at: Option<Instant>,
    counters: Arc<Counters>,
}

impl CollarTask {
    fn new(
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
        })
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        self.link = Some(Link::open(&self.mqtt));
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
        // A collar switched off says so itself; otherwise its retained status would read
        // online forever, since a clean disconnect does not fire the Last Will.
        let said_goodbye = self.send(&self.topics.status, OFFLINE_STATUS.into(), true);
        self.set_online(false);
        if let Some(link) = self.link.take() {
            link.close(said_goodbye).await;
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
        if self.rng.gen_bool(VOICE_PROBABILITY) {
            self.send_voice();
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

    fn send_voice(&mut self) {
        let clip = VoiceClip {
            v: 1,
            seq: self.voice_seq,
            ts: chrono::Utc::now().timestamp_millis(),
            codec: "pcm_s16le",
            rate_hz: VOICE_RATE_HZ,
            audio_b64: base64::engine::general_purpose::STANDARD.encode(bark_pcm(&mut self.rng)),
        };
        self.voice_seq += 1;
        if self.send(&self.topics.voice, json(&clip), false) {
            Counters::add(&self.counters.voice_sent, 1);
        }
    }

    fn on_event(&mut self, event: LinkEvent) {
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

/// The next event of the current connection; never resolves while there is none.
async fn next_event(link: &mut Option<Link>) -> Option<LinkEvent> {
    match link {
        Some(link) => link.events.recv().await,
        None => std::future::pending().await,
    }
}

fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("our messages have string keys and finite numbers")
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
