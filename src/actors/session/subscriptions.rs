//! What a session watches: `subscribe` checks each pet against the viewer's rights (a few
//! at a time), registers the session with the hub as a watcher and answers with the pet's
//! state; `unsubscribe` ends the watch. `subscribe` is rate limited and the pets watched at
//! once are capped ([`super::SessionLimits`]): past either the frame gets an `error`
//! (`rate_limited`, `too_many_pets`), nothing changes, and the session stays open. A pet
//! the viewer loses ends its watch and is announced with `revoked` and its `pet_id`.

use std::collections::HashSet;
use std::sync::Arc;

use actix::{ActorFutureExt, AsyncContext, WrapFuture};
use actix_web_actors::ws;
use futures_util::{stream, StreamExt};
use tracing::Instrument;
use uuid::Uuid;

use super::delivery::{error, Outgoing};
use super::frames::ServerMessage;
use super::protocol::{quote, MAX_QUOTE_CHARS};
use super::{SessionLinks, UserSession, Viewer};
use crate::actors::events::{GetPetState, LiveState};
use crate::actors::hub::{Unwatch, Watch};
use crate::domain::access::Action;
use crate::ids::PetId;
use crate::store::pets::role_of;

/// Most pet ids one `subscribe` may name.
pub const MAX_PETS_PER_SUBSCRIBE: usize = 100;
/// Role checks of one `subscribe` run at most this many at a time (the pool is shared).
const CHECKS_IN_FLIGHT: usize = 8;

/// The answer for one id of a `subscribe`.
pub(super) enum Answer {
    /// Watched now; its state, unless the registry did not answer.
    Watched(PetId, Option<Arc<LiveState>>),
    /// Not a pet the viewer may see (or not a pet at all: the answer is the same).
    Forbidden(String),
    /// The check itself failed.
    Failed(String),
}

impl UserSession {
    pub(super) fn subscribe(
        &mut self,
        mut pet_ids: Vec<String>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if pet_ids.len() > MAX_PETS_PER_SUBSCRIBE {
            let message = format!("at most {MAX_PETS_PER_SUBSCRIBE} pet_ids per subscribe");
            return self.bad_request(ctx, message);
        }
        if let Err(wait) = self.subscribes.take() {
            let retry_after_s = u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
            let message = format!(
                "at most {} subscribe messages a minute; try again in {retry_after_s} s",
                self.links.limits.subscribes_per_minute
            );
            let refusal = ServerMessage::Error {
                code: "rate_limited",
                message,
                retry_after_s: Some(retry_after_s),
            };
            return self.deliver(ctx, Outgoing::Frame(refusal.frame()));
        }
        let mut seen = HashSet::new();
        pet_ids.retain(|id| seen.insert(id.clone()));
        let max = self.links.limits.max_watched_pets;
        if self.watching.len() + self.newly_named(&pet_ids) > max {
            let message = format!("a session may watch at most {max} pets at once");
            return self.deliver(ctx, error("too_many_pets", message));
        }
        let span = tracing::info_span!("ws_subscribe", session = %self.id, pets = pet_ids.len());
        let checks = check_pets(self.links.clone(), self.id, self.viewer, pet_ids).instrument(span);
        // `wait`: later client messages and events queue until every answer is written.
        ctx.wait(
            crate::rt::guarded(checks)
                .into_actor(self)
                .map(|answers, session, ctx| {
                    for answer in answers {
                        session.answer(answer, ctx);
                    }
                }),
        );
    }

