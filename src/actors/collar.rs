//! `CollarActor`: one per collar that reported recently. It is the only writer of its pet's
//! live state, so the rules that need history (three readings in a row, once per charge,
//! two fixes outside) are plain fields here. It never awaits I/O: alerts go to the alert
//! supervisor, state to the live hub, snapshots to Redis from a spawned task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::alerts::RaiseAlert;
use super::events::{ActivityState, AlertKind, Battery, LiveState, Location, StateChanged, Vitals};
use super::registry::Deregister;
use super::rules::{
    default_hr_band, BatteryRule, Crossing, FenceTracker, FixPlacement, HeartRateRule, OfflineRule,
};
use crate::cache::Redis;
use crate::fence_index::IndexedFence;
use crate::geofence::{FenceGeometry, FenceKind};
use crate::ids::{GeofenceId, PetId};
use crate::ingest::decode::Sample;
use crate::store::collars::CollarSetup;

/// Silence longer than this many reporting intervals means the collar is offline.
pub const SILENT_INTERVALS: u32 = 3;
/// How often an actor checks whether it has been idle long enough to stop.
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// An offline (or unpaired) collar's actor stops after this long without a message; its
/// state survives in Redis.
pub const IDLE_STOP_AFTER: Duration = Duration::from_secs(15 * 60);
/// Least time between two snapshots of one collar to Redis.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(2);
/// Snapshots outlive a stopped actor by this much.
const SNAPSHOT_TTL_S: u64 = 7 * 24 * 3600;
/// Reporting interval of a collar in live mode (collar protocol).
pub const LIVE_INTERVAL_S: u32 = 3;
/// Wait before offering a state again to a hub whose mailbox was full.
const STATE_RETRY: Duration = Duration::from_millis(20);
/// H3 resolution of the `h3` cell in the live state (cells of about 2 000 m²).
const STATE_H3_RESOLUTION: h3o::Resolution = h3o::Resolution::Eleven;

/// Everything a restarted actor needs to resume: the live state and each rule's memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub state: LiveState,
    /// Sample time (epoch ms) of the newest sample applied to the live state.
    pub newest_ts: i64,
    /// Day (days since epoch, UTC) that `state.activity.steps_today` counts.
    pub steps_day: i64,
    pub heart_rate: HeartRateRule,
    pub battery: BatteryRule,
    pub offline: OfflineRule,
    pub fences: HashMap<GeofenceId, FenceTracker>,
}

/// Where a collar actor sends what it produces.
#[derive(Clone)]
pub struct CollarOutputs {
    pub hub: Recipient<StateChanged>,
    pub alerts: Recipient<RaiseAlert>,
    pub registry: Recipient<Deregister>,
    pub redis: Redis,
}

/// Snapshot key of a collar.
pub fn snapshot_key(redis: &Redis, serial: &str) -> String {
    redis.key(&format!("live:{serial}"))
}

pub struct CollarActor {
    serial: String,
    pet_id: Option<PetId>,
    interval_s: u32,
    hr_band: (u16, u16),
    fences: Vec<IndexedFence>,
    snap: Snapshot,
    outputs: CollarOutputs,
    last_message: Instant,
    silence: Option<SpawnHandle>,
    /// A state the hub had no room for is offered again by this timer.
    state_retry: Option<SpawnHandle>,
    last_snapshot: Option<Instant>,
    snapshot_in_flight: bool,
}

impl CollarActor {
    /// `fences` are the setup's fences, indexed beforehand off the actor threads (indexing a
    /// large fence takes milliseconds; see `index_fences`).
    pub fn new(
        setup: CollarSetup,
        fences: Vec<IndexedFence>,
        snapshot: Option<Snapshot>,
        live: bool,
        outputs: CollarOutputs,
    ) -> Self {
        let mut actor = Self {
            serial: setup.serial.clone(),
            pet_id: None,
            interval_s: 300,
            hr_band: (1, 400),
            fences: Vec::new(),
            snap: snapshot.unwrap_or_default(),
            outputs,
            last_message: Instant::now(),
            silence: None,
            state_retry: None,
            last_snapshot: None,
            snapshot_in_flight: false,
        };
        actor.apply_setup(setup, fences);
        actor.snap.state.live = live;
        actor
    }

