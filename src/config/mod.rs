//! Typed settings: defaults, then an optional TOML file named by `PETTYSYNC_CONFIG`, then
//! `PETTYSYNC_*` environment variables (and the standard `AWS_*` ones). This is the only
//! place that reads the environment. Secrets are `SecretString`, so they never print.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Prefix of every PettySync environment variable.
pub const ENV_PREFIX: &str = "PETTYSYNC_";
/// Shortest accepted JWT signing key, in bytes (HS256 wants at least its output size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Shortest accepted admin token, in bytes: as hard to guess as the JWT key.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 32;
/// Password hashes at once per core when `PETTYSYNC_PASSWORD_HASH_CONCURRENCY` is unset.
pub const DEFAULT_HASHES_PER_CORE: usize = 2;
/// Default of `PETTYSYNC_AUTH_ATTEMPTS_PER_MINUTE`.
pub const DEFAULT_AUTH_ATTEMPTS_PER_MINUTE: u32 = 30;

/// Everything the server can be told from outside, after validation.
#[derive(Clone, Deserialize)]
pub struct Settings {
    /// Where HTTP and WebSockets listen; port 0 picks a free one.
    pub http_addr: String,
    pub database_url: SecretString,
    pub mongodb_url: SecretString,
    pub redis_url: SecretString,
    /// Prefix of every Redis key and channel, so several deployments (or tests) share a server.
    pub redis_prefix: String,
    pub mqtt_url: SecretString,
    pub mqtt_topic_prefix: String,
    /// An S3-compatible endpoint (path-style); unset means AWS itself.
    pub s3_endpoint: Option<String>,
    pub s3_bucket: String,
    pub sns_endpoint: Option<String>,
    pub sns_apns_app_arn: Option<String>,
    pub sns_fcm_app_arn: Option<String>,
    /// From `AWS_REGION`; unset falls back to the AWS default chain.
    pub aws_region: Option<String>,
    /// From `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`; unset falls back to the AWS default chain.
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<SecretString>,
    /// Required by `serve`; checked there, since `migrate` does not sign tokens.
    pub jwt_secret: Option<SecretString>,
    /// Bearer token of `/v1/admin/*`; unset turns those routes off (404).
    pub admin_token: Option<SecretString>,
    pub public_url: String,
    pub hot_retention_days: u32,
    /// Seconds a pet stays in live mode after its last watcher leaves.
    pub live_grace_s: u64,
    /// Largest image a post may carry (jpeg, png, webp), in bytes.
    pub max_image_bytes: u64,
    /// Largest video a post may carry (mp4), in bytes.
    pub max_video_bytes: u64,
    /// Lifetime of a presigned upload URL, in seconds.
    pub upload_url_ttl_s: u64,
    /// Lifetime of a presigned media download URL in post responses, in seconds.
    pub media_url_ttl_s: u64,
    /// Authors with more followers than this are merged into feeds at read time instead of
    /// fanned out to every follower's timeline.
    pub feed_fanout_max_followers: u64,
    /// The same alert kind for the same pet within this many seconds pushes once.
    pub push_dedupe_window_s: u64,
    /// Most social pushes (follows, likes, comments) one user gets per hour; the rest are
    /// stored as notifications only. Alerts have their own budget.
    pub push_rate_limit_per_hour: u32,
    /// Longest a share link may live, in seconds.
    pub share_max_expiry_s: u64,
    /// H3 resolution an `approximate` share link snaps positions to (8: cells of ~0.7 km²).
    pub share_h3_resolution: u8,
    /// Map tile URL template of the web pages (`{z}/{x}/{y}`); empty draws on a plain background.
    pub map_tile_url: String,
    // Credentials and live sessions: how long access lasts, and how much one viewer may hold.
    /// Lifetime of an access token, in seconds; a signed-in WebSocket session lives as long
    /// as its newest token unless the app sends a fresh one (`auth`).
    pub access_token_ttl_s: u64,
    /// Most WebSocket sessions one signed-in user may hold open on a server.
    pub ws_max_sessions_per_user: usize,
    /// Most WebSocket sessions one share link may have open on a server.
    pub ws_max_sessions_per_link: usize,
    /// `subscribe` frames a session may send per minute, on average (a token bucket that
    /// holds a burst of `ws_subscribe_burst`).
    pub ws_subscribes_per_minute: u32,
    /// `subscribe` frames a session may send at once before the per-minute rate applies.
    pub ws_subscribe_burst: u32,
    /// Most pets one WebSocket session may watch at once.
    pub ws_max_watched_pets: usize,
    pub log: String,
    pub log_format: LogFormat,
    // Ingest and shutdown (see README, "Guarantees and limits").
    /// MQTT 5 Receive Maximum: QoS 1 messages the broker may have unacknowledged with us.
    pub mqtt_receive_maximum: u16,
    /// Seconds the broker keeps our session (and queues messages for it) while we are away.
    pub mqtt_session_expiry_s: u32,
    /// MQTT keep-alive of the server's connections: a broker that answers no ping within it
    /// is taken for lost.
    pub mqtt_keep_alive_s: u64,
    /// Longest a SIGTERM waits for buffered work to be stored before the process exits.
    pub drain_timeout_s: u64,
    /// Most alert pushes one user gets per hour (social pushes have their own budget).
    pub push_alert_rate_limit_per_hour: u32,
    // Abuse resistance: who the client is, and how much sign-in work it may ask for.
    /// Proxies whose `X-Forwarded-For` is believed (`PETTYSYNC_TRUSTED_PROXIES`); empty:
    /// the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: TrustedProxies,
    /// Argon2 hashes computed at once; unset: [`DEFAULT_HASHES_PER_CORE`] × cores.
    #[serde(default)]
    pub password_hash_concurrency: Option<usize>,
    /// Register and login attempts one client address may make per minute.
    #[serde(default = "default_auth_attempts_per_minute")]
    pub auth_attempts_per_minute: u32,
    /// Seconds between roll-up passes of `serve` (one node at a time).
    #[serde(default = "default_rollup_interval_s")]
    pub rollup_interval_s: u64,
    /// Seconds between the archival passes `serve` runs (one node at a time).
    #[serde(default = "default_archive_interval_s")]
    pub archive_interval_s: u64,
    /// Test hook: where an archival pass stops as if killed (`after_upload`,
    /// `after_manifest`, `mid_delete`). For tests and drills only.
    #[serde(default)]
    pub archive_failpoint: Option<String>,
    /// Clips per mood of the synthetic seed set the first model is trained on when none is
    /// active (`PETTYSYNC_MOOD_SEED_PER_CLASS`); 0: train none (tests that need no model).
    #[serde(default = "default_mood_seed_per_class")]
    pub mood_seed_per_class: usize,
    /// Least confidence of a distressed mood that raises `mood_distress`.
    #[serde(default = "default_mood_alert_confidence")]
    pub mood_alert_confidence: f64,
    /// Corrections newer than the newest model's training set that trigger a scheduled
    /// retraining (`PETTYSYNC_MOOD_RETRAIN_MIN_CORRECTIONS`).
    #[serde(default = "default_mood_retrain_min_corrections")]
    pub mood_retrain_min_corrections: u32,
    /// Seconds between the server's looks at the corrections count (one node retrains at a
    /// time), `PETTYSYNC_MOOD_RETRAIN_INTERVAL_S`.
    #[serde(default = "default_mood_retrain_interval_s")]
    pub mood_retrain_interval_s: u64,
    /// An HTTP inference endpoint (WAV in, `{mood, confidence}` out) asked before the
    /// built-in model, which stays the fallback (`PETTYSYNC_MOOD_ENDPOINT`); unset: built-in only.
    #[serde(default)]
    pub mood_endpoint: Option<String>,
    /// This node's name in the cluster (`PETTYSYNC_NODE_ID`); unset: host name and HTTP port.
    /// It also names the node's MQTT session, so it must stay the same across restarts.
    #[serde(default)]
    pub node_id: Option<String>,
    /// The MQTT shared subscription group the nodes read collar topics through
    /// (`PETTYSYNC_MQTT_SHARE_GROUP`); empty: a plain subscription (one node only).
    #[serde(default = "default_mqtt_share_group")]
    pub mqtt_share_group: String,
    /// Seconds a node's heartbeat stays fresh (`PETTYSYNC_NODE_TTL_S`): a node silent this
    /// long is out of the live-node set, and its collars move.
    #[serde(default = "default_node_ttl_s")]
    pub node_ttl_s: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A setting that could not be used; the message names it the way an operator sets it.
#[derive(Debug, thiserror::Error)]
#[error("bad setting {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: &str, message: impl Into<String>) -> Self {
        Self {
            setting: setting.to_owned(),
            message: message.into(),
        }
    }
}