    /// How many of these ids name pets the session does not watch yet.
    fn newly_named(&self, pet_ids: &[String]) -> usize {
        pet_ids
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok().map(PetId))
            .filter(|pet_id| !self.watching.contains(pet_id))
            .count()
    }

    pub(super) fn answer(&mut self, answer: Answer, ctx: &mut ws::WebsocketContext<Self>) {
        let item = match answer {
            Answer::Watched(pet_id, state) => {
                self.watching.insert(pet_id);
                // The right was checked just now: a pet lost earlier is back.
                self.lost.remove(&pet_id);
                match state {
                    Some(state) => Outgoing::State(pet_id, state),
                    None => {
                        let message = format!("no state of pet {pet_id} yet; it follows");
                        error("internal_error", message)
                    }
                }
            }
            Answer::Forbidden(id) => error(
                "forbidden",
                format!(
                    "pet {} does not exist or you may not see it",
                    quote(&id, MAX_QUOTE_CHARS)
                ),
            ),
            Answer::Failed(id) => error(
                "internal_error",
                format!(
                    "could not subscribe to pet {}; try again",
                    quote(&id, MAX_QUOTE_CHARS)
                ),
            ),
        };
        self.deliver(ctx, item);
    }

    pub(super) fn unsubscribe(&mut self, pet_ids: &[String]) {
        // A share link watches its pet for as long as it is open: nothing else to show.
        if self.viewer.share().is_some() {
            return;
        }
        let pets = pet_ids
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok().map(PetId));
        for pet_id in pets {
            if self.watching.remove(&pet_id) {
                self.outbox.discard_state(pet_id);
                self.links.hub.do_send(Unwatch {
                    session_id: self.id,
                    pet_id,
                });
            }
        }
    }

    /// The viewer lost a pet (removed as a member, or the pet deleted): its watch ends,
    /// nothing pending of it is sent, the client is told `revoked` with its `pet_id`, and
    /// its alerts are dropped from now on.
    pub(super) fn lose_pet(&mut self, pet_id: PetId, ctx: &mut ws::WebsocketContext<Self>) {
        if self.viewer.share().is_some() {
            return;
        }
        self.lost.insert(pet_id);
        if self.watching.remove(&pet_id) {
            // The hub has ended the watch already; this covers a watch it had not seen yet.
            self.links.hub.do_send(Unwatch {
                session_id: self.id,
                pet_id,
            });
        }
        self.outbox.discard_pet(pet_id);
        let notice = ServerMessage::Revoked {
            pet_id: Some(pet_id),
        };
        self.deliver(ctx, Outgoing::Frame(notice.frame()));
    }
}

/// Checks each id in order, a few at a time; watches (before reading the state, so no
/// change falls between the two) and reads the state of each the viewer may see.
async fn check_pets(
    links: SessionLinks,
    session_id: Uuid,
    viewer: Viewer,
    ids: Vec<String>,
) -> Vec<Answer> {
    let links = &links;
    stream::iter(ids)
        .map(|id| check_pet(links, session_id, viewer, id))
        .buffered(CHECKS_IN_FLIGHT)
        .collect()
        .await
}

async fn check_pet(links: &SessionLinks, session_id: Uuid, viewer: Viewer, id: String) -> Answer {
    let Ok(pet_id) = Uuid::parse_str(&id).map(PetId) else {
        return Answer::Forbidden(id);
    };
    let user = match viewer {
        Viewer::User(signed_in) => signed_in.user,
        // A share link sees its own pet (already watched) and no other.
        Viewer::Share(link) if link.pet_id == pet_id => {
            return watch(links, session_id, pet_id).await
        }
        Viewer::Share(_) => return Answer::Forbidden(id),
    };
    match role_of(&links.pg, user, pet_id).await {
        Ok(Some(role)) if role.may(Action::View) => {}
        Ok(_) => return Answer::Forbidden(id),
        Err(error) => {
            tracing::error!(error = ?error, pet = %pet_id, "checking the right to watch a pet");
            return Answer::Failed(id);
        }
    }
    watch(links, session_id, pet_id).await
}

