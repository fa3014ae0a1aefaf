//! The live-node set, kept in Redis: each node adds itself to one sorted set scored by
//! Redis's own clock, drops the entries older than the TTL and reads the rest, in one script
//! per beat (three beats per TTL). A node that stops beating is out of every node's set one
//! TTL later; a node that shuts down takes itself out at once.
//!
//! While Redis does not answer, a node keeps the set it saw last: ownership does not flap
//! with a Redis blip (the nodes that cannot reach Redis cannot forward to each other either).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Members, NodeId};
use crate::cache::{self, Redis};

/// The Redis key of the live-node set (under the deployment's prefix).
pub const MEMBERS_KEY: &str = "cluster:nodes";

/// Beat: refresh this node's entry, forget entries older than the TTL (ARGV[2], ms), and
/// return the rest. `TIME` is Redis's clock, the one clock every node shares.
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

/// This node's view of the cluster: its id and the live-node set, which changes as nodes
/// come and go (`changed()` on a clone of [`Membership::watch`]).
#[derive(Clone)]
pub struct Membership {
    me: NodeId,
    members: watch::Receiver<Arc<Members>>,
    redis: Option<Redis>,
}

impl Membership {
    /// A node that is alone and stays alone (tests of a single server's parts).
    pub fn single(me: NodeId) -> Self {
        let (_, members) = watch::channel(Arc::new(Members::alone(me.clone())));
        Self {
            me,
            members,
            redis: None,
        }
    }

    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// The live-node set as last seen.
    pub fn current(&self) -> Arc<Members> {
        self.members.borrow().clone()
    }

    /// A receiver that wakes when the set changes.
    pub fn watch(&self) -> watch::Receiver<Arc<Members>> {
        self.members.clone()
    }

    /// Takes this node out of the set now (shutdown), so its collars move without waiting
    /// for its entry to age out.
    pub async fn leave(&self) {
        let Some(redis) = &self.redis else { return };
        let key = redis.key(MEMBERS_KEY);
        let left = async {
            let mut conn = redis.conn().await?;
            let _: i64 = deadpool_redis::redis::cmd("ZREM")
                .arg(&key)
                .arg(self.me.as_str())
                .query_async(&mut conn)
                .await?;
            anyhow::Ok(())
        };
        if let Err(error) = left.await {
            tracing::warn!(%error, "could not leave the cluster; the entry ages out");
        }
    }
}

/// Starts beating: the first beat is sent before this returns (so a starting node sees the
/// others before it takes collars), then one every third of `ttl`.
pub async fn start_heartbeat(
    redis: Redis,
    me: NodeId,
    ttl: Duration,
) -> (Membership, JoinHandle<()>) {
    let (tx, members) = watch::channel(Arc::new(Members::alone(me.clone())));
    let beat = Beat {
        redis: redis.clone(),
        me: me.clone(),
        ttl,
        tx,
    };
    beat.once().await;
    let task = tokio::spawn(beat.run());
    let membership = Membership {
        me,
        members,
        redis: Some(redis),
    };
    (membership, task)
}

struct Beat {
    redis: Redis,
    me: NodeId,
    ttl: Duration,
    tx: watch::Sender<Arc<Members>>,
}

impl Beat {
    async fn run(self) {
        let mut every = tokio::time::interval(self.ttl / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            self.once().await;
        }
    }

    async fn once(&self) {
        match self.beat().await {
            Ok(nodes) => {
                let members = Members::new(
                    self.me.clone(),
                    nodes.iter().filter_map(|id| NodeId::parse(id)),
                );
                metrics::gauge!("pettysync_cluster_members").set(members.nodes().len() as f64);
                self.tx.send_if_modified(|current| {
                    if **current == members {
                        return false;
                    }
                    tracing::info!(nodes = ?members.nodes(), "cluster membership changed");
                    *current = Arc::new(members);
                    true
                });
            }
            Err(error) => {
                metrics::counter!("pettysync_cluster_heartbeat_failures_total").increment(1);
                tracing::warn!(%error, "heartbeat failed; keeping the last membership");
            }
        }
    }

    async fn beat(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.redis.conn().await?;
        let ttl_ms = self.ttl.as_millis().to_string();
        let nodes: Vec<String> = cache::eval(
            BEAT,
            &[self.redis.key(MEMBERS_KEY)],
            &[self.me.to_string(), ttl_ms],
        )
        .query_async(&mut conn)
        .await?;
        Ok(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn redis() -> Redis {
        let mut settings = Settings::load().expect("the test environment's settings");
        settings.redis_prefix = format!("test-cluster-{}:", uuid::Uuid::new_v4());
        Redis::new(&settings).expect("the pool builds")
    }

    fn ids(members: &Members) -> Vec<&str> {
        members.nodes().iter().map(NodeId::as_str).collect()
    }

    /// Polls `membership` until its set is `want` (a few TTLs at most).
    async fn until(membership: &Membership, want: &[&str]) {
        let mut changes = membership.watch();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ids(&changes.borrow_and_update()) != want {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let changed = tokio::time::timeout(left, changes.changed()).await;
            assert!(
                changed.is_ok(),
                "still {:?}, want {want:?}",
                ids(&membership.current())
            );
        }
    }

    #[tokio::test]
    async fn nodes_see_each_other_and_a_silent_node_ages_out_while_a_leaving_one_goes_at_once() {
        let redis = redis();
        let ttl = Duration::from_secs(2);
        let node = |id: &str| NodeId::parse(id).unwrap();
        let (a, _a_beats) = start_heartbeat(redis.clone(), node("a"), ttl).await;
        let (b, b_beats) = start_heartbeat(redis.clone(), node("b"), ttl).await;
        let (c, c_beats) = start_heartbeat(redis.clone(), node("c"), ttl).await;
        until(&a, &["a", "b", "c"]).await;
        until(&b, &["a", "b", "c"]).await;

        // b dies without a word: out one TTL later.
        b_beats.abort();
        until(&a, &["a", "c"]).await;
        // c shuts down: out at a's next beat.
        c_beats.abort();
        c.leave().await;
        until(&a, &["a"]).await;
        assert_eq!(b.me().as_str(), "b");
    }
}
