//! `CollarActor`: one per collar that reported recently. It is the only writer of its pet's
//! live state, so the rules that need history (three readings in a row, once per charge,
//! two fixes outside) are plain fields here. It never awaits I/O: state goes to the live
//! hub; the alerts a message raised and the snapshot it left go back to the pipeline, which
//! stores them with the message before acknowledging it (so neither an alert nor a rule's
//! memory runs ahead of what the broker would redeliver after a crash). Alerts raised by
//! its own timers go to persistence directly.
//!
//! - `handlers`: the messages a collar actor takes, and what it does with each;
//! - `apply`: one sample's effect on the live state and the alert rules;
//! - `pairings`: which pet a sample belongs to;
//! - `retire`: stopping when the collar moved to another node;
//! - `snapshot`: what survives a restart.

mod apply;
mod handlers;
mod lag;
mod pairings;
mod retire;
mod snapshot;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;

pub use self::handlers::{
    FencesIndexed, GetState, LiveModeChanged, PetAt, SetMood, SetupChanged, StatusReport, Telemetry,
};
pub use self::lag::IngestLag;
pub use self::pairings::Pairings;
pub use self::retire::Retire;
pub use self::snapshot::{snapshot_key, SeqSet, Snapshot, SnapshotWrite};
use super::alerts::RaiseAlert;
use super::events::StateChanged;
use super::persistence::Append;
use super::registry::Deregister;
use super::rules::default_hr_band;
use crate::fence_index::IndexedFence;
use crate::geofence::{FenceGeometry, FenceKind};
use crate::ids::PetId;
use crate::store::collars::CollarSetup;

/// Silence longer than this many reporting intervals means the collar is offline.
pub const SILENT_INTERVALS: u32 = 3;
/// Longest a collar's silence is excused by ingest being behind (its messages may wait at
/// the broker), past its own silence window: then it is reported offline all the same.
pub const MAX_SILENCE_DEFERRAL: Duration = Duration::from_secs(10 * 60);
/// How often an actor checks whether it has been idle long enough to stop.
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// An offline (or unpaired) collar's actor stops after this long without a message; its
/// state survives in Redis.
pub const IDLE_STOP_AFTER: Duration = Duration::from_secs(15 * 60);
/// Reporting interval of a collar in live mode (collar protocol).
pub const LIVE_INTERVAL_S: u32 = 3;
/// Wait before offering a state again to a hub whose mailbox was full.
const STATE_RETRY: Duration = Duration::from_millis(20);
/// Messages a collar actor's mailbox holds before senders wait.
pub const MAILBOX_CAPACITY: usize = 256;

/// Where a collar actor sends what it produces.
#[derive(Clone)]
pub struct CollarOutputs {
    pub hub: Recipient<StateChanged>,
    /// Alerts and snapshots that no collar message carries (timers, setup changes, stop).
    pub persistence: Recipient<Append>,
    pub registry: Recipient<Deregister>,
    /// When ingest last fell behind (silence then is ours, not the collar's).
    pub lag: IngestLag,
}

/// What the actor made of one collar message, for the pipeline to store with it.
#[derive(Debug, Default)]
pub struct Applied {
    /// The pet each sample is stored under (the pet the collar was on at the sample's
    /// time), in message order.
    pub pets: Vec<Option<PetId>>,
    /// Alerts the message raised: stored before the message is acknowledged.
    pub alerts: Vec<RaiseAlert>,
    /// The actor's memory after the message, written once the message is stored.
    pub snapshot: Option<SnapshotWrite>,
}

pub struct CollarActor {
    serial: String,
    pet_id: Option<PetId>,
    pairings: Pairings,
    /// The collar's own reporting interval (seconds), used outside live mode.
    interval_s: u32,
    hr_band: (u16, u16),
    /// Shared with the registry's indexing, which swaps in the indexed fences when ready.
    fences: Arc<[IndexedFence]>,
    snap: Snapshot,
    outputs: CollarOutputs,
    /// Alerts raised and not yet handed on.
    raised: Vec<RaiseAlert>,
    last_message: Instant,
    silence: Option<SpawnHandle>,
    /// A state the hub had no room for is offered again by this timer.
    state_retry: Option<SpawnHandle>,
}

impl CollarActor {
    /// `fences` are the setup's fences, exact (`exact_fences`) or indexed beforehand off the
    /// actor threads (indexing a large fence takes milliseconds; see `index_fences`), and
    /// then [`FencesIndexed`] swaps the indexed ones in. A snapshot of another pet than
    /// the setup's is not resumed.
    pub fn new(
        setup: CollarSetup,
        fences: Arc<[IndexedFence]>,
        snapshot: Option<Snapshot>,
        live: bool,
        outputs: CollarOutputs,
    ) -> Self {
        let snap = snapshot
            .filter(|snap| snap.pet_id == setup.pet_id)
            .unwrap_or_else(|| Snapshot::for_pet(setup.pet_id));
        let mut actor = Self {
            serial: setup.serial.clone(),
            pet_id: setup.pet_id,
            pairings: Pairings::default(),
            interval_s: 300,
            hr_band: (1, 400),
            fences: Arc::from([]),
            snap,
            outputs,
            raised: Vec::new(),
            last_message: Instant::now(),
            silence: None,
            state_retry: None,
        };
        actor.apply_setup(setup, fences);
        actor.snap.state.live = live;
        actor
    }

