//! Where events go: a pet's new state and its new moods to the sessions watching it (share
//! sessions cut them to their scopes); a stored alert to every session of its recipients
//! and to the share-link sessions of its pet.

use std::collections::HashSet;
use std::sync::Arc;

use actix::{Context, Handler};

use super::{LiveHub, PeerEvent, SessionEvent};
use crate::actors::events::{AlertStored, MoodRecorded, StateChanged};
use crate::ids::{PetId, UserId};

impl LiveHub {
    /// Sends `event` to every session watching `pet_id`.
    fn to_watchers(&self, pet_id: PetId, event: impl Fn() -> SessionEvent) {
        let Some(watchers) = self.watchers.get(&pet_id) else {
            return;
        };
        let addrs = watchers
            .iter()
            .filter_map(|id| self.sessions.get(id)?.addr.as_ref());
        for addr in addrs {
            addr.do_send(event());
        }
    }
}

impl LiveHub {
    pub(super) fn route_state(&self, msg: &StateChanged) {
        self.to_watchers(msg.pet_id, || SessionEvent::State {
            pet_id: msg.pet_id,
            state: Arc::clone(&msg.state),
        });
    }

    pub(super) fn route_mood(&self, mood: &Arc<MoodRecorded>) {
        self.to_watchers(mood.pet_id, || SessionEvent::Mood(Arc::clone(mood)));
    }

    pub(super) fn route_alert(&self, msg: &AlertStored) {
        // A user listed twice still gets each alert once per session.
        let recipients: HashSet<UserId> = msg.recipients.iter().copied().collect();
        // Share sessions of the pet too: each cuts the alert to its link's scopes.
        let sessions = recipients
            .iter()
            .filter_map(|user| self.sessions_of_user.get(user))
            .chain(self.share_sessions_of_pet.get(&msg.alert.pet_id))
            .flatten()
            .filter_map(|id| self.sessions.get(id)?.addr.as_ref());
        for addr in sessions {
            addr.do_send(SessionEvent::Alert(Arc::clone(&msg.alert)));
        }
    }
}

impl Handler<StateChanged> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: StateChanged, _: &mut Context<Self>) {
        self.route_state(&msg);
        self.to_peers(|| PeerEvent::State(msg));
    }
}

impl Handler<MoodRecorded> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: MoodRecorded, _: &mut Context<Self>) {
        let mood = Arc::new(msg);
        self.route_mood(&mood);
        self.to_peers(|| PeerEvent::Mood(mood));
    }
}

impl Handler<AlertStored> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: AlertStored, _: &mut Context<Self>) {
        self.route_alert(&msg);
        self.to_peers(|| PeerEvent::Alert(msg));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::super::testing::{some_alert, watch, Setup};
    use super::super::{GetHubStats, SessionEvent, SharedLink};
    use crate::actors::events::{
        Alert, AlertKind, AlertStored, LiveState, MoodRecorded, MoodState, StateChanged,
    };
    use crate::ids::{PetId, UserId};
    use crate::mood::Mood;

    #[actix::test]
    async fn alerts_reach_every_session_of_a_recipient_and_no_one_else() {
        let setup = Setup::start();
        let (owner, other) = (UserId::new(), UserId::new());
        let (_, phone) = setup.session(owner).await;
        let (_, web) = setup.session(owner).await;
        let (_, stranger) = setup.session(other).await;
        let alert = Alert {
            id: Uuid::new_v4(),
            pet_id: PetId::new(),
            kind: AlertKind::GeofenceExit,
            at: 1,
            details: serde_json::json!({}),
            acknowledged_at: None,
        };
        setup.hub.do_send(AlertStored {
            alert: Arc::new(alert),
            recipients: vec![owner, owner],
        });
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(phone.events().await, 1);
        assert_eq!(web.events().await, 1);
        assert_eq!(stranger.events().await, 0);
        assert!(matches!(
            phone.seen.lock().unwrap()[0],
            SessionEvent::Alert(_)
        ));
    }

    #[actix::test]
    async fn state_changes_reach_only_the_sessions_watching_the_pet() {
        let setup = Setup::start();
        let user = UserId::new();
        let (watching, watcher) = setup.session(user).await;
        let (_, idle) = setup.session(user).await;
        let (pet, other_pet) = (PetId::new(), PetId::new());
        setup.hub.do_send(watch(watching, pet));
        for pet_id in [pet, other_pet] {
            setup.hub.do_send(StateChanged {
                pet_id,
                state: Arc::new(LiveState::default()),
            });
        }
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(watcher.events().await, 1);
        assert_eq!(idle.events().await, 0);
        let seen = watcher.seen.lock().unwrap();
        assert!(matches!(&seen[0], SessionEvent::State { pet_id, .. } if *pet_id == pet));
    }

    #[actix::test]
    async fn moods_reach_only_the_sessions_watching_the_pet() {
        let setup = Setup::start();
        let user = UserId::new();
        let (watching, watcher) = setup.session(user).await;
        let (_, idle) = setup.session(user).await;
        let (pet, other_pet) = (PetId::new(), PetId::new());
        setup.hub.do_send(watch(watching, pet));
        for pet_id in [pet, other_pet] {
            setup.hub.do_send(MoodRecorded {
                id: Uuid::new_v4(),
                pet_id,
                mood: MoodState {
                    mood: Mood::Happy,
                    confidence: 0.9,
                    at: 1,
                },
            });
        }
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(watcher.events().await, 1);
        assert_eq!(idle.events().await, 0);
        let seen = watcher.seen.lock().unwrap();
        assert!(matches!(&seen[0], SessionEvent::Mood(mood) if mood.pet_id == pet));
    }

    #[actix::test]
    async fn alerts_reach_the_share_sessions_of_their_pet_only() {
        let setup = Setup::start();
        let (pet, other_pet) = (PetId::new(), PetId::new());
        let link = |pet_id| SharedLink {
            link_id: Uuid::new_v4(),
            pet_id,
        };
        let (_, viewer) = setup.share_session(link(pet)).await;
        let (_, other) = setup.share_session(link(other_pet)).await;
        setup.hub.do_send(some_alert(pet));
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(viewer.events().await, 1);
        assert_eq!(other.events().await, 0);
    }
}
