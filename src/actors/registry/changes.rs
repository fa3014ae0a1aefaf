//! Changes made on another node for a collar this node may run: the node where a fence was
//! drawn, a collar paired or a clip classified tells every node through the bus, and the
//! one running the collar's actor (its owner) applies the change as if it were local. A
//! node that runs no actor for the pet's collar does nothing with it.

use actix::prelude::*;

use super::{CollarRegistry, PetChanged};
use crate::actors::events::{MoodRecorded, SetLiveMode};
use crate::ids::PetId;
use crate::store::bus::CollarChange;

/// A change for a pet's collar actor. The registry applies it; the bus, given the same
/// message, tells the other nodes (see `Actors`, which does both).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct CollarChanged {
    pub change: CollarChange,
}

impl Handler<CollarChanged> for CollarRegistry {
    type Result = ();

    fn handle(&mut self, msg: CollarChanged, ctx: &mut Context<Self>) {
        match msg.change {
            CollarChange::Setup { pet_id } => ctx.notify(PetChanged { pet_id }),
            CollarChange::Pairing { pet_id } => {
                ctx.spawn(self.reload(pet_id));
            }
            CollarChange::Interval { pet_id } => ctx.notify(IntervalSet { pet_id }),
            CollarChange::Mood { id, pet_id, mood } => {
                ctx.notify(MoodRecorded { id, pet_id, mood })
            }
        }
    }
}

/// The owner set the collar's own interval (HTTP → registry): the setup is reloaded, and a
/// pet in live mode keeps its live interval until the last watcher leaves, after which the
/// collar returns to the interval just set.
#[derive(Message)]
#[rtype(result = "()")]
pub struct IntervalSet {
    /// The pet whose collar was told a new interval.
    pub pet_id: PetId,
}

impl Handler<IntervalSet> for CollarRegistry {
    type Result = ();

    fn handle(&mut self, msg: IntervalSet, ctx: &mut Context<Self>) {
        ctx.notify(PetChanged { pet_id: msg.pet_id });
        if self.live_pets.contains(&msg.pet_id) {
            ctx.notify(SetLiveMode {
                pet_id: msg.pet_id,
                live: true,
            });
        }
    }
}
