//! A classified clip's mood on its way to the live state: the registry hands it to the
//! collar actor of the pet, starting that actor (from its setup and snapshot) when it is
//! not running, so the actor stays the only writer of the pet's state and its snapshot.
//! In a cluster every node hears of the mood (see `changes`); only the collar's owner
//! applies it, and the others let it go.

use actix::prelude::*;

use super::{CollarRegistry, NotOwner, Resolve};
use crate::actors::collar::SetMood;
use crate::actors::events::MoodRecorded;
use crate::store::collars;

impl Handler<MoodRecorded> for CollarRegistry {
    type Result = ();

    fn handle(&mut self, msg: MoodRecorded, ctx: &mut Context<Self>) {
        let set = SetMood {
            pet_id: msg.pet_id,
            mood: msg.mood,
        };
        let running = self
            .by_pet
            .get(&msg.pet_id)
            .and_then(|serial| self.running(serial));
        if let Some(addr) = running {
            return addr.do_send(set);
        }
        let (pg, registry) = (self.pg.clone(), ctx.address());
        let start = async move {
            let serial = collars::serial_of_pet(&pg, msg.pet_id).await?;
            // A pet without a collar has no live state to show a mood in.
            let Some(serial) = serial else { return Ok(()) };
            match registry.send(Resolve { serial }).await? {
                Ok(Some(addr)) => addr.do_send(set),
                Ok(None) => {}
                Err(error) if error.is::<NotOwner>() => {}
                Err(error) => return Err(error),
            }
            anyhow::Ok(())
        };
        ctx.spawn(
            crate::rt::guarded(start)
                .into_actor(self)
                .map(|result, _, _| {
                    if let Err(error) = result {
                        tracing::warn!(error = ?error, "a mood did not reach the live state");
                    }
                }),
        );
    }
}
