//! Access that ends with the right to it, and the caps on live sessions:
//!
//! - `removal`: a member removed (or a pet deleted) loses the pet at once: their share
//!   links' viewers are closed, their sessions get `revoked` for the pet and stop watching;
//! - `credentials`: a session lives as long as its access token (`auth` extends it) and its
//!   sign-in (logout ends it);
//! - `caps`: sessions per user and per link, `subscribe` frames per session.

mod caps;
mod credentials;
mod removal;

use reqwest::Response;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::share::ShareSocket;

/// Opens `/v1/ws` with an access token, as a socket whose close a test can watch.
pub async fn user_socket(app: &TestApp, access_token: &str) -> ShareSocket {
    let request = awc::Client::new()
        .ws(app.url("/v1/ws"))
        .bearer_auth(access_token);
    ShareSocket::connect(request).await
}

/// A WebSocket upgrade of `path` sent as plain HTTP, to read the body of a refusal.
pub async fn upgrade_attempt(app: &TestApp, path: &str, access_token: Option<&str>) -> Response {
    let mut request = app
        .client
        .get(app.url(path))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(token) = access_token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the server answers")
}

/// The claims of a JWT (its middle part), read without checking it: a test's view.
pub fn token_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("a JWT's payload is base64url");
    serde_json::from_slice(&bytes).expect("a JWT's payload is JSON")
}