    fn apply_setup(&mut self, setup: CollarSetup, fences: Vec<IndexedFence>) {
        self.pet_id = setup.pet_id;
        self.interval_s = u32::try_from(setup.interval_s).unwrap_or(300);
        let default = default_hr_band(setup.species.as_deref().unwrap_or("other"));
        let band = |v: Option<i32>, d: u16| v.and_then(|v| u16::try_from(v).ok()).unwrap_or(d);
        self.hr_band = (band(setup.hr_min, default.0), band(setup.hr_max, default.1));
        self.fences = fences;
        // Trackers of deleted fences go; new fences start from the next fix.
        let ids: Vec<GeofenceId> = self.fences.iter().map(|f| f.id).collect();
        self.snap.fences.retain(|id, _| ids.contains(id));
        self.snap
            .state
            .geofences
            .inside
            .retain(|id| ids.iter().any(|f| f.to_string() == *id));
    }

    fn current_interval(&self) -> Duration {
        let seconds = if self.snap.state.live {
            LIVE_INTERVAL_S
        } else {
            self.interval_s
        };
        Duration::from_secs(u64::from(seconds.max(LIVE_INTERVAL_S)))
    }

    /// Restarts the silence timer: no message for `SILENT_INTERVALS` intervals → offline.
    fn rearm_silence(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.silence.take() {
            ctx.cancel_future(handle);
        }
        let after = self.current_interval() * SILENT_INTERVALS;
        self.silence = Some(ctx.run_later(after, |actor, ctx| {
            actor.silence = None;
            actor.went_offline("silent", ctx);
        }));
    }

    fn went_offline(&mut self, reason: &str, ctx: &mut Context<Self>) {
        self.snap.state.online = false;
        if self.snap.offline.went_offline().is_some() {
            let at = self.snap.state.last_seen.unwrap_or_else(now_ms);
            self.raise(
                AlertKind::CollarOffline,
                at,
                serde_json::json!({ "reason": reason }),
            );
        }
        self.publish_state(ctx);
    }

    fn heard_from(&mut self, ctx: &mut Context<Self>) {
        self.last_message = Instant::now();
        self.snap.state.online = true;
        self.snap.offline.came_back();
        self.rearm_silence(ctx);
    }

    /// Applies one sample; late ones only add to today's steps.
    fn apply(&mut self, sample: &Sample) {
        let day = sample.ts_ms.div_euclid(86_400_000);
        if let Some(steps) = sample.steps {
            let activity = self.snap.state.activity.get_or_insert(ActivityState {
                act: None,
                steps_today: 0,
            });
            if day > self.snap.steps_day {
                activity.steps_today = 0;
                self.snap.steps_day = day;
            }
            if day == self.snap.steps_day {
                activity.steps_today += u64::from(steps);
            }
        }
        if sample.ts_ms <= self.snap.newest_ts {
            return;
        }
        self.snap.newest_ts = sample.ts_ms;
        let state = &mut self.snap.state;
        state.last_seen = Some(state.last_seen.unwrap_or(0).max(sample.ts_ms));
        if let Some(act) = sample.act {
            let activity = state.activity.get_or_insert(ActivityState {
                act: None,
                steps_today: 0,
            });
            activity.act = Some(act.as_str().to_owned());
        }
        if sample.hr.is_some() || sample.temp.is_some() {
            state.vitals = Some(Vitals {
                hr: sample.hr,
                temp: sample.temp,
                at: sample.ts_ms,
            });
        }
        if let Some(hr) = sample.hr {
            if let Some(kind) = self.snap.heart_rate.observe(hr, self.hr_band) {
                let (min, max) = self.hr_band;
                self.raise(
                    kind,
                    sample.ts_ms,
                    serde_json::json!({ "hr": hr, "min": min, "max": max }),
                );
            }
        }
        if let Some(pct) = sample.bat {
            self.snap.state.battery = Some(Battery {
                pct,
                at: sample.ts_ms,
            });
            if let Some(kind) = self.snap.battery.observe(pct) {
                self.raise(kind, sample.ts_ms, serde_json::json!({ "pct": pct }));
            }
        }
        if let Some(fix) = sample.fix {
            self.apply_fix(fix.lat, fix.lon, fix.acc, sample.ts_ms);
        }
    }

