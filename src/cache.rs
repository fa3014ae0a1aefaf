//! Redis access: one pool and the key prefix that every key and channel carries, so several
//! deployments (or test runs) can share one Redis server.

use deadpool_redis::redis::AsyncCommands;
use deadpool_redis::{Config, Connection, Pool, Runtime};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Connections kept open to Redis per server.
const POOL_SIZE: usize = 32;
/// How long a request waits for a pooled connection before failing.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The Redis pool and key prefix.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    /// For the connections that are not pooled: a pub/sub subscriber holds its own.
    client: deadpool_redis::redis::Client,
    prefix: String,
}

impl Redis {
    /// Builds the pool; connections are made lazily, so this succeeds while Redis is down.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let mut config = Config::from_url(settings.redis_url.expose_secret());
        config.pool = Some(deadpool_redis::PoolConfig {
            max_size: POOL_SIZE,
            timeouts: deadpool_redis::Timeouts {
                wait: Some(POOL_WAIT),
                create: Some(POOL_WAIT),
                recycle: Some(POOL_WAIT),
            },
            ..Default::default()
        });
        let pool = config.create_pool(Some(Runtime::Tokio1))?;
        let client = deadpool_redis::redis::Client::open(settings.redis_url.expose_secret())?;
        Ok(Self {
            pool,
            client,
            prefix: settings.redis_prefix.clone(),
        })
    }

    /// The full name of a key: the configured prefix, then `suffix`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{}", self.prefix, suffix)
    }

    pub async fn conn(&self) -> Result<Connection, deadpool_redis::PoolError> {
        self.pool.get().await
    }

    /// A dedicated pub/sub connection (a subscribed connection can do nothing else).
    pub async fn pubsub(
        &self,
    ) -> deadpool_redis::redis::RedisResult<deadpool_redis::redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }

    /// Round trip to Redis, for readiness.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        let _: String = deadpool_redis::redis::cmd("PING")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}

/// A fixed-window counter of failures (logins, pairing attempts): after `max` failures in
/// `window_s` the caller is refused until the window ends.
pub struct FailureLimit {
    /// Key namespace under the prefix, e.g. `ratelimit:login:`.
    pub namespace: &'static str,
    pub max: u32,
    pub window_s: u64,
}

impl FailureLimit {
    /// Seconds until the subject may try again, or `None` when it may try now.
    pub async fn blocked_for(&self, redis: &Redis, subject: &str) -> anyhow::Result<Option<u64>> {
        let key = redis.key(&format!("{}{subject}", self.namespace));
        let mut conn = redis.conn().await?;
        let count: Option<u32> = conn.get(&key).await?;
        if count.unwrap_or(0) < self.max {
            return Ok(None);
        }
        let ttl: i64 = conn.ttl(&key).await?;
        Ok(Some(ttl.max(1) as u64))
    }

    /// Counts one failure; the window starts with the first.
    pub async fn record_failure(&self, redis: &Redis, subject: &str) -> anyhow::Result<()> {
        let key = redis.key(&format!("{}{subject}", self.namespace));
        let mut conn = redis.conn().await?;
        let _: () = deadpool_redis::redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.window_s)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Counts this attempt before it is made, in one atomic step, and says whether it may go
    /// ahead: `None` when it is within the window's `max`, else the seconds until the window
    /// ends. Unlike [`Self::blocked_for`] then [`Self::record_failure`], parallel attempts
    /// cannot all pass the check before any is counted. Attempts that succeed may be
    /// forgiven with [`Self::reset`].
    pub async fn take_attempt(&self, redis: &Redis, subject: &str) -> anyhow::Result<Option<u64>> {
        let key = redis.key(&format!("{}{subject}", self.namespace));
        let mut conn = redis.conn().await?;
        let (count, ttl): (u64, i64) = deadpool_redis::redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.window_s)
            .arg("NX")
            .ignore()
            .ttl(&key)
            .query_async(&mut conn)
            .await?;
        Ok((count > u64::from(self.max)).then(|| ttl.max(1) as u64))
    }

    /// Forgets the failures, e.g. after a successful login.
    pub async fn reset(&self, redis: &Redis, subject: &str) -> anyhow::Result<()> {
        let key = redis.key(&format!("{}{subject}", self.namespace));
        let mut conn = redis.conn().await?;
        let _: () = conn.del(&key).await?;
        Ok(())
    }
}

/// An `EVAL` of `script` over `keys` with `args` (strings: Redis sees every argument as one).
pub fn eval(script: &str, keys: &[String], args: &[String]) -> deadpool_redis::redis::Cmd {
    let mut cmd = deadpool_redis::redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
    cmd
}
