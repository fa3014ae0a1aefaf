//! The push gate: Redis counters that decide whether a notification is also pushed. The
//! same alert kind for the same pet pushes a user once per dedupe window (a window of 0
//! turns this off), and a user gets at most so many pushes per clock hour. When Redis is
//! down the push goes out (fail open): a duplicate beats a missed "Rex left Home".

use chrono::Utc;
use deadpool_redis::redis;

use crate::cache::Redis;
use crate::ids::UserId;

/// Seconds in the rate limit's window: a clock hour.
const RATE_WINDOW_S: i64 = 3600;

/// Redis counters that decide whether a notification is pushed.
pub(super) struct PushGate {
    pub(super) redis: Redis,
    /// Seconds; 0 turns deduplication off.
    pub(super) dedupe_window_s: u64,
    pub(super) per_hour: u32,
}

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Push,
    Deduplicated,
    RateLimited,
}

impl PushGate {
    /// True when the push may go: not a duplicate within the window (`dedupe` names what
    /// counts as the same), and under the user's hourly limit.
    pub(super) async fn admit(&self, user: UserId, dedupe: Option<String>, kind: &str) -> bool {
        let reason = match self.check(user, dedupe).await {
            Ok(Verdict::Push) => return true,
            Ok(Verdict::Deduplicated) => "deduplicated",
            Ok(Verdict::RateLimited) => "rate_limited",
            Err(error) => {
                metrics::counter!("pettysync_push_gate_errors_total").increment(1);
                tracing::warn!(error = ?error, "Redis unavailable; pushing without dedupe or rate limit");
                return true;
            }
        };
        metrics::counter!("pettysync_pushes_suppressed_total", "reason" => reason, "kind" => kind.to_owned())
            .increment(1);
        tracing::debug!(%user, kind, reason, "push suppressed");
        false
    }

    async fn check(&self, user: UserId, dedupe: Option<String>) -> anyhow::Result<Verdict> {
        let mut conn = self.redis.conn().await?;
        let dedupe_key = match dedupe {
            Some(subject) if self.dedupe_window_s > 0 => {
                let key = self.redis.key(&format!("push:dedupe:{subject}"));
                let first: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(self.dedupe_window_s)
                    .query_async(&mut conn)
                    .await?;
                if first.is_none() {
                    return Ok(Verdict::Deduplicated);
                }
                Some(key)
            }
            _ => None,
        };
        let window = Utc::now().timestamp().div_euclid(RATE_WINDOW_S);
        let key = self.redis.key(&format!("push:rate:{user}:{window}"));
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(RATE_WINDOW_S)
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await?;
        if count > u64::from(self.per_hour) {
            // Not pushed, so not a push for later ones to count as duplicates of.
            if let Some(key) = dedupe_key {
                let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
            }
            return Ok(Verdict::RateLimited);
        }
        Ok(Verdict::Push)
    }
}
