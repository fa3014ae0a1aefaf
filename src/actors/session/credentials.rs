//! A session lives as long as its credentials. A share-link session: until its link expires
//! or is revoked. A signed-in session: until its access token expires, unless the app sends
//! `{"type":"auth","access_token":"…"}` with a fresh token of the same user first (answered
//! by `hello` with the new expiry), and while the sign-in (refresh-token family) behind its
//! token is not logged out. When they end, the session says `{"type":"revoked"}` and closes
//! with [`CLOSE_REVOKED`].
//!
//! An `auth` with a token that is invalid, expired or another user's is answered with an
//! `error` (`unauthorized`, `wrong_user`) and changes nothing: the session keeps its
//! current expiry, so a client bug cannot cut a session short, nor lengthen it.

use std::time::Duration;

use actix::AsyncContext;
use actix_web_actors::ws;
use chrono::Utc;
use uuid::Uuid;

use super::delivery::{error, Outgoing};
use super::frames::ServerMessage;
use super::{UserSession, Viewer, CLOSE_REVOKED, HEARTBEAT_INTERVAL};

impl UserSession {
    /// Sends `hello`, with the current expiry of the session's credentials.
    pub(super) fn hello(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let hello = ServerMessage::Hello {
            session_id: self.id,
            heartbeat_s: HEARTBEAT_INTERVAL.as_secs(),
            expires_at: self.viewer.expires_at().timestamp_millis(),
        };
        self.deliver(ctx, Outgoing::Frame(hello.frame()));
    }

