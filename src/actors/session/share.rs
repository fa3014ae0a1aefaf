//! A share-link viewer's session: watches its link's pet from the start, and (through its
//! credentials) says `revoked` and closes with [`super::CLOSE_REVOKED`] when the link is
//! revoked or expires.

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use actix_web_actors::ws;
use tracing::Instrument;

use super::subscriptions::watch;
use super::{ShareViewer, UserSession};
use crate::store::share;

impl UserSession {
    /// Starts a share-link session: checks the link again now that the hub knows the
    /// session (a revocation between the upgrade and `Connect` would otherwise be missed),
    /// then watches the pet and sends its state. Its expiry is the session's (credentials).
    pub(super) fn open_share(&mut self, link: ShareViewer, ctx: &mut ws::WebsocketContext<Self>) {
        let links = self.links.clone();
        let session_id = self.id;
        let opening = async move {
            match share::is_active(&links.pg, link.link_id).await {
                Ok(false) => return None,
                Ok(true) => {}
                // It was active at the upgrade a moment ago; expiry and revocation still close it.
                Err(error) => tracing::error!(error = ?error, "checking a share link again"),
            }
            Some(watch(&links, session_id, link.pet_id).await)
        };
        let span = tracing::info_span!("ws_share", session = %self.id, link = %link.link_id);
        // `wait`: client messages queue until the state is written.
        ctx.wait(
            crate::rt::guarded(opening.instrument(span))
                .into_actor(self)
                .map(|answer, session, ctx| match answer {
                    Some(answer) => session.answer(answer, ctx),
                    None => session.end(ctx),
                }),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use std::sync::Arc;

    use crate::actors::events::{MoodRecorded, MoodState};
    use crate::actors::hub::SessionEvent;
    use crate::actors::scope::Scopes;
    use crate::actors::session::delivery::FLUSH_INTERVAL;
    use crate::actors::session::testing::{close_code, share_viewer, texts, until_close, Client};
    use crate::actors::session::{Viewer, CLOSE_REVOKED};
    use crate::mood::Mood;

    #[actix::test]
    async fn a_revoked_share_session_says_so_and_closes_with_4403() {
        tokio::time::pause();
        let viewer = share_viewer(Duration::from_secs(3600));
        let mut client = Client::connect_as(Viewer::Share(viewer));
        client.session.do_send(SessionEvent::Revoked);
        let frames = until_close(&mut client, 200).await;
        assert!(texts(&frames).contains(&json!({ "type": "revoked" })));
        assert_eq!(close_code(&frames), Some((CLOSE_REVOKED, "revoked".into())));
    }

    #[actix::test]
    async fn a_share_session_closes_when_its_link_expires() {
        tokio::time::pause();
        let viewer = share_viewer(Duration::from_secs(2));
        let mut client = Client::connect_as(Viewer::Share(viewer));
        let early = client.wait(Duration::from_secs(1)).await;
        assert_eq!(close_code(&early), None);
        let late = until_close(&mut client, 40).await;
        assert!(texts(&late).contains(&json!({ "type": "revoked" })));
        assert_eq!(close_code(&late).map(|(code, _)| code), Some(CLOSE_REVOKED));
    }

    /// The `mood` frames a share session with `scopes` sends, once it watches its pet, for a
    /// new mood of its pet, one of another pet and one from before the link.
    async fn mood_seen_with(scopes: &[&str]) -> Vec<serde_json::Value> {
        let mut viewer = share_viewer(Duration::from_secs(3600));
        viewer.view.scopes = Scopes::parse(scopes).unwrap();
        let mut client = Client::connect_as(Viewer::Share(viewer));
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen.extend(texts(&client.wait(FLUSH_INTERVAL).await));
            if seen.iter().any(|m| m["type"] == "state") {
                break;
            }
        }
        assert!(seen.iter().any(|m| m["type"] == "state"), "{seen:?}");
        let mood = |pet_id, at| {
            SessionEvent::Mood(Arc::new(MoodRecorded {
                id: uuid::Uuid::new_v4(),
                pet_id,
                mood: MoodState {
                    mood: Mood::Angry,
                    confidence: 0.9,
                    at,
                },
            }))
        };
        let now = chrono::Utc::now().timestamp_millis();
        client.session.do_send(mood(viewer.pet_id, now));
        // Another pet's, and one from before the link: never shown.
        client.session.do_send(mood(crate::ids::PetId::new(), now));
        client
            .session
            .do_send(mood(viewer.pet_id, viewer.created_at - 1));
        texts(&client.wait(Duration::from_millis(500)).await)
            .into_iter()
            .filter(|m| m["type"] == "mood")
            .collect()
    }

    #[actix::test]
    async fn a_share_session_sends_its_pets_moods_only_with_the_mood_scope() {
        tokio::time::pause();
        let with = mood_seen_with(&["mood"]).await;
        assert_eq!(with.len(), 1, "{with:?}");
        assert_eq!(with[0]["mood"]["mood"], "angry");
        let without = mood_seen_with(&["location", "vitals", "alerts"]).await;
        assert!(without.is_empty(), "{without:?}");
    }
}
