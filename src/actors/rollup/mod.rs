//! `RollupSupervisor`: every `PETTYSYNC_ROLLUP_INTERVAL_S` runs a roll-up pass (`pass`) on
//! this node, unless another node holds the job's lock, or this node's previous pass is still
//! going. Each batch of a pass commits on its own, so stopping mid-pass loses nothing: the
//! marks not yet cleared wait for the next pass.
//!
//! - `pass`: one pass, also run once by `pettysync rollup`.

pub mod pass;

use std::time::Duration;

use actix::prelude::*;

pub use self::pass::{run_pass, PassReport};
use crate::store::history::History;

pub struct RollupSupervisor {
    history: History,
    interval: Duration,
    running: bool,
}

impl RollupSupervisor {
    pub fn new(history: History, interval: Duration) -> Self {
        Self {
            history,
            interval,
            running: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let history = self.history.clone();
        let pass = async move { run_pass(&history).await };
        ctx.spawn(
            crate::rt::guarded(pass)
                .into_actor(self)
                .map(|_, actor, _| {
                    // Logged and counted by the pass; a failed one is retried by the next tick.
                    actor.running = false;
                }),
        );
    }
}

impl Actor for RollupSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |actor, ctx| actor.tick(ctx));
    }
}

/// Stop running passes; one under way is dropped between its awaits (its lock's session
/// closes, and its uncommitted batch is rolled back).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRollups;

impl Handler<StopRollups> for RollupSupervisor {
    type Result = ();

    fn handle(&mut self, _: StopRollups, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