    /// Takes a new setup. When the collar changed pets, the previous pet's state and rule
    /// memory are dropped: the new owner sees nothing of the pet it was on before.
    fn apply_setup(&mut self, setup: CollarSetup, fences: Arc<[IndexedFence]>) {
        if setup.pet_id != self.snap.pet_id {
            let live = self.snap.state.live;
            self.snap = Snapshot::for_pet(setup.pet_id);
            self.snap.state.live = live;
        }
        self.pet_id = setup.pet_id;
        self.pairings = Pairings::new(setup.pet_id, setup.pairings);
        self.interval_s = u32::try_from(setup.interval_s).unwrap_or(300);
        let default = default_hr_band(setup.species.as_deref().unwrap_or("other"));
        let band = |v: Option<i32>, d: u16| v.and_then(|v| u16::try_from(v).ok()).unwrap_or(d);
        self.hr_band = (band(setup.hr_min, default.0), band(setup.hr_max, default.1));
        self.fences = fences;
        // Trackers of deleted fences go; new fences start from the next fix.
        let ids: Vec<_> = self.fences.iter().map(|f| f.id).collect();
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
        self.silence = Some(ctx.run_later(after, move |actor, ctx| {
            actor.silence = None;
            let deferred_for = actor.last_message.elapsed().saturating_sub(after);
            if actor.outputs.lag.within(after) && deferred_for < MAX_SILENCE_DEFERRAL {
                // Ingest fell behind meanwhile: the collar's messages may be waiting at the
                // broker. Give it another whole window once ingest keeps up — up to a limit,
                // so a server that stays behind still tells owners their collar is silent.
                metrics::counter!("pettysync_silence_deferred_total").increment(1);
                return actor.rearm_silence(ctx);
            }
            actor.went_offline("silent", ctx);
            // No message carries this alert: it goes to persistence on its own.
            actor.persist_now();
        }));
    }

    fn went_offline(&mut self, reason: &str, ctx: &mut Context<Self>) {
        self.snap.state.online = false;
        if self.snap.offline.went_offline().is_some() {
            self.raise_offline(reason);
        }
        self.publish_state(ctx);
    }

    fn heard_from(&mut self, ctx: &mut Context<Self>) {
        self.last_message = Instant::now();
        self.snap.state.online = true;
        self.snap.offline.came_back();
        self.rearm_silence(ctx);
    }

    /// Hands the whole state to the hub. When the hub's mailbox is full the state is not
    /// queued (it would pile up behind a busy hub): it is offered again after
    /// `STATE_RETRY`, and since every state is whole, only the newest matters.
    fn publish_state(&mut self, ctx: &mut Context<Self>) {
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
                        actor.publish_state(ctx);
                    }));
                }
            }
            Err(SendError::Closed(_)) => {}
        }
    }

    /// The alerts raised since the last call, and the snapshot to write after them. Every
    /// message leaves a snapshot: persistence writes the newest of each batch before it
    /// acknowledges the batch, so a restart resumes where the broker's redelivery starts.
    fn take_effects(&mut self) -> (Vec<RaiseAlert>, SnapshotWrite) {
        let alerts = std::mem::take(&mut self.raised);
        let snapshot = SnapshotWrite {
            serial: self.serial.clone(),
            snapshot: self.snap.clone(),
        };
        (alerts, snapshot)
    }

    /// Hands alerts and the snapshot to persistence when no collar message carries them.
    fn persist_now(&mut self) {
        let (alerts, snapshot) = self.take_effects();
        self.outputs.persistence.do_send(Append {
            alerts,
            snapshot: Some(snapshot),
            ..Append::default()
        });
    }

    /// What a handled message leaves for the pipeline to store.
    fn applied(&mut self, pets: Vec<Option<PetId>>) -> Applied {
        let (alerts, snapshot) = self.take_effects();
        Applied {
            pets,
            alerts,
            snapshot: Some(snapshot),
        }
    }
}

/// Indexes the setup's fences. CPU work of milliseconds per large fence: callers run it on
/// a blocking thread, not on an actor's arbiter.
pub fn index_fences(setup: &CollarSetup) -> Arc<[IndexedFence]> {
    fences_of(setup, IndexedFence::new)
}

/// The setup's fences without their index: quick to build, so an actor starts at once,
/// placing fixes exactly until the indexed fences (`index_fences`) arrive.
pub fn exact_fences(setup: &CollarSetup) -> Arc<[IndexedFence]> {
    fences_of(setup, IndexedFence::exact)
}

fn fences_of(
    setup: &CollarSetup,
    build: fn(crate::ids::GeofenceId, FenceKind, FenceGeometry) -> IndexedFence,
) -> Arc<[IndexedFence]> {
    setup
        .fences
        .iter()
        .filter_map(|f| {
            let kind = FenceKind::parse(&f.kind)?;
            let geometry = FenceGeometry::parse(&f.geometry.0).ok()?;
            Some(build(f.id, kind, geometry))
        })
        .collect()
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
        self.persist_now();
        self.outputs.registry.do_send(Deregister {
            serial: self.serial.clone(),
            addr: ctx.address(),
        });
        Running::Stop
    }
}