    /// (Re)starts the timer that ends the session when its credentials expire.
    pub(super) fn arm_expiry(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(timer) = self.expiry_timer.take() {
            ctx.cancel_future(timer);
        }
        let left = (self.viewer.expires_at() - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let timer = ctx.run_later(left, |session, ctx| {
            tracing::debug!(session = %session.id, "credentials expired; closing");
            session.end(ctx);
        });
        self.expiry_timer = Some(timer);
    }

    /// Handles `auth`: a valid token of the same user extends the session to its expiry.
    pub(super) fn authenticate(&mut self, token: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let Viewer::User(signed_in) = &mut self.viewer else {
            let message = "a share-link session has no auth: its link is its credential";
            return self.deliver(ctx, error("forbidden", message.to_owned()));
        };
        let answer = match self.links.jwt.claims(token) {
            None => Err(error(
                "unauthorized",
                "the access token is invalid or expired; the session keeps its expiry".to_owned(),
            )),
            Some(claims) if claims.user != signed_in.user => Err(error(
                "wrong_user",
                "the access token is another user's; the session keeps its expiry".to_owned(),
            )),
            Some(claims) => {
                signed_in.expires_at = claims.expires_at;
                signed_in.family = claims.family;
                Ok(())
            }
        };
        match answer {
            Ok(()) => {
                self.arm_expiry(ctx);
                self.hello(ctx);
            }
            Err(refusal) => self.deliver(ctx, refusal),
        }
    }

    /// A sign-in of the session's user ended: the session ends if its token belongs to it
    /// (or to no sign-in at all, as it cannot be told apart).
    pub(super) fn sign_in_ended(&mut self, family: Uuid, ctx: &mut ws::WebsocketContext<Self>) {
        if let Viewer::User(signed_in) = self.viewer {
            if signed_in.family.is_none_or(|own| own == family) {
                tracing::debug!(session = %self.id, "signed out; closing");
                self.end(ctx);
            }
        }
    }

    /// Tells the client its credentials are gone and closes with [`CLOSE_REVOKED`] at once,
    /// dropping whatever was still held back: nothing more is shown.
    pub(super) fn end(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.closed {
            return;
        }
        self.drop_pending();
        self.write(ctx, ServerMessage::Revoked { pet_id: None }.frame());
        let reason = (ws::CloseCode::Other(CLOSE_REVOKED), "revoked".to_owned());
        self.close(ctx, Some(reason.into()));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use uuid::Uuid;

    use crate::actors::hub::SessionEvent;
    use crate::actors::session::testing::{
        close_code, share_viewer, texts, until_close, Client, JWT,
    };
    use crate::actors::session::{Viewer, CLOSE_REVOKED, FLUSH_INTERVAL};
    use crate::ids::UserId;

    #[actix::test]
    async fn a_session_closes_with_4403_when_its_token_expires() {
        tokio::time::pause();
        let mut client = Client::signed_in(UserId::new(), Duration::from_secs(2), None);
        let hello = client.messages().await;
        assert!(hello[0]["expires_at"].is_i64(), "{hello:?}");
        let early = client.wait(Duration::from_secs(1)).await;
        assert_eq!(close_code(&early), None);
        let late = until_close(&mut client, 40).await;
        assert!(texts(&late).contains(&json!({ "type": "revoked" })));
        assert_eq!(close_code(&late), Some((CLOSE_REVOKED, "revoked".into())));
    }

    #[actix::test]
    async fn a_fresh_token_of_the_same_user_extends_the_session() {
        tokio::time::pause();
        let user = UserId::new();
        let mut client = Client::signed_in(user, Duration::from_secs(2), None);
        client.messages().await;
        let fresh = JWT.clone().with_ttl(60).issue(user.0).unwrap();
        client.send(json!({ "type": "auth", "access_token": fresh }));
        let answer = client.messages().await;
        assert_eq!(answer.len(), 1, "{answer:?}");
        assert_eq!(answer[0]["type"], "hello");
        let past_the_old_expiry = client.wait(Duration::from_secs(10)).await;
        assert_eq!(close_code(&past_the_old_expiry), None);
        let at_the_new_one = until_close(&mut client, 1300).await;
        assert_eq!(
            close_code(&at_the_new_one).map(|(code, _)| code),
            Some(CLOSE_REVOKED)
        );
    }

    #[actix::test]
    async fn an_invalid_or_foreign_token_is_refused_and_the_old_expiry_stands() {
        tokio::time::pause();
        let mut client = Client::signed_in(UserId::new(), Duration::from_secs(2), None);
        client.messages().await;
        let someone_elses = JWT.clone().with_ttl(60).issue(Uuid::new_v4()).unwrap();
        client.send(json!({ "type": "auth", "access_token": someone_elses }));
        client.send(json!({ "type": "auth", "access_token": "not-a-token" }));
        let answers = client.messages().await;
        let codes: Vec<_> = answers.iter().map(|m| m["code"].clone()).collect();
        assert_eq!(codes, [json!("wrong_user"), json!("unauthorized")]);
        let frames = until_close(&mut client, 60).await;
        assert_eq!(
            close_code(&frames).map(|(code, _)| code),
            Some(CLOSE_REVOKED)
        );
    }

    #[actix::test]
    async fn logging_out_closes_the_sessions_of_that_sign_in_only() {
        tokio::time::pause();
        let (user, family) = (UserId::new(), Uuid::new_v4());
        let mut ended = Client::signed_in(user, Duration::from_secs(600), Some(family));
        let mut other = Client::signed_in(user, Duration::from_secs(600), Some(Uuid::new_v4()));
        for client in [&ended, &other] {
            client.session.do_send(SessionEvent::SignInEnded(family));
        }
        let frames = until_close(&mut ended, 20).await;
        assert!(texts(&frames).contains(&json!({ "type": "revoked" })));
        assert_eq!(
            close_code(&frames).map(|(code, _)| code),
            Some(CLOSE_REVOKED)
        );
        let frames = other.wait(Duration::from_secs(1)).await;
        assert_eq!(close_code(&frames), None);
    }

    #[actix::test]
    async fn a_share_session_has_no_auth() {
        tokio::time::pause();
        let viewer = Viewer::Share(share_viewer(Duration::from_secs(3600)));
        let mut client = Client::connect_as(viewer);
        client.send(json!({ "type": "auth", "access_token": "x" }));
        let mut answers = Vec::new();
        for _ in 0..40 {
            answers.extend(texts(&client.wait(FLUSH_INTERVAL).await));
            if answers.iter().any(|m| m["type"] == "error") {
                break;
            }
        }
        let error = answers.iter().find(|m| m["type"] == "error").unwrap();
        assert_eq!(error["code"], "forbidden");
    }
}