/// Watches a pet the viewer may see, then reads its state.
pub(super) async fn watch(links: &SessionLinks, session_id: Uuid, pet_id: PetId) -> Answer {
    links.hub.do_send(Watch { session_id, pet_id });
    let state = links.states.send(GetPetState { pet_id }).await;
    if let Err(error) = &state {
        tracing::error!(error = ?error, pet = %pet_id, "reading a watched pet's state");
    }
    Answer::Watched(pet_id, state.ok().map(Arc::new))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::{json, Value};

    use crate::actors::events::LiveState;
    use crate::actors::hub::SessionEvent;
    use crate::actors::session::delivery::FLUSH_INTERVAL as FLUSH;
    use crate::actors::session::testing::{alert, share_viewer, texts, Client};
    use crate::actors::session::testing::{alert_of, share_link_of};
    use crate::actors::session::{SessionLimits, Viewer};
    use crate::ids::PetId;

    fn errors(messages: &[Value]) -> Vec<Value> {
        messages
            .iter()
            .filter(|m| m["type"] == "error")
            .map(|m| m["code"].clone())
            .collect()
    }

    #[actix::test]
    async fn subscribing_faster_than_the_rate_is_refused_and_the_session_stays_open() {
        tokio::time::pause();
        let limits = SessionLimits {
            subscribes_per_minute: 6,
            subscribe_burst: 2,
            max_watched_pets: 50,
        };
        let mut client = Client::limited(limits);
        client.messages().await;
        for _ in 0..3 {
            client.send(json!({ "type": "subscribe", "pet_ids": [] }));
        }
        let answers = client.messages().await;
        assert_eq!(errors(&answers), [json!("rate_limited")], "{answers:?}");
        let refusal = answers.iter().find(|m| m["type"] == "error").unwrap();
        assert!(
            refusal["retry_after_s"].as_u64().unwrap() <= 10,
            "{refusal}"
        );
        client.wait(Duration::from_secs(10)).await;
        client.send(json!({ "type": "subscribe", "pet_ids": [] }));
        client.send(json!({ "type": "ping" }));
        let later = client.messages().await;
        assert_eq!(later, vec![json!({ "type": "pong" })]);
    }

    #[actix::test]
    async fn naming_more_pets_than_a_session_may_watch_is_refused_whole() {
        tokio::time::pause();
        let limits = SessionLimits {
            max_watched_pets: 2,
            ..SessionLimits::default()
        };
        let mut client = Client::limited(limits);
        client.messages().await;
        let three: Vec<String> = (0..3).map(|_| PetId::new().to_string()).collect();
        client.send(json!({ "type": "subscribe", "pet_ids": three }));
        let answers = client.messages().await;
        assert_eq!(errors(&answers), [json!("too_many_pets")], "{answers:?}");
        assert_eq!(answers.len(), 1, "no pet was checked: {answers:?}");
    }

    #[actix::test]
    async fn a_lost_pet_is_announced_and_its_states_and_alerts_stop() {
        tokio::time::pause();
        let mut client = Client::connect();
        client.messages().await;
        let (pet, other) = (PetId::new(), PetId::new());
        client.session.do_send(SessionEvent::PetLost(pet));
        for pet_id in [pet, other] {
            client.session.do_send(SessionEvent::State {
                pet_id,
                state: Arc::new(LiveState::default()),
            });
            client.session.do_send(alert_of(pet_id));
        }
        let sent = client.messages().await;
        assert_eq!(
            sent[0],
            json!({ "type": "revoked", "pet_id": pet.to_string() })
        );
        assert!(
            sent.iter()
                .skip(1)
                .all(|m| m["pet_id"] == other.to_string()),
            "{sent:?}"
        );
        assert_eq!(sent.len(), 2, "the other pet's alert only: {sent:?}");
    }

    #[actix::test]
    async fn a_share_session_ignores_the_loss_of_a_users_pet() {
        tokio::time::pause();
        let link = share_link_of(PetId::new());
        let mut client = Client::connect_as(Viewer::Share(link));
        client.session.do_send(SessionEvent::PetLost(link.pet_id));
        let frames = client.wait(Duration::from_millis(500)).await;
        assert!(
            crate::actors::session::testing::texts(&frames)
                .iter()
                .all(|m| m["type"] != "revoked"),
            "{frames:?}"
        );
    }

    #[actix::test]
    async fn an_id_that_is_not_a_uuid_is_forbidden_like_any_pet_not_ones_own() {
        let mut client = Client::connect();
        client.messages().await;
        client.send(json!({ "type": "subscribe", "pet_ids": ["not-a-pet"] }));
        let answer = client.messages().await;
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0]["code"], "forbidden");
        assert_eq!(
            answer[0]["message"],
            "pet not-a-pet does not exist or you may not see it"
        );
    }

    #[actix::test]
    async fn a_share_session_may_not_subscribe_to_another_pet_or_get_its_alerts() {
        tokio::time::pause();
        let viewer = share_viewer(std::time::Duration::from_secs(3600));
        let mut client = Client::connect_as(Viewer::Share(viewer));
        client.send(json!({ "type": "subscribe", "pet_ids": [PetId::new().to_string()] }));
        client.session.do_send(alert(7, 0));
        let mut answers = Vec::new();
        for _ in 0..40 {
            answers.extend(texts(&client.wait(FLUSH).await));
            if answers.iter().any(|m| m["type"] == "error") {
                break;
            }
        }
        let error = answers.iter().find(|m| m["type"] == "error").unwrap();
        assert_eq!(error["code"], "forbidden");
        assert!(answers.iter().all(|m| m["type"] != "alert"), "{answers:?}");
    }
}
