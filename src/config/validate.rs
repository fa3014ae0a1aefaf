//! Checks of the settings that types alone cannot make; each failure names the variable an
//! operator sets.

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, Settings, MIN_ADMIN_TOKEN_BYTES, MIN_JWT_SECRET_BYTES};

/// MQTT carries the keep-alive in two bytes; rumqttc takes no less than 5 s.
const KEEP_ALIVE_S: std::ops::RangeInclusive<u64> = 5..=u16::MAX as u64;

impl Settings {
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
        if !(0.0..=1.0).contains(&self.mood_alert_confidence) {
            return Err(ConfigError::new(
                "PETTYSYNC_MOOD_ALERT_CONFIDENCE",
                "must be from 0 to 1",
            ));
        }
        if self.mood_retrain_min_corrections == 0 {
            return Err(ConfigError::new(
                "PETTYSYNC_MOOD_RETRAIN_MIN_CORRECTIONS",
                "must be at least 1",
            ));
        }
        if self.mood_retrain_interval_s == 0 {
            return Err(ConfigError::new(
                "PETTYSYNC_MOOD_RETRAIN_INTERVAL_S",
                "must be at least 1 second",
            ));
        }
        if let Some(endpoint) = &self.mood_endpoint {
            let scheme = url::Url::parse(endpoint).map(|u| u.scheme().to_owned());
            if !matches!(scheme.as_deref(), Ok("http" | "https")) {
                return Err(ConfigError::new(
                    "PETTYSYNC_MOOD_ENDPOINT",
                    "expected an http:// or https:// URL",
                ));
            }
        }
        if self.rollup_interval_s == 0 {
            return Err(ConfigError::new(
                "PETTYSYNC_ROLLUP_INTERVAL_S",
                "must be at least 1 second",
            ));
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
        if self.archive_interval_s == 0 {
            return Err(ConfigError::new(
                "PETTYSYNC_ARCHIVE_INTERVAL_S",
                "must be at least 1",
            ));
        }
        if let Some(failpoint) = &self.archive_failpoint {
            if !["after_upload", "after_manifest", "mid_delete"].contains(&failpoint.as_str()) {
                return Err(ConfigError::new(
                    "PETTYSYNC_ARCHIVE_FAILPOINT",
                    "must be after_upload, after_manifest or mid_delete (a test hook)",
                ));
            }
        }
        if self.node_ttl_s < 2 {
            return Err(ConfigError::new(
                "PETTYSYNC_NODE_TTL_S",
                "must be at least 2 (a node heartbeats twice per TTL or more)",
            ));
        }
        if let Some(node) = &self.node_id {
            if !crate::cluster::NodeId::valid(node) {
                return Err(ConfigError::new(
                    "PETTYSYNC_NODE_ID",
                    "must be 1 to 64 letters, digits, '.', '-', '_' or ':'",
                ));
            }
        }
        if self.mqtt_share_group.contains(['+', '#', '/']) {
            return Err(ConfigError::new(
                "PETTYSYNC_MQTT_SHARE_GROUP",
                "must not contain '/', '+' or '#'",
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
        if !KEEP_ALIVE_S.contains(&self.mqtt_keep_alive_s) {
            return Err(ConfigError::new(
                "PETTYSYNC_MQTT_KEEP_ALIVE_S",
                "must be 5 to 65535",
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
