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

/// The defaults suit a developer machine with every service on loopback.
#[derive(Serialize)]
struct Defaults {
    http_addr: &'static str,
    database_url: &'static str,
    mongodb_url: &'static str,
    redis_url: &'static str,
    redis_prefix: &'static str,
    mqtt_url: &'static str,
    mqtt_topic_prefix: &'static str,
    s3_bucket: &'static str,
    public_url: &'static str,
    hot_retention_days: u32,
    live_grace_s: u64,
    max_image_bytes: u64,
    max_video_bytes: u64,
    upload_url_ttl_s: u64,
    media_url_ttl_s: u64,
    feed_fanout_max_followers: u64,
    push_dedupe_window_s: u64,
    push_rate_limit_per_hour: u32,
    share_max_expiry_s: u64,
    share_h3_resolution: u8,
    map_tile_url: &'static str,
    access_token_ttl_s: u64,
    ws_max_sessions_per_user: usize,
    ws_max_sessions_per_link: usize,
    ws_subscribes_per_minute: u32,
    ws_subscribe_burst: u32,
    ws_max_watched_pets: usize,
    log: &'static str,
    log_format: LogFormat,
    mqtt_receive_maximum: u16,
    mqtt_session_expiry_s: u32,
    drain_timeout_s: u64,
    push_alert_rate_limit_per_hour: u32,
}