mod defaults;
mod proxies;
mod validate;

use self::defaults::DEFAULTS;
pub use self::proxies::TrustedProxies;

impl Settings {
    /// Loads and validates the settings from defaults, the optional file and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS));
        if let Ok(path) = std::env::var("PETTYSYNC_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment
            .merge(Env::prefixed(ENV_PREFIX).ignore(&["CONFIG"]))
            .merge(Env::raw().only(&["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]));
        let settings: Settings = figment.extract().map_err(from_figment)?;
        settings.validate()?;
        Ok(settings)
    }
    /// The JWT key, which `serve` cannot run without.
    pub fn require_jwt_secret(&self) -> Result<&SecretString, ConfigError> {
        self.jwt_secret.as_ref().ok_or_else(|| {
            ConfigError::new(
                "PETTYSYNC_JWT_SECRET",
                "is required by serve (at least 32 bytes)",
            )
        })
    }

    /// How long a SIGTERM waits for buffered work before the process exits.
    pub fn drain_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.drain_timeout_s)
    }
    /// Password hashes computed at once: the setting, else two per core.
    pub fn hash_concurrency(&self) -> usize {
        self.password_hash_concurrency.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            DEFAULT_HASHES_PER_CORE * cores
        })
    }

    /// How often `serve` looks whether enough corrections wait for a mood retraining.
    pub fn mood_retrain_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.mood_retrain_interval_s)
    }

    /// How often `serve` runs a roll-up pass.
    pub fn rollup_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.rollup_interval_s)
    }

    /// How long a node's heartbeat stays fresh.
    pub fn node_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.node_ttl_s)
    }

    /// How long live mode outlasts the last watcher.
    pub fn live_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.live_grace_s)
    }

    /// Name of the MongoDB database, taken from the URL's path (`pettysync` when absent).
    pub fn mongodb_database(&self) -> String {
        url::Url::parse(self.mongodb_url.expose_secret())
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "pettysync".to_owned())
    }
}

