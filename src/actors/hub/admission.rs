//! Caps on open sessions: at most [`SessionCaps::per_user`] per signed-in user and
//! [`SessionCaps::per_link`] per share link, on this server. The HTTP layer asks for a place
//! ([`Admit`]) before it upgrades, so a refusal is a clean 429 and never a half-open socket;
//! the place is the session's until it disconnects, or given back if it never starts.

use actix::{Addr, Context, Handler, Message};
use uuid::Uuid;

use super::{Disconnect, LiveHub, SessionEntry, SharedLink};
use crate::ids::UserId;

/// How many sessions one viewer may hold open (from the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCaps {
    /// Sessions per signed-in user.
    pub per_user: usize,
    /// Sessions per share link.
    pub per_link: usize,
}

impl Default for SessionCaps {
    /// The defaults of the settings.
    fn default() -> Self {
        Self {
            per_user: 20,
            per_link: 10,
        }
    }
}

/// Who a new session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// A signed-in user.
    User(UserId),
    /// A share link's viewer.
    Link(SharedLink),
}

/// Asks for a place for a new session (HTTP → hub, before the upgrade); the answer is the
/// session id to start the session with.
#[derive(Debug, Message)]
#[rtype(result = "Result<Uuid, Refused>")]
pub struct Admit {
    /// Whose session it is.
    pub party: Party,
}

/// No place: the user or link has as many sessions open as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most {limit} live sessions per {per} may be open at once")]
pub struct Refused {
    /// The cap that was hit.
    pub limit: usize,
    /// `user` or `share link`.
    pub per: &'static str,
}

impl Handler<Admit> for LiveHub {
    type Result = Result<Uuid, Refused>;

    fn handle(&mut self, msg: Admit, _: &mut Context<Self>) -> Self::Result {
        let (open, limit, per) = match msg.party {
            Party::User(user) => (
                self.sessions_of_user.get(&user).map_or(0, |ids| ids.len()),
                self.caps.per_user,
                "user",
            ),
            Party::Link(link) => (
                self.sessions_of_link
                    .get(&link.link_id)
                    .map_or(0, |ids| ids.len()),
                self.caps.per_link,
                "share link",
            ),
        };
        if open >= limit {
            metrics::counter!("pettysync_ws_refused_total", "per" => per).increment(1);
            return Err(Refused { limit, per });
        }
        let session_id = Uuid::new_v4();
        let entry = match msg.party {
            Party::User(user) => SessionEntry::new(Some(user), None),
            Party::Link(link) => SessionEntry::new(None, Some(link)),
        };
        self.enter(session_id, entry);
        Ok(session_id)
    }
}

/// A place the hub gave a session. The session keeps it while it lives and disconnects when
/// it stops; a place dropped before that (the session never started) is given back.
#[derive(Debug)]
pub struct Admission {
    hub: Addr<LiveHub>,
    session_id: Uuid,
    armed: bool,
}

impl Admission {
    /// The place `session_id` got from `hub`'s [`Admit`].
    pub fn new(hub: Addr<LiveHub>, session_id: Uuid) -> Self {
        Self {
            hub,
            session_id,
            armed: true,
        }
    }

    /// The id the session must use.
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// The session disconnects itself: nothing to give back on drop.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.armed {
            self.hub.do_send(Disconnect {
                session_id: self.session_id,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use actix::Actor;

    use super::*;
    use crate::actors::hub::testing::Setup;
    use crate::actors::hub::{GetHubStats, LiveHub, LIVE_GRACE};
    use crate::ids::PetId;

    fn capped(setup: &Setup, per_user: usize, per_link: usize) -> Addr<LiveHub> {
        LiveHub::new(setup.recorder.clone().recipient(), LIVE_GRACE)
            .with_caps(SessionCaps { per_user, per_link })
            .start()
    }

    #[actix::test]
    async fn a_user_gets_as_many_places_as_the_cap_and_a_refusal_after() {
        let setup = Setup::start();
        let hub = capped(&setup, 2, 1);
        let (user, other) = (UserId::new(), UserId::new());
        for _ in 0..2 {
            let admitted = hub
                .send(Admit {
                    party: Party::User(user),
                })
                .await;
            assert!(admitted.unwrap().is_ok());
        }
        let refused = hub
            .send(Admit {
                party: Party::User(user),
            })
            .await;
        assert_eq!(
            refused.unwrap(),
            Err(Refused {
                limit: 2,
                per: "user"
            })
        );
        let someone_else = hub
            .send(Admit {
                party: Party::User(other),
            })
            .await;
        assert!(someone_else.unwrap().is_ok());
    }

    #[actix::test]
    async fn a_link_is_capped_on_its_own() {
        let setup = Setup::start();
        let hub = capped(&setup, 5, 1);
        let link = SharedLink {
            link_id: Uuid::new_v4(),
            pet_id: PetId::new(),
        };
        let first = hub
            .send(Admit {
                party: Party::Link(link),
            })
            .await
            .unwrap();
        assert!(first.is_ok());
        let second = hub
            .send(Admit {
                party: Party::Link(link),
            })
            .await
            .unwrap();
        assert_eq!(second.unwrap_err().per, "share link");
    }

    #[actix::test]
    async fn a_place_given_back_can_be_taken_again() {
        let setup = Setup::start();
        let hub = capped(&setup, 1, 1);
        let user = UserId::new();
        let id = hub
            .send(Admit {
                party: Party::User(user),
            })
            .await
            .unwrap()
            .unwrap();
        drop(Admission::new(hub.clone(), id));
        assert_eq!(hub.send(GetHubStats).await.unwrap().sessions, 0);
        let again = hub
            .send(Admit {
                party: Party::User(user),
            })
            .await
            .unwrap();
        assert!(again.is_ok());
    }
}
