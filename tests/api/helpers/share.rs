//! Share links as the API makes and shows them.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::*;

impl TestApp {
    /// `POST /v1/pets/{pet_id}/share-links` with `body` on behalf of `user`; the raw response.
    pub async fn create_share_link(&self, user: &TestUser, pet_id: &str, body: &Value) -> Response {
        self.post(
            &format!("/v1/pets/{pet_id}/share-links"),
            user.bearer(),
            body,
        )
        .await
    }

    /// Creates a share link of `pet_id` with these scopes and precision, valid
    /// `expires_in_s`; returns the created link (with its token).
    pub async fn share_link(
        &self,
        user: &TestUser,
        pet_id: &str,
        scopes: &[&str],
        precision: &str,
        expires_in_s: u64,
    ) -> Value {
        let body = json!({
            "label": "vet", "scopes": scopes, "precision": precision, "expires_in_s": expires_in_s,
        });
        let response = self.create_share_link(user, pet_id, &body).await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// `GET /v1/share/{token}`, without credentials; the raw response.
    pub async fn shared(&self, token: &str) -> Response {
        self.get(&format!("/v1/share/{token}"), None).await
    }
}
