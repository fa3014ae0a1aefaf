//! Push devices and notifications against a real SNS API (moto on loopback). Each test makes
//! its own platform applications and uses fresh tokens, so it sees only its own endpoints and
//! the messages published to them (read back from moto's `/moto-api/data.json`).
//!
//! - `devices`: registering and deleting push devices (SNS platform endpoints);
//! - `alerts`: alerts raised through the real pipeline (a collar publishing over MQTT) and
//!   their pushes: one per enabled device, disabled endpoints, dedupe, SNS outages;
//! - `social`: social events (through the follow route, or sent straight to a second
//!   `NotificationSupervisor` on the test's own databases, as the social handlers do), the
//!   hourly limit, and the notification list.

mod alerts;
mod devices;
mod social;

use aws_config::BehaviorVersion;
use aws_sdk_sns::config::{Credentials, Region};
use pettysync::actors::notifications::NotificationSupervisor;
use pettysync::cache::Redis;
use pettysync::config::Settings;
use pettysync::ids::UserId;
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::collar::{TestCollar, SETTLE};
use crate::helpers::{expect_json, poll_until, spawn_app_with, string_at, TestApp, TestUser};

/// A server with push configured on its own APNs and FCM platform applications.
pub struct PushApp {
    pub app: TestApp,
    /// A client of the SNS API itself (not through any proxy a test puts in between).
    pub sns: aws_sdk_sns::Client,
    /// Base URL of the SNS API, for reading back what was published.
    pub sns_url: String,
    pub apns: String,
    pub fcm: String,
    pub pg: PgPool,
}

/// Platform applications of a test's own on the SNS API, and a client of it.
pub struct PushPlatforms {
    pub sns: aws_sdk_sns::Client,
    pub sns_url: String,
    pub apns: String,
    pub fcm: String,
}

impl PushPlatforms {
    pub async fn create() -> PushPlatforms {
        let base = Settings::load().expect("the test environment's settings load");
        let sns_url = base
            .sns_endpoint
            .clone()
            .expect("PETTYSYNC_SNS_ENDPOINT is set (scripts/services.sh env)");
        let sns = sns_client(&base, &sns_url).await;
        let apns = platform_application(&sns, "APNS").await;
        let fcm = platform_application(&sns, "GCM").await;
        PushPlatforms {
            sns,
            sns_url,
            apns,
            fcm,
        }
    }

    /// Turns push on in `settings`, through these applications.
    pub fn configure(&self, settings: &mut Settings) {
        settings.sns_apns_app_arn = Some(self.apns.clone());
        settings.sns_fcm_app_arn = Some(self.fcm.clone());
    }
}

/// A phone registered for push.
pub struct Phone {
    pub id: String,
    pub token: String,
    pub endpoint_arn: String,
}

