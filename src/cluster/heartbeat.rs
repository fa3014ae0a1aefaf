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
