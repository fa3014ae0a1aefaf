//! The push gate: Redis counters that decide whether a notification is also pushed, with
//! separate budgets so social traffic can never silence a safety alert.
//!
//! - Alerts: the same alert kind for the same pet pushes a user once per dedupe window (0
//!   turns this off), and a user gets at most `push_alert_rate_limit_per_hour` alert pushes
//!   per clock hour (each alert counted once, however often a retried transaction asks).
//! - Social events: one actor (a follower, a liker) notifies one user at most
//!   [`SOCIAL_PER_ACTOR_PER_HOUR`] times per clock hour (the rest are not stored at all: 60
//!   follow/unfollow toggles make 10 notifications, not 60), and a user gets at most
//!   `push_rate_limit_per_hour` social pushes per clock hour.
//!
//! When Redis is down a push goes out (fail open): a duplicate beats a missed "Rex left Home".

use chrono::Utc;
use deadpool_redis::redis;
use uuid::Uuid;

use crate::cache::Redis;
use crate::ids::UserId;

/// Seconds in the rate limits' window: a clock hour.
const RATE_WINDOW_S: i64 = 3600;
/// Social notifications one actor may cause one user per clock hour.
pub const SOCIAL_PER_ACTOR_PER_HOUR: u64 = 10;

/// Redis counters that decide whether a notification is pushed.
pub struct PushGate {
    pub(crate) redis: Redis,
    /// Seconds; 0 turns deduplication of alerts off.
    pub(crate) dedupe_window_s: u64,
    /// Alert pushes per user per clock hour.
    pub(crate) alerts_per_hour: u32,
    /// Social pushes per user per clock hour.
    pub(crate) social_per_hour: u32,
}

/// What the gate decided about a social event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocialVerdict {
    /// Store the notification; push it too when `push`.
    Notify { push: bool },
    /// The actor has notified this user too often this hour: neither stored nor pushed.
    Drop,
}

impl PushGate {
    /// True when the alert may be pushed to `user`: not a duplicate of another alert within
    /// the window (`subject` names what counts as the same), and under the user's hourly
    /// alert budget. Asking again for the same alert (a retry after a failed transaction)
    /// gets the same answer as the first time, as far as the dedupe window goes.
    pub(crate) async fn admit_alert(&self, user: UserId, subject: &str, alert: Uuid) -> bool {
        match self.check_alert(user, subject, alert).await {
            Ok(None) => true,
            Ok(Some(reason)) => {
                suppressed(reason, "alert");
                false
            }
            Err(error) => {
                metrics::counter!("pettysync_push_gate_errors_total").increment(1);
                tracing::warn!(error = ?error, "Redis unavailable; pushing without dedupe or rate limit");
                true
            }
        }
    }

    /// Whether a social event from `actor` is stored for `user`, and pushed.
    pub(crate) async fn admit_social(&self, user: UserId, actor: UserId) -> SocialVerdict {
        match self.check_social(user, actor).await {
            Ok(verdict) => verdict,
            Err(error) => {
                metrics::counter!("pettysync_push_gate_errors_total").increment(1);
                tracing::warn!(error = ?error, "Redis unavailable; notifying without limits");
                SocialVerdict::Notify { push: true }
            }
        }
    }

