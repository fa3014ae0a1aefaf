//! Ending sessions that lost their right: a revoked share link closes every session on it.

use actix::{Context, Handler, Message};
use uuid::Uuid;

use super::{LiveHub, SessionEvent};

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
        // Each session closes itself; its `Disconnect` then cleans up here.
        let sessions = self
            .sessions_of_link
            .get(&msg.link_id)
            .into_iter()
            .flatten();
        for session in sessions.filter_map(|id| self.sessions.get(id)) {
            session.addr.do_send(SessionEvent::Revoked);
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::super::testing::{some_alert, Setup};
    use super::super::{Disconnect, GetHubStats, SessionEvent, SharedLink};
    use super::RevokeShare;
    use crate::ids::PetId;

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
}
