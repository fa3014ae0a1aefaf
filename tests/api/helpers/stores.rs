//! The server's stores behind its back: MongoDB, PostgreSQL, Redis and S3, and its live
//! state and alerts as the API shows them.

use pettysync::config::Settings;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::*;

/// A MongoDB database by URL and name, for reading what the server stored.
pub async fn mongo_database(url: &str, database: &str) -> mongodb::Database {
    mongodb::Client::with_uri_str(url)
        .await
        .unwrap_or_else(|e| panic!("MongoDB at {url} is reachable: {e}"))
        .database(database)
}

impl TestApp {
    /// The server's own MongoDB database.
    pub async fn mongo(&self) -> mongodb::Database {
        mongo_database(
            self.settings.mongodb_url.expose_secret(),
            &self.settings.mongodb_database(),
        )
        .await
    }

    /// `GET /v1/pets/{id}/state` on behalf of `user`.
    pub async fn pet_state(&self, user: &TestUser, pet_id: &str) -> Value {
        let response = self
            .get(&format!("/v1/pets/{pet_id}/state"), user.bearer())
            .await;
        expect_json(response, StatusCode::OK).await
    }

    /// The first page (up to 100) of a pet's alerts, newest first.
    pub async fn pet_alerts(&self, user: &TestUser, pet_id: &str) -> Vec<Value> {
        let response = self
            .get(
                &format!("/v1/pets/{pet_id}/alerts?limit=100"),
                user.bearer(),
            )
            .await;
        let page = expect_json(response, StatusCode::OK).await;
        page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("an alert list has items: {page}"))
            .clone()
    }
}

/// The server's Redis, with the server's key prefix.
pub fn server_redis(settings: &Settings) -> pettysync::cache::Redis {
    pettysync::cache::Redis::new(settings).expect("the Redis pool builds")
}