const DEFAULTS: Defaults = Defaults {
    http_addr: "127.0.0.1:8080",
    database_url: "postgres://postgres@127.0.0.1:5432/pettysync",
    mongodb_url: "mongodb://127.0.0.1:27017/pettysync",
    redis_url: "redis://127.0.0.1:6379/0",
    redis_prefix: "pettysync:",
    mqtt_url: "mqtt://127.0.0.1:1883?client_id=pettysync-1",
    mqtt_topic_prefix: "pettysync/v1",
    s3_bucket: "pettysync",
    public_url: "http://127.0.0.1:8080",
    hot_retention_days: 30,
    live_grace_s: 30,
    max_image_bytes: 10_000_000,
    max_video_bytes: 100_000_000,
    upload_url_ttl_s: 900,
    media_url_ttl_s: 3600,
    feed_fanout_max_followers: 10_000,
    push_dedupe_window_s: 600,
    push_rate_limit_per_hour: 60,
    share_max_expiry_s: 30 * 24 * 3600,
    share_h3_resolution: 8,
    map_tile_url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    access_token_ttl_s: 15 * 60,
    ws_max_sessions_per_user: 20,
    ws_max_sessions_per_link: 10,
    ws_subscribes_per_minute: 30,
    ws_subscribe_burst: 10,
    ws_max_watched_pets: 50,
    log: "info",
    log_format: LogFormat::Text,
    mqtt_receive_maximum: 65_535,
    mqtt_session_expiry_s: 7 * 24 * 3600,
    drain_timeout_s: 30,
    push_alert_rate_limit_per_hour: 60,
};

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

    /// Checks what types alone cannot: addresses parse, URLs have the right scheme, sizes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http_addr
            .parse::<std::net::SocketAddr>()
            .map_err(|_| {
                ConfigError::new(
                    "PETTYSYNC_HTTP_ADDR",
                    "expected host:port, e.g. 127.0.0.1:8080",
                )
            })?;
        check_url(
            &self.database_url,
            "PETTYSYNC_DATABASE_URL",
            &["postgres", "postgresql"],
        )?;
        check_url(
            &self.mongodb_url,
            "PETTYSYNC_MONGODB_URL",
            &["mongodb", "mongodb+srv"],
        )?;
        check_url(&self.redis_url, "PETTYSYNC_REDIS_URL", &["redis", "rediss"])?;
        check_url(
            &self.mqtt_url,
            "PETTYSYNC_MQTT_URL",
            &["mqtt", "mqtts", "tcp", "ssl"],
        )?;
        url::Url::parse(&self.public_url)
            .map_err(|_| ConfigError::new("PETTYSYNC_PUBLIC_URL", "expected an absolute URL"))?;
        for (name, endpoint) in [
            ("PETTYSYNC_S3_ENDPOINT", &self.s3_endpoint),
            ("PETTYSYNC_SNS_ENDPOINT", &self.sns_endpoint),
        ] {
            if let Some(endpoint) = endpoint {
                url::Url::parse(endpoint)
                    .map_err(|_| ConfigError::new(name, "expected an absolute URL"))?;
            }
        }
        for (name, value) in [
            ("PETTYSYNC_UPLOAD_URL_TTL_S", self.upload_url_ttl_s),
            ("PETTYSYNC_MEDIA_URL_TTL_S", self.media_url_ttl_s),
        ] {
            // SigV4 presigned URLs live at most seven days.
            if !(1..=7 * 24 * 3600).contains(&value) {
                return Err(ConfigError::new(
                    name,
                    "must be between 1 and 604800 seconds",
                ));
            }
        }
        if self.share_h3_resolution > 15 {
            return Err(ConfigError::new(
                "PETTYSYNC_SHARE_H3_RESOLUTION",
                "must be 0 to 15",
            ));
        }
        if self.hot_retention_days == 0 {
            return Err(ConfigError::new(
                "PETTYSYNC_HOT_RETENTION_DAYS",
                "must be at least 1",
            ));
        }
        if self.mqtt_topic_prefix.is_empty() || self.mqtt_topic_prefix.contains(['+', '#']) {
            return Err(ConfigError::new(
                "PETTYSYNC_MQTT_TOPIC_PREFIX",
                "must be non-empty and without MQTT wildcards",
            ));
        }
        if self.mqtt_receive_maximum == 0 {
            return Err(ConfigError::new(
                "PETTYSYNC_MQTT_RECEIVE_MAXIMUM",
                "must be 1 to 65535",
            ));
        }
        if self.drain_timeout_s == 0 {
            return Err(ConfigError::new(
                "PETTYSYNC_DRAIN_TIMEOUT_S",
                "must be at least 1",
            ));
        }
        self.validate_abuse_limits()?;
        self.validate_access()?;
        if let Some(secret) = &self.jwt_secret {
            if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
                return Err(ConfigError::new(
                    "PETTYSYNC_JWT_SECRET",
                    format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
                ));
            }
        }
        Ok(())
    }

    /// Checks the credential and live-session limits: each must allow something.
    fn validate_access(&self) -> Result<(), ConfigError> {
        if !(1..=24 * 3600).contains(&self.access_token_ttl_s) {
            return Err(ConfigError::new(
                "PETTYSYNC_ACCESS_TOKEN_TTL_S",
                "must be between 1 and 86400 seconds",
            ));
        }
        for (name, value) in [
            (
                "PETTYSYNC_WS_MAX_SESSIONS_PER_USER",
                self.ws_max_sessions_per_user,
            ),
            (
                "PETTYSYNC_WS_MAX_SESSIONS_PER_LINK",
                self.ws_max_sessions_per_link,
            ),
            ("PETTYSYNC_WS_MAX_WATCHED_PETS", self.ws_max_watched_pets),
            (
                "PETTYSYNC_WS_SUBSCRIBES_PER_MINUTE",
                self.ws_subscribes_per_minute as usize,
            ),
            (
                "PETTYSYNC_WS_SUBSCRIBE_BURST",
                self.ws_subscribe_burst as usize,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
        }
        Ok(())
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

    /// The admin token's length and the sign-in limits.
    fn validate_abuse_limits(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.admin_token {
            if token.expose_secret().len() < MIN_ADMIN_TOKEN_BYTES {
                return Err(ConfigError::new(
                    "PETTYSYNC_ADMIN_TOKEN",
                    format!("must be at least {MIN_ADMIN_TOKEN_BYTES} bytes"),
                ));
            }
        }
        let hashes = self.password_hash_concurrency.unwrap_or(1);
        let attempts = self.auth_attempts_per_minute as usize;
        match (hashes, attempts) {
            (0, _) => Err("PETTYSYNC_PASSWORD_HASH_CONCURRENCY"),
            (_, 0) => Err("PETTYSYNC_AUTH_ATTEMPTS_PER_MINUTE"),
            _ => Ok(()),
        }
        .map_err(|name| ConfigError::new(name, "must be at least 1"))
    }

    /// Password hashes computed at once: the setting, else two per core.
    pub fn hash_concurrency(&self) -> usize {
        self.password_hash_concurrency.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            DEFAULT_HASHES_PER_CORE * cores
        })
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

fn check_url(value: &SecretString, setting: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    // The message never repeats the value: it may hold a password.
    let url = url::Url::parse(value.expose_secret())
        .map_err(|_| ConfigError::new(setting, "is not a valid URL"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(ConfigError::new(
            setting,
            format!("scheme must be one of {}", schemes.join(", ")),
        ));
    }
    Ok(())
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

/// The proxies (load balancers) in front of the server whose `X-Forwarded-For` is believed:
/// IP networks in CIDR form, or single addresses. In the environment a comma-separated list,
/// in a settings file a string or a list of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 192.168.1.7, fd00::/8`; the empty string trusts no one.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_network)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// True when `address` (IPv4-mapped IPv6 counts as IPv4) is one of the proxies.
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_network(entry: &str) -> Result<ipnet::IpNet, String> {
    entry
        .parse::<ipnet::IpNet>()
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|network| network.trunc())
        .map_err(|_| format!("{entry:?} is neither an IP address nor a CIDR network"))
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(String),
            Entries(Vec<String>),
            // The environment provider reads `1` or `1.5` as numbers: refused below by name.
            Number(f64),
        }
        let list = match Form::deserialize(deserializer)? {
            Form::List(list) => list,
            Form::Entries(entries) => entries.join(","),
            Form::Number(number) => number.to_string(),
        };
        Self::parse(&list).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