    fn apply_fix(&mut self, lat: f64, lon: f64, acc: Option<f64>, at: i64) {
        let h3 = h3o::LatLng::new(lat, lon)
            .map(|ll| ll.to_cell(STATE_H3_RESOLUTION).to_string())
            .unwrap_or_default();
        self.snap.state.location = Some(Location {
            lat,
            lon,
            acc,
            at,
            h3,
        });
        let point = geo::Point::new(lon, lat);
        let acc_m = acc.unwrap_or(0.0);
        let mut alerts = Vec::new();
        let mut inside = Vec::new();
        for fence in &self.fences {
            let placement = fence.place(point, acc_m);
            let tracker = self.snap.fences.entry(fence.id).or_default();
            let crossing = tracker.observe(FixPlacement {
                inside: placement.inside,
                distance_to_boundary_m: placement.distance_to_boundary_m,
                acc_m,
            });
            if tracker.is_inside() {
                inside.push(fence.id.to_string());
            }
            let kind = match (fence.kind, crossing) {
                (FenceKind::Safe, Some(Crossing::Exited)) => AlertKind::GeofenceExit,
                (FenceKind::KeepOut, Some(Crossing::Entered)) => AlertKind::GeofenceEnter,
                _ => continue,
            };
            // The index may have answered with a lower bound; an alert reports the exact distance.
            let distance = fence.geometry.distance_to_boundary_m(point);
            let details = serde_json::json!({
                "geofence_id": fence.id, "lat": lat, "lon": lon, "acc": acc,
                "distance_m": distance.round(),
            });
            alerts.push((kind, details));
        }
        self.snap.state.geofences.inside = inside;
        for (kind, details) in alerts {
            self.raise(kind, at, details);
        }
    }

    fn raise(&self, kind: AlertKind, at: i64, details: serde_json::Value) {
        let Some(pet_id) = self.pet_id else { return };
        tracing::info!(collar = %self.serial, kind = kind.as_str(), "alert");
        self.outputs.alerts.do_send(RaiseAlert {
            pet_id,
            serial: self.serial.clone(),
            kind,
            at,
            details,
        });
    }

    fn publish_state(&mut self, ctx: &mut Context<Self>) {
        self.offer_state(ctx);
        self.maybe_snapshot(ctx);
    }

    /// Hands the whole state to the hub. When the hub's mailbox is full the state is not
    /// queued (it would pile up behind a busy hub): it is offered again after
    /// `STATE_RETRY`, and since every state is whole, only the newest matters.
    fn offer_state(&mut self, ctx: &mut Context<Self>) {
        let Some(pet_id) = self.pet_id else { return };
        let changed = StateChanged {
            pet_id,
            state: Arc::new(self.snap.state.clone()),
        };
        match self.outputs.hub.try_send(changed) {
            Ok(()) => {
                if let Some(retry) = self.state_retry.take() {
                    ctx.cancel_future(retry);
                }
            }
            Err(SendError::Full(_)) => {
                metrics::counter!("pettysync_hub_full_total").increment(1);
                if self.state_retry.is_none() {
                    self.state_retry = Some(ctx.run_later(STATE_RETRY, |actor, ctx| {
                        actor.state_retry = None;
                        actor.offer_state(ctx);
                    }));
                }
            }
            Err(SendError::Closed(_)) => {}
        }
    }

    /// Writes the snapshot at most every `SNAPSHOT_EVERY`, one write in flight at a time.
    fn maybe_snapshot(&mut self, ctx: &mut Context<Self>) {
        let due = self
            .last_snapshot
            .is_none_or(|at| at.elapsed() >= SNAPSHOT_EVERY);
        if self.snapshot_in_flight || !due {
            return;
        }
        self.snapshot_in_flight = true;
        self.last_snapshot = Some(Instant::now());
        let write = write_snapshot(
            self.outputs.redis.clone(),
            self.serial.clone(),
            self.snap.clone(),
        );
        ctx.spawn(
            write
                .into_actor(self)
                .map(|_, actor, _| actor.snapshot_in_flight = false),
        );
    }
}

/// Indexes the setup's fences. CPU work of milliseconds per large fence: callers run it on
/// a blocking thread, not on an actor's arbiter.
pub fn index_fences(setup: &CollarSetup) -> Vec<IndexedFence> {
    setup
        .fences
        .iter()
        .filter_map(|f| {
            let kind = FenceKind::parse(&f.kind)?;
            let geometry = FenceGeometry::parse(&f.geometry.0).ok()?;
            Some(IndexedFence::new(f.id, kind, geometry))
        })
        .collect()
}