/// Turns figment's error into one that names the variable an operator would set.
fn from_figment(error: figment::Error) -> ConfigError {
    let key = error.path.last().cloned().unwrap_or_default();
    let setting = match key.as_str() {
        "aws_region" | "aws_access_key_id" | "aws_secret_access_key" => key.to_uppercase(),
        "" => "PETTYSYNC_CONFIG".to_owned(),
        _ => format!("{ENV_PREFIX}{}", key.to_uppercase()),
    };
    ConfigError::new(&setting, error.kind.to_string())
}

fn default_auth_attempts_per_minute() -> u32 {
    DEFAULT_AUTH_ATTEMPTS_PER_MINUTE
}

/// Default of `PETTYSYNC_ROLLUP_INTERVAL_S`.
pub const DEFAULT_ROLLUP_INTERVAL_S: u64 = 60;

fn default_rollup_interval_s() -> u64 {
    DEFAULT_ROLLUP_INTERVAL_S
}

fn default_archive_interval_s() -> u64 {
    3600
}

fn default_mood_seed_per_class() -> usize {
    crate::mood::synth::SeedSpec::DEFAULT.per_class
}

/// Default of `PETTYSYNC_MOOD_ALERT_CONFIDENCE`.
pub const DEFAULT_MOOD_ALERT_CONFIDENCE: f64 = 0.7;

fn default_mood_alert_confidence() -> f64 {
    DEFAULT_MOOD_ALERT_CONFIDENCE
}

/// Default of `PETTYSYNC_MOOD_RETRAIN_MIN_CORRECTIONS`.
pub const DEFAULT_MOOD_RETRAIN_MIN_CORRECTIONS: u32 = 50;

fn default_mood_retrain_min_corrections() -> u32 {
    DEFAULT_MOOD_RETRAIN_MIN_CORRECTIONS
}

fn default_mood_retrain_interval_s() -> u64 {
    60
}

/// Default of `PETTYSYNC_MQTT_SHARE_GROUP`.
pub const DEFAULT_MQTT_SHARE_GROUP: &str = "pettysync";

fn default_mqtt_share_group() -> String {
    DEFAULT_MQTT_SHARE_GROUP.to_owned()
}

/// Default of `PETTYSYNC_NODE_TTL_S`.
pub const DEFAULT_NODE_TTL_S: u64 = 5;

fn default_node_ttl_s() -> u64 {
    DEFAULT_NODE_TTL_S
}

#[cfg(test)]
impl Settings {
    /// The defaults with `key` set to `value`, validated, as the environment would set it.
    pub(crate) fn defaults_with(key: &str, value: impl Serialize) -> Result<Self, ConfigError> {
        let settings: Settings = Figment::from(Serialized::defaults(DEFAULTS))
            .merge(Serialized::default(key, value))
            .extract()
            .map_err(from_figment)?;
        settings.validate()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests;
