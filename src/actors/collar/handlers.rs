//! The messages a collar actor takes: collar messages from the pipeline (answered with what
//! they left to store), and setup, live-mode, mood and state requests from the registry and
//! HTTP.

use std::sync::Arc;

use actix::prelude::*;
use tokio::time::Instant;

use super::{Applied, CollarActor};
use crate::actors::events::{LiveState, MoodState};
use crate::domain::sample::Sample;
use crate::fence_index::IndexedFence;
use crate::ids::PetId;
use crate::store::collars::CollarSetup;

/// Valid samples from one MQTT message, in message order.
#[derive(Message)]
#[rtype(result = "Applied")]
pub struct Telemetry {
    /// Samples that passed validation (a batch may have had others that did not).
    pub samples: Vec<Sample>,
}

impl Handler<Telemetry> for CollarActor {
    type Result = MessageResult<Telemetry>;

    fn handle(&mut self, msg: Telemetry, ctx: &mut Context<Self>) -> Self::Result {
        self.heard_from(ctx);
        let pets = msg
            .samples
            .iter()
            .map(|sample| {
                if self.pairings.is_current(sample.ts_ms) {
                    self.apply(sample);
                }
                self.pairings.pet_at(sample.ts_ms)
            })
            .collect();
        self.publish_state(ctx);
        MessageResult(self.applied(pets))
    }
}

/// The pet the collar was on at a time (for storing a voice clip under it).
#[derive(Message)]
#[rtype(result = "Option<PetId>")]
pub struct PetAt {
    /// Epoch ms.
    pub ts_ms: i64,
}

impl Handler<PetAt> for CollarActor {
    type Result = Option<PetId>;

    fn handle(&mut self, msg: PetAt, _: &mut Context<Self>) -> Option<PetId> {
        self.pairings.pet_at(msg.ts_ms)
    }
}

/// The collar's retained status or Last Will.
#[derive(Message)]
#[rtype(result = "Applied")]
pub struct StatusReport {
    /// False for the Last Will.
    pub online: bool,
}

impl Handler<StatusReport> for CollarActor {
    type Result = MessageResult<StatusReport>;

    fn handle(&mut self, msg: StatusReport, ctx: &mut Context<Self>) -> Self::Result {
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
        MessageResult(self.applied(Vec::new()))
    }
}

/// The pet, its band, its fences or the collar's interval changed: take the new setup.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetupChanged {
    /// The setup as now stored.
    pub setup: CollarSetup,
    /// Its fences, indexed.
    pub fences: Arc<[IndexedFence]>,
}

/// The fences an actor started with, now indexed (built off the actor threads after it
/// started, so a restart starts actors without waiting for tiling).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FencesIndexed {
    /// The fences the index was built from: a setup that changed meanwhile keeps its own.
    pub replaces: Arc<[IndexedFence]>,
    /// The same fences with their cells.
    pub fences: Arc<[IndexedFence]>,
}

impl Handler<FencesIndexed> for CollarActor {
    type Result = ();

    fn handle(&mut self, msg: FencesIndexed, _: &mut Context<Self>) {
        if Arc::ptr_eq(&self.fences, &msg.replaces) {
            self.fences = msg.fences;
        }
    }
}

impl Handler<SetupChanged> for CollarActor {
    type Result = ();

    fn handle(&mut self, msg: SetupChanged, ctx: &mut Context<Self>) {
        let repaired = msg.setup.pet_id != self.pet_id;
        self.apply_setup(msg.setup, msg.fences);
        // A new interval changes how long a silence may last.
        if self.silence.is_some() {
            self.rearm_silence(ctx);
        }
        if repaired {
            // The reset state replaces the previous pet's in Redis.
            self.persist_now();
        }
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

/// A voice clip of the pet was classified: its mood goes into the live state (registry →
/// collar actor of the pet).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetMood {
    /// The pet whose clip it was: a collar on another pet by now ignores it.
    pub pet_id: PetId,
    /// The clip's mood.
    pub mood: MoodState,
}

impl Handler<SetMood> for CollarActor {
    type Result = ();

    fn handle(&mut self, msg: SetMood, ctx: &mut Context<Self>) {
        if self.pet_id != Some(msg.pet_id) || !msg.mood.supersedes(self.snap.state.mood.as_ref()) {
            return;
        }
        self.snap.state.mood = Some(msg.mood);
        // No collar message carries this change: its snapshot goes to persistence itself.
        self.persist_now();
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