async fn write_snapshot(redis: Redis, serial: String, snap: Snapshot) {
    let result: anyhow::Result<()> = async {
        let json = serde_json::to_string(&snap)?;
        let mut conn = redis.conn().await?;
        let _: () = deadpool_redis::redis::cmd("SET")
            .arg(snapshot_key(&redis, &serial))
            .arg(json)
            .arg("EX")
            .arg(SNAPSHOT_TTL_S)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(collar = %serial, error = ?error, "could not snapshot live state");
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Actor for CollarActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Bound the mailbox so a flood waits at the sender instead of piling up here.
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.rearm_silence(ctx);
        ctx.run_interval(IDLE_CHECK, |actor, ctx| {
            let quiet = actor.last_message.elapsed();
            let settled = actor.snap.offline.is_offline() || actor.pet_id.is_none();
            if settled && quiet >= IDLE_STOP_AFTER {
                ctx.stop();
            }
        });
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        actix::spawn(write_snapshot(
            self.outputs.redis.clone(),
            self.serial.clone(),
            self.snap.clone(),
        ));
        self.outputs.registry.do_send(Deregister {
            serial: self.serial.clone(),
            addr: ctx.address(),
        });
        Running::Stop
    }
}

/// Messages a collar actor's mailbox holds before senders wait.
pub const MAILBOX_CAPACITY: usize = 256;

/// Valid samples from one MQTT message, in message order. Answers with the pet the collar
/// is on now, which the samples are stored under.
#[derive(Message)]
#[rtype(result = "Option<PetId>")]
pub struct Telemetry {
    /// Samples that passed validation (a batch may have had others that did not).
    pub samples: Vec<Sample>,
}

impl Handler<Telemetry> for CollarActor {
    type Result = Option<PetId>;

    fn handle(&mut self, msg: Telemetry, ctx: &mut Context<Self>) -> Option<PetId> {
        self.heard_from(ctx);
        for sample in &msg.samples {
            self.apply(sample);
        }
        self.publish_state(ctx);
        self.pet_id
    }
}

/// The pet the collar is on now (for storing a voice clip under it).
#[derive(Message)]
#[rtype(result = "Option<PetId>")]
pub struct CurrentPet;

impl Handler<CurrentPet> for CollarActor {
    type Result = Option<PetId>;

    fn handle(&mut self, _: CurrentPet, _: &mut Context<Self>) -> Option<PetId> {
        self.pet_id
    }
}

/// The collar's retained status or Last Will.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StatusReport {
    /// False for the Last Will.
    pub online: bool,
}

impl Handler<StatusReport> for CollarActor {
    type Result = ();

    fn handle(&mut self, msg: StatusReport, ctx: &mut Context<Self>) {
        if msg.online {
            self.heard_from(ctx);
            self.publish_state(ctx);
        } else {
            self.last_message = Instant::now();
            if let Some(handle) = self.silence.take() {
                ctx.cancel_future(handle);
            }
            self.went_offline("last_will", ctx);
        }
    }
}

/// The pet, its band or its fences changed: take the new setup.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetupChanged {
    /// The setup as now stored.
    pub setup: CollarSetup,
    /// Its fences, indexed.
    pub fences: Vec<IndexedFence>,
}

impl Handler<SetupChanged> for CollarActor {
    type Result = ();

    fn handle(&mut self, msg: SetupChanged, ctx: &mut Context<Self>) {
        self.apply_setup(msg.setup, msg.fences);
        self.publish_state(ctx);
    }
}

/// Someone started or stopped watching the pet.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LiveModeChanged {
    /// True while watched (3 s reports).
    pub live: bool,
}

impl Handler<LiveModeChanged> for CollarActor {
    type Result = ();

    fn handle(&mut self, msg: LiveModeChanged, ctx: &mut Context<Self>) {
        self.snap.state.live = msg.live;
        // A live collar that goes quiet is noticed within 3 × 3 s, not 3 × 5 min; when live
        // mode ends, allow the slower interval before calling the collar silent.
        if self.silence.is_some() {
            self.rearm_silence(ctx);
        }
        self.publish_state(ctx);
    }
}

/// The live state now.
#[derive(Message)]
#[rtype(result = "LiveState")]
pub struct GetState;