    /// `None` to push, else why not.
    async fn check_alert(
        &self,
        user: UserId,
        subject: &str,
        alert: Uuid,
    ) -> anyhow::Result<Option<&'static str>> {
        let mut conn = self.redis.conn().await?;
        let dedupe_key = if self.dedupe_window_s > 0 {
            let key = self.redis.key(&format!("push:dedupe:{subject}:{user}"));
            let first: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(alert.to_string())
                .arg("NX")
                .arg("EX")
                .arg(self.dedupe_window_s)
                .query_async(&mut conn)
                .await?;
            if first.is_none() {
                let holder: Option<String> =
                    redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
                if holder.as_deref() != Some(alert.to_string().as_str()) {
                    return Ok(Some("deduplicated"));
                }
            }
            Some(key)
        } else {
            None
        };
        let key = self.hour_key(&format!("push:rate:alert:{user}"));
        if hourly_members(&mut conn, &key, alert).await? > u64::from(self.alerts_per_hour) {
            // Not pushed, so not a push for later ones to count as duplicates of.
            if let Some(key) = dedupe_key {
                let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
            }
            return Ok(Some("rate_limited"));
        }
        Ok(None)
    }

    async fn check_social(&self, user: UserId, actor: UserId) -> anyhow::Result<SocialVerdict> {
        let mut conn = self.redis.conn().await?;
        let per_actor = self.hour_key(&format!("notify:social:{user}:{actor}"));
        if hourly_count(&mut conn, &per_actor).await? > SOCIAL_PER_ACTOR_PER_HOUR {
            suppressed("actor_limited", "social");
            return Ok(SocialVerdict::Drop);
        }
        let budget = self.hour_key(&format!("push:rate:social:{user}"));
        let push = hourly_count(&mut conn, &budget).await? <= u64::from(self.social_per_hour);
        if !push {
            suppressed("rate_limited", "social");
        }
        Ok(SocialVerdict::Notify { push })
    }

    /// The key of a counter for the current clock hour.
    fn hour_key(&self, name: &str) -> String {
        let window = Utc::now().timestamp().div_euclid(RATE_WINDOW_S);
        self.redis.key(&format!("{name}:{window}"))
    }
}

/// Adds the alert to an hourly set; returns the set's size. A set, not a counter: asking
/// again for the same alert (a retried transaction) does not spend the budget twice.
async fn hourly_members(
    conn: &mut deadpool_redis::Connection,
    key: &str,
    alert: Uuid,
) -> anyhow::Result<u64> {
    let (count,): (u64,) = redis::pipe()
        .atomic()
        .sadd(key, alert.to_string())
        .ignore()
        .cmd("EXPIRE")
        .arg(key)
        .arg(RATE_WINDOW_S)
        .arg("NX")
        .ignore()
        .scard(key)
        .query_async(conn)
        .await?;
    Ok(count)
}

/// Counts one more in an hourly counter; returns the count.
async fn hourly_count(conn: &mut deadpool_redis::Connection, key: &str) -> anyhow::Result<u64> {
    let (count,): (u64,) = redis::pipe()
        .atomic()
        .incr(key, 1)
        .cmd("EXPIRE")
        .arg(key)
        .arg(RATE_WINDOW_S)
        .arg("NX")
        .ignore()
        .query_async(conn)
        .await?;
    Ok(count)
}

fn suppressed(reason: &'static str, what: &'static str) {
    metrics::counter!("pettysync_pushes_suppressed_total", "reason" => reason, "kind" => what)
        .increment(1);
    tracing::debug!(reason, what, "push suppressed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    /// A gate on the test environment's Redis, under a key prefix of its own.
    fn gate(alerts_per_hour: u32) -> PushGate {
        let mut settings = Settings::load().expect("the test environment's settings");
        settings.redis_prefix = format!("test-gate-{}:", Uuid::new_v4());
        PushGate {
            redis: Redis::new(&settings).expect("the pool builds"),
            dedupe_window_s: 600,
            alerts_per_hour,
            social_per_hour: 10,
        }
    }

    /// The alert intake asks again when its PostgreSQL transaction failed and is retried:
    /// the same alert must not spend the hourly budget twice.
    #[tokio::test]
    async fn asking_again_for_the_same_alert_spends_the_budget_once() {
        let gate = gate(1);
        let user = UserId::new();
        let first = Uuid::new_v4();
        assert!(gate.admit_alert(user, "pet:geofence_exit", first).await);
        assert!(
            gate.admit_alert(user, "pet:geofence_exit", first).await,
            "the retry"
        );
        let other = Uuid::new_v4();
        assert!(
            !gate.admit_alert(user, "pet:battery_low", other).await,
            "a second alert in the hour is over the budget of one"
        );
    }
}
