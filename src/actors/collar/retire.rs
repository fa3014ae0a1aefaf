//! A collar actor told to stop because another node owns its collar now: it stops at once,
//! leaving its snapshot to persistence on the way out (`stopping`), so the new owner resumes
//! from where this one left off.

use actix::prelude::*;

use super::CollarActor;

/// The collar moved to another node: stop now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for CollarActor {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
