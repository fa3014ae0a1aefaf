//! Watches, and live mode: a collar reports every few seconds while at least one session
//! watches its pet, and returns to its normal interval a grace period after the last
//! watcher left.

use actix::{AsyncContext, Context, Handler, Message};
use uuid::Uuid;

use super::LiveHub;
use crate::actors::events::SetLiveMode;
use crate::ids::PetId;

/// A session starts watching a pet; the caller has checked the right to see it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// The watching session.
    pub session_id: Uuid,
    /// The watched pet.
    pub pet_id: PetId,
}

/// A session stops watching a pet.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    /// The session.
    pub session_id: Uuid,
    /// The pet it no longer watches.
    pub pet_id: PetId,
}

impl LiveHub {
    pub(super) fn add_watcher(&mut self, session_id: Uuid, pet_id: PetId, ctx: &mut Context<Self>) {
        let watchers = self.watchers.entry(pet_id).or_default();
        if !watchers.insert(session_id) || watchers.len() > 1 {
            return;
        }
        // The first watcher: a pending grace period ends without a switch.
        if let Some(timer) = self.grace_timers.remove(&pet_id) {
            ctx.cancel_future(timer);
        }
        if self.live.insert(pet_id) {
            self.live_mode.do_send(SetLiveMode { pet_id, live: true });
        }
    }

    pub(super) fn remove_watcher(
        &mut self,
        session_id: Uuid,
        pet_id: PetId,
        ctx: &mut Context<Self>,
    ) {
        let Some(watchers) = self.watchers.get_mut(&pet_id) else {
            return;
        };
        if !watchers.remove(&session_id) || !watchers.is_empty() {
            return;
        }
        self.watchers.remove(&pet_id);
        let timer = ctx.run_later(self.grace, move |hub, _| hub.grace_over(pet_id));
        self.grace_timers.insert(pet_id, timer);
    }

    fn grace_over(&mut self, pet_id: PetId) {
        self.grace_timers.remove(&pet_id);
        if !self.watchers.contains_key(&pet_id) && self.live.remove(&pet_id) {
            self.live_mode.do_send(SetLiveMode {
                pet_id,
                live: false,
            });
        }
        self.publish_gauges();
    }
}

impl Handler<Watch> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        // A session that already closed must not keep a pet live.
        let Some(entry) = self.sessions.get_mut(&msg.session_id) else {
            return;
        };
        if entry.pets.insert(msg.pet_id) {
            self.add_watcher(msg.session_id, msg.pet_id, ctx);
            self.publish_gauges();
        }
    }
}

impl Handler<Unwatch> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, ctx: &mut Context<Self>) {
        let Some(entry) = self.sessions.get_mut(&msg.session_id) else {
            return;
        };
        if entry.pets.remove(&msg.pet_id) {
            self.remove_watcher(msg.session_id, msg.pet_id, ctx);
            self.publish_gauges();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{unwatch, watch, Setup};
    use super::super::{Disconnect, GetHubStats};
    use crate::ids::{PetId, UserId};

    #[actix::test]
    async fn the_first_watcher_switches_live_mode_on_once() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let (b, _pb) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.hub.do_send(watch(b, pet));
        setup.hub.do_send(watch(a, pet));
        assert_eq!(setup.switches().await, vec![(pet, true)]);
    }

    #[actix::test]
    async fn live_mode_ends_only_when_the_grace_after_the_last_watcher_is_over() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let (b, _pb) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(watch(b, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.hub.do_send(Disconnect { session_id: b });
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.advance(Duration::from_secs(29)).await;
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.advance(Duration::from_secs(2)).await;
        assert_eq!(setup.switches().await, vec![(pet, true), (pet, false)]);
        let stats = setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(
            (stats.sessions, stats.watched_pets, stats.live_pets),
            (1, 0, 0)
        );
    }

    #[actix::test]
    async fn a_watcher_back_within_the_grace_keeps_live_mode_without_switching() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(20)).await;
        setup.hub.do_send(watch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(60)).await;
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        let stats = setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!((stats.watched_pets, stats.live_pets), (1, 1));
    }

    #[actix::test]
    async fn leaving_again_after_a_return_restarts_the_grace() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(20)).await;
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(20)).await;
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.advance(Duration::from_secs(11)).await;
        assert_eq!(setup.switches().await, vec![(pet, true), (pet, false)]);
    }
}