impl PushApp {
    pub async fn start() -> PushApp {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on fresh platform applications; `tweak` may change more settings.
    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> PushApp {
        let platforms = PushPlatforms::create().await;
        let app = spawn_app_with(|s| {
            platforms.configure(s);
            tweak(s);
        })
        .await;
        PushApp::on(app, platforms).await
    }

    /// A server started elsewhere (a child process) with `platforms` in its settings.
    pub async fn on(app: TestApp, platforms: PushPlatforms) -> PushApp {
        let pg = PgPool::connect(app.settings.database_url.expose_secret())
            .await
            .expect("the test database is reachable");
        PushApp {
            app,
            sns: platforms.sns,
            sns_url: platforms.sns_url,
            apns: platforms.apns,
            fcm: platforms.fcm,
            pg,
        }
    }

    pub async fn register(&self, user: &TestUser, platform: &str, token: &str) -> Response {
        let body = json!({"platform": platform, "token": token});
        self.app
            .post("/v1/push-devices", user.bearer(), &body)
            .await
    }

    /// Registers a phone with a fresh token for `user`.
    pub async fn phone(&self, user: &TestUser, platform: &str) -> Phone {
        let token = format!("token-{}", Uuid::new_v4().simple());
        let device = expect_json(
            self.register(user, platform, &token).await,
            StatusCode::CREATED,
        )
        .await;
        let endpoint_arn = self
            .endpoint(platform, &token)
            .await
            .unwrap_or_else(|| panic!("registering made an SNS endpoint for {token}"))
            .0;
        Phone {
            id: string_at(&device, "/id"),
            token,
            endpoint_arn,
        }
    }

    pub fn application(&self, platform: &str) -> &str {
        if platform == "apns" {
            &self.apns
        } else {
            &self.fcm
        }
    }

    /// The SNS endpoint of `token` on the platform's application: its ARN and whether it
    /// is enabled.
    pub async fn endpoint(&self, platform: &str, token: &str) -> Option<(String, bool)> {
        self.endpoints(platform)
            .await
            .into_iter()
            .find(|(_, t, _)| t == token)
            .map(|(arn, _, enabled)| (arn, enabled))
    }

    /// Every endpoint of the platform's application: ARN, token, enabled.
    pub async fn endpoints(&self, platform: &str) -> Vec<(String, String, bool)> {
        let listed = self
            .sns
            .list_endpoints_by_platform_application()
            .platform_application_arn(self.application(platform))
            .send()
            .await
            .expect("SNS lists the application's endpoints");
        listed
            .endpoints()
            .iter()
            .map(|endpoint| {
                let attributes = endpoint.attributes().cloned().unwrap_or_default();
                (
                    endpoint.endpoint_arn().unwrap_or_default().to_owned(),
                    attributes.get("Token").cloned().unwrap_or_default(),
                    attributes.get("Enabled").is_some_and(|e| e == "true"),
                )
            })
            .collect()
    }

    /// The messages SNS took for this endpoint, each parsed (they are `MessageStructure=json`).
    pub async fn published(&self, endpoint_arn: &str) -> Vec<Value> {
        published(&self.sns_url, endpoint_arn).await
    }

    /// Waits until `user` has `count` notifications; returns them, newest first.
    pub async fn notifications(&self, user: &TestUser, count: usize) -> Vec<Value> {
        poll_until(&format!("{count} notifications"), SETTLE, || async move {
            let response = self
                .app
                .get("/v1/notifications?limit=100", user.bearer())
                .await;
            let page = expect_json(response, StatusCode::OK).await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= count {
                Ok(items)
            } else {
                Err(format!("{} so far: {page}", items.len()))
            }
        })
        .await
    }

    /// Waits until no push is owed (each delivered or closed), so nothing more will be
    /// published for what has been notified so far.
    pub async fn settled(&self) {
        let pg = &self.pg;
        poll_until(
            "every push to be delivered or closed",
            SETTLE,
            || async move {
                let (pending,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM push_outbox
                 WHERE delivered_at IS NULL AND next_attempt_at < 'infinity'",
                )
                .fetch_one(pg)
                .await
                .map_err(|e| e.to_string())?;
                if pending == 0 {
                    Ok(())
                } else {
                    Err(format!("{pending} pending"))
                }
            },
        )
        .await;
    }

    /// The outbox rows of a device: attempts, delivered, last error.
    pub async fn outbox_of(&self, device_id: &str) -> Vec<(i32, bool, Option<String>)> {
        sqlx::query_as(
            "SELECT attempts, delivered_at IS NOT NULL, last_error FROM push_outbox
             WHERE device_id = $1 ORDER BY id",
        )
        .bind(Uuid::parse_str(device_id).expect("device ids are UUIDs"))
        .fetch_all(&self.pg)
        .await
        .expect("the outbox is readable")
    }

    /// A second notification supervisor on this server's databases, SNS and Redis prefix.
    pub async fn supervisor(&self) -> actix::Addr<NotificationSupervisor> {
        let settings = &self.app.settings;
        let redis = Redis::new(settings).expect("the Redis pool builds");
        NotificationSupervisor::start(self.pg.clone(), self.sns.clone(), redis, settings)
    }
}

/// An SNS client for the test environment's credentials and region, on `endpoint`.
async fn sns_client(settings: &Settings, endpoint: &str) -> aws_sdk_sns::Client {
    let region = settings
        .aws_region
        .clone()
        .unwrap_or_else(|| "us-east-1".into());
    let key = settings
        .aws_access_key_id
        .clone()
        .unwrap_or_else(|| "test".into());
    let secret = settings
        .aws_secret_access_key
        .as_ref()
        .map_or_else(|| "test".to_owned(), |s| s.expose_secret().to_owned());
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(Credentials::new(key, secret, None, None, "tests"))
        .load()
        .await;
    let config = aws_sdk_sns::config::Builder::from(&shared)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

/// A new platform application (`APNS` or `GCM`) with a unique name.
async fn platform_application(sns: &aws_sdk_sns::Client, platform: &str) -> String {
    sns.create_platform_application()
        .name(format!("pettysync-test-{}", Uuid::new_v4().simple()))
        .platform(platform)
        .attributes("PlatformCredential", "test-credential")
        .attributes("PlatformPrincipal", "test-principal")
        .send()
        .await
        .expect("SNS makes a platform application")
        .platform_application_arn()
        .expect("a platform application has an ARN")
        .to_owned()
}

/// The messages moto recorded for one endpoint.
async fn published(sns_url: &str, endpoint_arn: &str) -> Vec<Value> {
    let url = format!("{sns_url}/moto-api/data.json?service=sns");
    let data: Value = reqwest::get(&url)
        .await
        .and_then(Response::error_for_status)
        .expect("moto serves its data")
        .json()
        .await
        .expect("moto's data is JSON");
    let endpoints = data["sns"]["PlatformEndpoint"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(endpoint) = endpoints.iter().find(|e| e["arn"] == endpoint_arn) else {
        return Vec::new();
    };
    endpoint["messages"]
        .as_object()
        .map(|messages| {
            messages
                .values()
                .map(|m| {
                    let text = m.as_str().expect("a recorded message is a string");
                    serde_json::from_str(text).expect("a published message is JSON")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The platform payload inside an SNS message (`APNS`, `GCM`), parsed.
pub fn payload(message: &Value, platform: &str) -> Value {
    let inner = message[platform]
        .as_str()
        .unwrap_or_else(|| panic!("{platform} is a JSON string: {message}"));
    serde_json::from_str(inner).unwrap_or_else(|e| panic!("{platform} parses ({e}): {inner}"))
}

/// Publishes battery readings, one per percentage, in order.
pub async fn battery(collar: &TestCollar, first_seq: u64, percentages: &[u8]) {
    for (i, pct) in percentages.iter().enumerate() {
        let sample = collar.reading(first_seq + i as u64, json!({"bat": pct}));
        collar.publish_sample(&sample).await;
    }
}

pub fn user_id(user: &TestUser) -> UserId {
    UserId(Uuid::parse_str(&user.id).expect("user ids are UUIDs"))
}
