//! Ending what sessions may no longer see: a revoked share link closes every session on it;
//! a user who lost a pet (removed as a member, or the pet deleted) stops watching it in
//! every session at once, so its live mode ends after the grace; an ended sign-in closes the
//! sessions opened with its tokens.

use actix::{Context, Handler, Message};
use uuid::Uuid;

use super::{LiveHub, PeerEvent, SessionEvent};
use crate::ids::{PetId, UserId};

/// A share link was revoked: every session on it gets `revoked` and closes (HTTP → hub).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RevokeShare {
    /// The revoked link.
    pub link_id: Uuid,
}

impl Handler<RevokeShare> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: RevokeShare, _: &mut Context<Self>) {
        self.revoke_share(msg.link_id);
        self.to_peers(|| PeerEvent::RevokeShare {
            link_id: msg.link_id,
        });
    }
}

impl LiveHub {
    pub(super) fn revoke_share(&mut self, link_id: Uuid) {
        // Each session closes itself; its `Disconnect` then cleans up here.
        let ids: Vec<Uuid> = self
            .sessions_of_link
            .get(&link_id)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for id in ids {
            if let Some(session) = self.sessions.get_mut(&id) {
                session.send(SessionEvent::Revoked);
            }
        }
    }
}

/// These users lost a pet: each of their sessions stops watching it now, says `revoked` for
/// it and shows nothing more of it (HTTP → hub, after the change is committed).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PetAccessLost {
    /// The pet.
    pub pet_id: PetId,
    /// The users who may no longer see it.
    pub users: Vec<UserId>,
}

impl Handler<PetAccessLost> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: PetAccessLost, ctx: &mut Context<Self>) {
        self.pet_access_lost(msg.pet_id, &msg.users, ctx);
        self.to_peers(|| PeerEvent::PetAccessLost {
            pet_id: msg.pet_id,
            users: msg.users,
        });
    }
}

impl LiveHub {
    pub(super) fn pet_access_lost(
        &mut self,
        pet_id: PetId,
        users: &[UserId],
        ctx: &mut Context<Self>,
    ) {
        for user in users {
            for id in self.session_ids_of(*user) {
                let Some(session) = self.sessions.get_mut(&id) else {
                    continue;
                };
                session.send(SessionEvent::PetLost(pet_id));
                // At once, not when the session gets to it: a slow session must not keep
                // the collar in live mode.
                if session.pets.remove(&pet_id) {
                    self.remove_watcher(id, pet_id, ctx);
                }
            }
        }
        self.publish_gauges();
    }
}

/// A sign-in of a user ended (logout revoked its refresh-token family): the user's sessions
/// opened with its tokens say `revoked` and close (HTTP → hub).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SignInEnded {
    /// The user.
    pub user: UserId,
    /// The refresh-token family; each session knows whether its token belongs to it.
    pub family: Uuid,
}

impl Handler<SignInEnded> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: SignInEnded, _: &mut Context<Self>) {
        self.sign_in_ended(msg.user, msg.family);
        self.to_peers(|| PeerEvent::SignInEnded {
            user: msg.user,
            family: msg.family,
        });
    }
}

