//! A real server per test on port 0, isolated (`Isolation`), and a client of it (`TestApp`)
//! with the requests tests make again and again.

use pettysync::config::Settings;
use pettysync::startup::Application;
use rand::distributions::{Alphanumeric, DistString};
use reqwest::{Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

use super::*;

/// The password every test user registers with.
pub const PASSWORD: &str = "correct horse battery";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub address: String,
    /// Follows no redirects, so tests see them.
    pub client: reqwest::Client,
    /// The bearer token of `/v1/admin/*`.
    pub admin_token: String,
    /// The settings the server was built with.
    pub settings: Settings,
}

/// A registered user and their current tokens.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestUser {
    /// The access token, in the form the request helpers take.
    pub fn bearer(&self) -> Option<&str> {
        Some(&self.access_token)
    }
}

/// Names that keep one test's data apart from every other test's.
pub struct Isolation {
    /// A fresh UUID in simple form (32 hex digits).
    pub id: String,
    jwt_secret: String,
    admin_token: String,
}

impl Isolation {
    pub fn new() -> Self {
        Isolation {
            id: Uuid::new_v4().simple().to_string(),
            jwt_secret: random_string(48),
            admin_token: random_string(40),
        }
    }

    /// The database name used in both PostgreSQL and MongoDB.
    pub fn database_name(&self) -> String {
        format!("pettysync_test_{}", self.id)
    }

    /// The PostgreSQL server of `base`, with this test's database.
    pub fn database_url(&self, base: &Settings) -> String {
        with_path(base.database_url.expose_secret(), &self.database_name())
    }

    /// The MongoDB server of `base`, with this test's database.
    pub fn mongodb_url(&self, base: &Settings) -> String {
        with_path(base.mongodb_url.expose_secret(), &self.database_name())
    }

    /// The environment's settings, isolated for this test, then adjusted by `tweak`.
    pub fn settings(&self, tweak: impl FnOnce(&mut Settings)) -> Settings {
        let mut settings = Settings::load().expect("the test environment's settings load");
        settings.http_addr = "127.0.0.1:0".to_string();
        settings.database_url = SecretString::from(self.database_url(&settings));
        settings.mongodb_url = SecretString::from(self.mongodb_url(&settings));
        settings.redis_prefix = format!("pettysync:test:{}:", self.id);
        // The broker drops the older of two sessions with one client id: one id per server.
        settings.mqtt_url = SecretString::from(with_client_id(
            settings.mqtt_url.expose_secret(),
            &format!("pettysync-test-{}", self.id),
        ));
        settings.mqtt_topic_prefix = format!("pettysync-test/{}", self.id);
        settings.jwt_secret = Some(SecretString::from(self.jwt_secret.clone()));
        settings.admin_token = Some(SecretString::from(self.admin_token.clone()));
        // No seed mood model per test server (minutes of a debug build): tests that classify
        // clips ask for a small one.
        settings.mood_seed_per_class = 0;
        tweak(&mut settings);
        settings
    }
}

/// Starts a server with the test environment's settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server with the test environment's settings changed by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let isolation = Isolation::new();
    let settings = isolation.settings(tweak);
    pettysync::migrate::run(&settings)
        .await
        .expect("migrations apply to a fresh database");
    let application = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(application.run_until_stopped());

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain HTTP client builds");
    TestApp {
        address,
        client,
        admin_token: isolation.admin_token.clone(),
        settings,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Sends a request, with a bearer token and a JSON body when given.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the server answers")
    }

    /// Sends raw bytes as `application/json`.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the server answers")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token, None).await
    }

    /// Registers `email` with [`PASSWORD`] and the display name "Tester".
    pub async fn register(&self, email: &str) -> TestUser {
        let body = json!({"email": email, "password": PASSWORD, "display_name": "Tester"});
        let response = self.post("/v1/auth/register", None, &body).await;
        let auth = expect_json(response, StatusCode::CREATED).await;
        TestUser {
            id: string_at(&auth, "/user/id"),
            email: email.to_string(),
            access_token: string_at(&auth, "/access_token"),
            refresh_token: string_at(&auth, "/refresh_token"),
        }
    }

    /// Registers a user with a fresh email address.
    pub async fn register_someone(&self) -> TestUser {
        self.register(&unique_email()).await
    }

    /// Creates a dog named `name` owned by `user`; returns the pet object.
    pub async fn create_pet(&self, user: &TestUser, name: &str) -> Value {
        let body = json!({"name": name, "species": "dog"});
        let response = self.post("/v1/pets", user.bearer(), &body).await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// Provisions a collar with the admin token; returns its pairing code.
    pub async fn provision_collar(&self, serial: &str) -> String {
        let body = json!({"serial": serial});
        let response = self
            .post("/v1/admin/collars", Some(&self.admin_token), &body)
            .await;
        let collar = expect_json(response, StatusCode::CREATED).await;
        string_at(&collar, "/pairing_code")
    }

    /// Pairs a collar to a pet on behalf of `user`; returns the raw response.
    pub async fn pair_collar(
        &self,
        user: &TestUser,
        pet_id: &str,
        serial: &str,
        pairing_code: &str,
    ) -> Response {
        let body = json!({"serial": serial, "pairing_code": pairing_code});
        self.post(&format!("/v1/pets/{pet_id}/collar"), user.bearer(), &body)
            .await
    }

    /// Adds `member_email` to the pet as family, on behalf of its owner; returns the answer
    /// (the same for any address; an address with an account is a member at once).
    pub async fn add_member(&self, owner: &TestUser, pet_id: &str, member_email: &str) -> Value {
        let body = json!({"email": member_email, "role": "family"});
        let response = self
            .post(&format!("/v1/pets/{pet_id}/members"), owner.bearer(), &body)
            .await;
        expect_json(response, StatusCode::CREATED).await
    }
}

/// An email address no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

/// A collar serial no other test uses.
pub fn unique_serial() -> String {
    format!("SN-{}", &Uuid::new_v4().simple().to_string()[..16])
}

/// A short suffix that makes names (pets, fences) unique, so a body can be searched for them.
pub fn unique_suffix() -> String {
    Uuid::new_v4().simple().to_string()[..8].to_string()
}

pub fn random_string(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

fn with_path(raw: &str, database: &str) -> String {
    let mut url = Url::parse(raw).unwrap_or_else(|e| panic!("{raw:?} is not a URL: {e}"));
    url.set_path(&format!("/{database}"));
    url.to_string()
}

fn with_client_id(raw: &str, client_id: &str) -> String {
    let mut url = Url::parse(raw).unwrap_or_else(|e| panic!("{raw:?} is not a URL: {e}"));
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| key != "client_id")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("client_id", client_id);
    url.to_string()
}

/// `raw` (an MQTT broker URL) with its `client_id` set to `client_id`.
pub fn mqtt_url_with_client_id(raw: &str, client_id: &str) -> String {
    with_client_id(raw, client_id)
}

/// Starts a server on `settings` (made by `isolation`, databases already migrated and
/// possibly filled), as a restarted node would start.
pub async fn spawn_app_on(isolation: &Isolation, settings: Settings) -> TestApp {
    let application = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain HTTP client builds");
    TestApp {
        address,
        client,
        admin_token: isolation.admin_token.clone(),
        settings,
    }
}