impl Handler<GetState> for CollarActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.snap.state.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    /// Collects what a collar actor sends out.
    #[derive(Default)]
    struct Recorder {
        alerts: Vec<RaiseAlert>,
        states: usize,
    }

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<RaiseAlert> for Recorder {
        type Result = ();
        fn handle(&mut self, msg: RaiseAlert, _: &mut Context<Self>) {
            self.alerts.push(msg);
        }
    }

    impl Handler<StateChanged> for Recorder {
        type Result = ();
        fn handle(&mut self, _: StateChanged, _: &mut Context<Self>) {
            self.states += 1;
        }
    }

    impl Handler<Deregister> for Recorder {
        type Result = ();
        fn handle(&mut self, _: Deregister, _: &mut Context<Self>) {}
    }

    #[derive(Message)]
    #[rtype(result = "Vec<AlertKind>")]
    struct Kinds;

    impl Handler<Kinds> for Recorder {
        type Result = MessageResult<Kinds>;
        fn handle(&mut self, _: Kinds, _: &mut Context<Self>) -> Self::Result {
            MessageResult(self.alerts.iter().map(|a| a.kind).collect())
        }
    }

    fn setup(interval_s: i32) -> CollarSetup {
        CollarSetup {
            serial: "TEST-1".into(),
            pet_id: Some(PetId::new()),
            interval_s,
            species: Some("dog".into()),
            hr_min: None,
            hr_max: None,
            fences: Vec::new(),
        }
    }

    fn collar(recorder: &Addr<Recorder>, interval_s: i32) -> Addr<CollarActor> {
        let settings_redis = crate::config::Settings {
            redis_url: SecretString::from("redis://127.0.0.1:1/0".to_owned()),
            ..crate::config::Settings::load().expect("default settings load")
        };
        let outputs = CollarOutputs {
            hub: recorder.clone().recipient(),
            alerts: recorder.clone().recipient(),
            registry: recorder.clone().recipient(),
            redis: Redis::new(&settings_redis).expect("a lazy pool"),
        };
        CollarActor::new(setup(interval_s), Vec::new(), None, false, outputs).start()
    }

    fn sample(seq: u64) -> Sample {
        Sample {
            seq,
            ts_ms: now_ms(),
            fix: None,
            hr: Some(90),
            steps: None,
            act: None,
            bat: Some(80),
            temp: None,
        }
    }

    /// Lets the actors run everything that is ready without moving the paused clock.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[actix::test]
    async fn silence_for_three_intervals_raises_one_offline_alert() {
        tokio::time::pause();
        let recorder = Recorder::default().start();
        let collar = collar(&recorder, 300);
        collar
            .send(Telemetry {
                samples: vec![sample(1)],
            })
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(899)).await;
        settle().await;
        assert!(
            recorder.send(Kinds).await.unwrap().is_empty(),
            "not before 3 × 300 s"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(
            recorder.send(Kinds).await.unwrap(),
            vec![AlertKind::CollarOffline]
        );
        assert!(!collar.send(GetState).await.unwrap().online);
        // Quiet for IDLE_STOP_AFTER and offline: the actor stops at its next idle check.
        tokio::time::advance(IDLE_STOP_AFTER + IDLE_CHECK).await;
        settle().await;
        assert_eq!(
            recorder.send(Kinds).await.unwrap().len(),
            1,
            "once until it speaks again"
        );
        assert!(
            !collar.connected(),
            "an offline collar's actor stops when idle"
        );
    }

    #[actix::test]
    async fn a_message_before_the_deadline_keeps_the_collar_online() {
        tokio::time::pause();
        let recorder = Recorder::default().start();
        let collar = collar(&recorder, 300);
        for seq in 1..=5 {
            collar
                .send(Telemetry {
                    samples: vec![sample(seq)],
                })
                .await
                .unwrap();
            tokio::time::advance(Duration::from_secs(600)).await;
            settle().await;
        }
        assert!(recorder.send(Kinds).await.unwrap().is_empty());
        assert!(collar.send(GetState).await.unwrap().online);
    }

    #[actix::test]
    async fn live_mode_shortens_the_silence_allowed() {
        tokio::time::pause();
        let recorder = Recorder::default().start();
        let collar = collar(&recorder, 300);
        collar
            .send(Telemetry {
                samples: vec![sample(1)],
            })
            .await
            .unwrap();
        collar.send(LiveModeChanged { live: true }).await.unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        settle().await;
        assert_eq!(
            recorder.send(Kinds).await.unwrap(),
            vec![AlertKind::CollarOffline]
        );
    }

    #[actix::test]
    async fn an_alert_is_only_raised_for_a_paired_collar() {
        let recorder = Recorder::default().start();
        let collar = collar(&recorder, 300);
        let low = Sample {
            bat: Some(10),
            ..sample(1)
        };
        collar.send(Telemetry { samples: vec![low] }).await.unwrap();
        settle().await;
        assert_eq!(
            recorder.send(Kinds).await.unwrap(),
            vec![AlertKind::BatteryLow]
        );
    }
}