impl LiveHub {
    pub(super) fn sign_in_ended(&mut self, user: UserId, family: Uuid) {
        for id in self.session_ids_of(user) {
            if let Some(session) = self.sessions.get_mut(&id) {
                session.send(SessionEvent::SignInEnded(family));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use std::time::Duration;

    use super::super::testing::{some_alert, watch, Setup};
    use super::super::{
        Admit, Disconnect, GetHubStats, Party, SessionEvent, SharedLink, LIVE_GRACE,
    };
    use super::{PetAccessLost, RevokeShare, SignInEnded};
    use crate::ids::{PetId, UserId};

    #[actix::test]
    async fn revoking_a_link_reaches_its_sessions_and_no_other() {
        let setup = Setup::start();
        let pet = PetId::new();
        let revoked = SharedLink {
            link_id: Uuid::new_v4(),
            pet_id: pet,
        };
        let kept = SharedLink {
            link_id: Uuid::new_v4(),
            pet_id: pet,
        };
        let (_, first) = setup.share_session(revoked).await;
        let (_, second) = setup.share_session(revoked).await;
        let (_, other) = setup.share_session(kept).await;
        setup.hub.do_send(RevokeShare {
            link_id: revoked.link_id,
        });
        setup.hub.send(GetHubStats).await.unwrap();
        for probe in [&first, &second] {
            assert_eq!(probe.events().await, 1);
            assert!(matches!(
                probe.seen.lock().unwrap()[0],
                SessionEvent::Revoked
            ));
        }
        assert_eq!(other.events().await, 0);
    }

    #[actix::test]
    async fn a_closed_share_session_leaves_no_trace() {
        let setup = Setup::start();
        let link = SharedLink {
            link_id: Uuid::new_v4(),
            pet_id: PetId::new(),
        };
        let (session_id, probe) = setup.share_session(link).await;
        setup.hub.do_send(Disconnect { session_id });
        setup.hub.do_send(some_alert(link.pet_id));
        setup.hub.do_send(RevokeShare {
            link_id: link.link_id,
        });
        let stats = setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(stats.sessions, 0);
        assert_eq!(probe.events().await, 0);
    }

    #[actix::test]
    async fn a_lost_pet_reaches_its_users_sessions_and_ends_their_watch_at_once() {
        tokio::time::pause();
        let setup = Setup::start();
        let (member, owner) = (UserId::new(), UserId::new());
        let (phone, phone_log) = setup.session(member).await;
        let (_, web_log) = setup.session(member).await;
        let (owners, owner_log) = setup.session(owner).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(phone, pet));
        setup.hub.do_send(watch(owners, pet));
        setup.hub.do_send(PetAccessLost {
            pet_id: pet,
            users: vec![member],
        });
        setup.switches().await;
        for log in [&phone_log, &web_log] {
            assert_eq!(log.events().await, 1);
            assert!(matches!(log.seen.lock().unwrap()[0], SessionEvent::PetLost(p) if p == pet));
        }
        assert_eq!(owner_log.events().await, 0);
        let stats = setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(stats.watched_pets, 1, "the owner still watches");

        setup.hub.do_send(PetAccessLost {
            pet_id: pet,
            users: vec![owner],
        });
        setup.switches().await;
        setup.advance(LIVE_GRACE + Duration::from_secs(1)).await;
        assert_eq!(setup.switches().await, vec![(pet, true), (pet, false)]);
    }

    #[actix::test]
    async fn an_ended_sign_in_reaches_every_session_of_its_user_only() {
        let setup = Setup::start();
        let (user, other) = (UserId::new(), UserId::new());
        let (_, mine) = setup.session(user).await;
        let (_, theirs) = setup.session(other).await;
        let family = Uuid::new_v4();
        setup.hub.do_send(SignInEnded { user, family });
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(mine.events().await, 1);
        assert!(
            matches!(mine.seen.lock().unwrap()[0], SessionEvent::SignInEnded(f) if f == family)
        );
        assert_eq!(theirs.events().await, 0);
    }

    #[actix::test]
    async fn a_revocation_before_the_session_connects_waits_for_it() {
        let setup = Setup::start();
        let user = UserId::new();
        let admitted = setup
            .hub
            .send(Admit {
                party: Party::User(user),
            })
            .await
            .unwrap()
            .unwrap();
        let family = Uuid::new_v4();
        setup.hub.do_send(SignInEnded { user, family });
        setup.hub.do_send(some_alert(PetId::new()));
        let probe = setup.connect(admitted, user).await;
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(probe.events().await, 1, "the control event, not the alert");
        assert!(matches!(
            probe.seen.lock().unwrap()[0],
            SessionEvent::SignInEnded(_)
        ));
    }
}
