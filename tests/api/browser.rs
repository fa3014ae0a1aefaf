//! The web live view end to end: the real server serves the pages, Debian's Chromium runs
//! them headless (driven over WebDriver by fantoccini), and a test collar publishes through
//! the real broker. The map has no tile server (`map_tile_url` is empty), so no test
//! reaches outside the machine; the pages expose the marker's position as
//! `#map[data-lat][data-lon]`, so no test reads the map library's internals.
//!
//! - `share_page`: the sitter's page at `/s/{token}`;
//! - `owner_page`: the owner's page at `/`;
//! - `assets`: the pages and files over plain HTTP (no browser);
//! - `user_text`: names that look like HTML are shown as text;
//! - `week`: the owner's 7-day chart and GPX download;
//! - `moods`: the owner's mood list and its one-tap correction.
//!
//! Every test starts its own chromedriver and Chromium (see `driver`).

mod assets;
mod driver;
mod moods;
mod owner_page;
mod share_page;
mod user_text;
mod week;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collar::TestCollar;
use crate::helpers::{expect_json, spawn_app_with, string_at, TestApp, TestUser};

/// A server whose pages draw the map without tiles, an owner and their collar-wearing pet.
pub struct WebFixture {
    pub app: TestApp,
    pub owner: TestUser,
    pub collar: TestCollar,
    /// The pet's name as the owner gave it.
    pub pet_name: String,
}

impl WebFixture {
    pub async fn start() -> WebFixture {
        let app = spawn_app_with(|settings| settings.map_tile_url = String::new()).await;
        let owner = app.register_someone().await;
        let collar = TestCollar::paired(&app, &owner).await;
        let pet = app
            .get(&format!("/v1/pets/{}", collar.pet_id), owner.bearer())
            .await;
        let pet_name = string_at(&expect_json(pet, StatusCode::OK).await, "/name");
        WebFixture {
            app,
            owner,
            collar,
            pet_name,
        }
    }

    /// Creates a share link of the pet with `scopes` (exact, one hour); returns the answer
    /// (`{id, token, url, expires_at}`).
    pub async fn share_link(&self, scopes: &[&str]) -> Value {
        let body = json!({"scopes": scopes, "precision": "exact", "expires_in_s": 3600});
        let response = self
            .app
            .post(
                &format!("/v1/pets/{}/share-links", self.collar.pet_id),
                self.owner.bearer(),
                &body,
            )
            .await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// The sitter's page of a link on this test's server (the link's own `url` starts with
    /// the configured public URL, which is not this server).
    pub fn page_of(&self, link: &Value) -> String {
        self.app.url(&format!("/s/{}", string_at(link, "/token")))
    }

    /// Publishes a sample with a fix at (`lat`, `lon`) and `extra` fields; returns it.
    pub async fn move_pet(&self, seq: u64, lat: f64, lon: f64, extra: Value) -> Value {
        let sample = self.collar.sample(seq, lat, lon, 5.0, extra);
        self.collar.publish_sample(&sample).await;
        sample
    }
}

/// True when `text` is a number within a micro-degree of `expected`.
pub fn is_coordinate(text: &str, expected: f64) -> bool {
    text.parse::<f64>()
        .is_ok_and(|value| (value - expected).abs() < 1e-6)
}
