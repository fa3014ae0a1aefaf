//! Shared fixtures: a real server per test on port 0, against its own PostgreSQL database,
//! MongoDB database, Redis key prefix and MQTT client id / topic prefix, so tests run in
//! parallel without seeing each other's data.

use std::future::Future;
use std::time::{Duration, Instant};

use pettysync::config::Settings;
use pettysync::startup::Application;
use rand::distributions::{Alphanumeric, DistString};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

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

/// Reads a response, checks its status and returns its JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let (actual, _, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// Reads a response and checks its status; returns the body text.
pub async fn expect_status(response: Response, status: StatusCode) -> String {
    let (actual, _, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    text
}

/// Checks that a response is a problem document with this status and `code`; returns it.
pub async fn expect_problem(response: Response, status: StatusCode, code: &str) -> Value {
    let (actual, headers, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(
        content_type(&headers).starts_with("application/problem+json"),
        "an error is application/problem+json, got {:?}; body: {text}",
        content_type(&headers)
    );
    assert!(
        headers.contains_key("x-request-id"),
        "an error carries X-Request-Id"
    );
    let problem: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("problem is not JSON ({e}): {text}"));
    assert_eq!(problem["code"], code, "unexpected code; body: {text}");
    assert_eq!(problem["status"], status.as_u16(), "body: {text}");
    for member in ["type", "title", "detail"] {
        assert!(
            problem.get(member).is_some(),
            "problem lacks `{member}`: {text}"
        );
    }
    problem
}

/// Checks that a response is a 422 `validation_failed` naming a field that starts with `field`.
pub async fn expect_field_error(response: Response, field: &str) -> Value {
    let problem = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_names_field(&problem, field);
    problem
}

/// Checks that one of the problem's `errors` is about a field starting with `field`.
pub fn assert_names_field(problem: &Value, field: &str) {
    let fields = error_fields(problem);
    assert!(
        fields.iter().any(|named| named.starts_with(field)),
        "expected an error about `{field}`, got fields {fields:?} in {problem}"
    );
}

/// The `field` of every entry of a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a validation problem has an `errors` array: {problem}"))
        .iter()
        .map(|error| {
            assert!(
                error["message"].is_string(),
                "each error has a message: {error}"
            );
            error["field"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// The string at a JSON pointer, or a panic that shows the document.
pub fn string_at(document: &Value, pointer: &str) -> String {
    document
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {document}"))
        .to_string()
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Status, headers and body text of a response.
pub async fn read(response: Response) -> (StatusCode, HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("the body can be read");
    (status, headers, text)
}

/// Calls `attempt` until it returns `Ok`, or panics once `timeout` has passed, showing the
/// last reason `attempt` gave for "not yet".
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let not_yet = match attempt().await {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}; last: {not_yet}"
        );
        // Between attempts only, to not hammer the server; the deadline bounds the wait.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
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

/// The bytes of a pretend JPEG of `len` bytes (a JPEG start marker, then filler that differs
/// from call to call), for media uploads.
pub fn fake_jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF];
    bytes.extend(random_string(len).into_bytes());
    bytes.truncate(len);
    bytes
}

/// PUTs `bytes` to an upload as `POST /v1/posts` answered it, with exactly its headers,
/// the way a phone uploads straight to S3.
pub async fn upload_media(client: &reqwest::Client, upload: &Value, bytes: Vec<u8>) -> Response {
    assert_eq!(upload["method"], "PUT", "{upload}");
    let mut request = client.put(string_at(upload, "/url")).body(bytes);
    let headers = upload["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("an upload has headers: {upload}"));
    for (name, value) in headers {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("{name} is a string"));
        request = request.header(name.as_str(), value);
    }
    request.send().await.expect("S3 answers")
}

impl TestApp {
    /// An S3 client for the server's bucket with the server's credentials, to look at (or
    /// plant) objects behind the server's back.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let settings = &self.settings;
        let credentials = aws_sdk_s3::config::Credentials::new(
            settings.aws_access_key_id.clone().unwrap_or_default(),
            settings
                .aws_secret_access_key
                .as_ref()
                .map(|secret| secret.expose_secret().to_owned())
                .unwrap_or_default(),
            None,
            None,
            "pettysync-tests",
        );
        let mut config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(
                settings
                    .aws_region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".to_owned()),
            ))
            .credentials_provider(credentials);
        if let Some(endpoint) = &settings.s3_endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }

    /// The server's own PostgreSQL database, for rows the API does not show.
    pub async fn pg(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(self.settings.database_url.expose_secret())
            .await
            .expect("the test database is reachable")
    }

    /// `POST /v1/posts` declaring `size_bytes` of `content_type`; the raw response.
    pub async fn declare_post(
        &self,
        user: &TestUser,
        content_type: &str,
        size_bytes: usize,
    ) -> Response {
        let body = json!({
            "caption": "a walk in the park",
            "media": {"content_type": content_type, "size_bytes": size_bytes},
        });
        self.post("/v1/posts", user.bearer(), &body).await
    }

    /// Declares an image post of `bytes`, uploads them and publishes it; the published post.
    pub async fn publish_image(&self, user: &TestUser, bytes: Vec<u8>) -> Value {
        let created = expect_json(
            self.declare_post(user, "image/jpeg", bytes.len()).await,
            StatusCode::CREATED,
        )
        .await;
        let uploaded = upload_media(&self.client, &created["upload"], bytes).await;
        assert!(
            uploaded.status().is_success(),
            "S3 took the upload: {uploaded:?}"
        );
        let path = format!("/v1/posts/{}/publish", string_at(&created, "/post/id"));
        let published = self.post(&path, user.bearer(), &json!({})).await;
        expect_json(published, StatusCode::OK).await
    }
}

/// Publishes a post by `author` the way `POST /v1/posts/{id}/publish` does: the published
/// post and its feed outbox row in one transaction (no media is uploaded: rendering a post
/// only presigns its key). Returns the post's id.
pub async fn publish_post_directly(app: &TestApp, author: &TestUser) -> Uuid {
    let pg = app.pg().await;
    let author: Uuid = author.id.parse().expect("a user id is a UUID");
    let post = publish_post_on(&pg, author).await;
    pg.close().await;
    post
}

/// [`publish_post_directly`] on a pool, for a test that has no server yet.
pub async fn publish_post_on(pg: &sqlx::PgPool, author: Uuid) -> Uuid {
    let post = Uuid::new_v4();
    let mut tx = pg.begin().await.expect("a transaction begins");
    sqlx::query(
        "INSERT INTO posts (id, author_id, caption, media_key, media_content_type,
                            media_size_bytes, status, published_at)
         VALUES ($1, $2, 'a walk in the park', $3, 'image/jpeg', 1000, 'published', now())",
    )
    .bind(post)
    .bind(author)
    .bind(format!("media/{author}/{post}.jpg"))
    .execute(&mut *tx)
    .await
    .expect("the post is inserted");
    sqlx::query("INSERT INTO feed_outbox (post_id, author_id) VALUES ($1, $2)")
        .bind(post)
        .bind(author)
        .execute(&mut *tx)
        .await
        .expect("the outbox row is inserted");
    tx.commit().await.expect("the publish commits");
    post
}

/// The server's Redis, with the server's key prefix.
pub fn server_redis(settings: &Settings) -> pettysync::cache::Redis {
    pettysync::cache::Redis::new(settings).expect("the Redis pool builds")
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
