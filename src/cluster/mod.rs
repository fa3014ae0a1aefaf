//! Several nodes on the same stores: who this node is, which nodes are alive, and which of
//! them owns a collar.
//!
//! - `NodeId` names a node (`PETTYSYNC_NODE_ID`, else host name and HTTP port); it also names
//!   its MQTT session and its Redis keys, so it stays the same across restarts;
//! - [`Members`] is the live-node set as this node last saw it, and [`Members::owner`] picks
//!   a collar's owner by rendezvous (highest random weight) hashing: every node computes the
//!   same owner from the same set, and a node leaving or joining moves only the collars it
//!   owned or takes (about 1/n of them);
//! - `heartbeat` keeps the set: each node refreshes its entry in Redis, and the set is the
//!   entries fresher than the TTL (Redis's clock, so node clocks need not agree).
//!
//! The rendezvous hash is written here (FNV-1a with a SplitMix64 finish, twenty lines) rather
//! than taken from a crate: it must give the same owner on every node and every build, which
//! `std`'s hashers do not promise, and the crates that offer it add a dependency for a loop.

mod heartbeat;

use std::fmt;
use std::sync::Arc;

pub use self::heartbeat::{start_heartbeat, Membership};

/// This node's id: `PETTYSYNC_NODE_ID`, else the host name and the configured HTTP port.
pub fn node_id(settings: &crate::config::Settings) -> NodeId {
    settings
        .node_id
        .as_deref()
        .and_then(NodeId::parse)
        .unwrap_or_else(|| {
            let port = settings
                .http_addr
                .rsplit(':')
                .next()
                .and_then(|port| port.parse().ok())
                .unwrap_or(0);
            NodeId::from_host(port)
        })
}

/// Longest node id.
pub const MAX_NODE_ID_CHARS: usize = 64;

/// A node's name in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// A node id from the settings; `None` when it is not a valid one (see [`Self::valid`]).
    pub fn parse(id: &str) -> Option<Self> {
        Self::valid(id).then(|| Self(Arc::from(id)))
    }

    /// 1 to [`MAX_NODE_ID_CHARS`] ASCII letters, digits, `.`, `-`, `_` or `:` (it goes into
    /// Redis keys, an MQTT client id and metric labels as it is).
    pub fn valid(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= MAX_NODE_ID_CHARS
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    }

    /// The default id: this host's name and the HTTP port the node listens on.
    pub fn from_host(port: u16) -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(MAX_NODE_ID_CHARS - 6)
            .collect();
        Self(Arc::from(format!("{host}:{port}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The live-node set as this node last saw it, with this node's own id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    me: NodeId,
    /// Sorted, never empty, and holds `me` (a node that is running counts itself in, even
    /// while Redis cannot say who else is there).
    nodes: Vec<NodeId>,
}

impl Members {
    /// Only this node: the set before the first heartbeat answered, and of a single node.
    pub fn alone(me: NodeId) -> Self {
        Self {
            nodes: vec![me.clone()],
            me,
        }
    }

    /// This node and the others seen alive.
    pub fn new(me: NodeId, others: impl IntoIterator<Item = NodeId>) -> Self {
        let mut nodes: Vec<NodeId> = others.into_iter().collect();
        nodes.push(me.clone());
        nodes.sort();
        nodes.dedup();
        Self { me, nodes }
    }

    pub fn me(&self) -> &NodeId {
        &self.me
    }

    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The node that runs the collar's actor: the member with the highest weight for it.
    pub fn owner(&self, serial: &str) -> &NodeId {
        self.nodes
            .iter()
            .max_by_key(|node| (weight(node.as_str(), serial), *node))
            .unwrap_or(&self.me)
    }

    /// True when this node runs the collar's actor.
    pub fn owns(&self, serial: &str) -> bool {
        self.nodes.len() == 1 || self.owner(serial) == &self.me
    }
}

/// The rendezvous weight of `node` for `key`: FNV-1a over both (with a separator, so
/// `("ab", "c")` and `("a", "bc")` differ), finished with SplitMix64 so that similar names
/// spread evenly.
fn weight(node: &str, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in node.bytes().chain([0xff]).chain(key.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> NodeId {
        NodeId::parse(id).unwrap()
    }

    fn serials(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("PS-{i:06}")).collect()
    }

    #[test]
    fn every_node_names_the_same_owner_whatever_order_it_saw_the_others_in() {
        let a = Members::new(node("a:1"), [node("c:1"), node("b:1")]);
        let b = Members::new(node("b:1"), [node("a:1"), node("c:1")]);
        for serial in serials(500) {
            assert_eq!(a.owner(&serial), b.owner(&serial));
            assert!(
                !(a.owns(&serial) && b.owns(&serial)),
                "{serial} has two owners"
            );
        }
    }

    #[test]
    fn collars_spread_evenly_and_a_leaving_node_moves_only_its_own() {
        let three = Members::new(node("n1:80"), [node("n2:80"), node("n3:80")]);
        let two = Members::new(node("n1:80"), [node("n3:80")]);
        let mut per_node = std::collections::HashMap::<NodeId, usize>::new();
        for serial in serials(30_000) {
            let before = three.owner(&serial).clone();
            *per_node.entry(before.clone()).or_default() += 1;
            if before != node("n2:80") {
                assert_eq!(two.owner(&serial), &before, "{serial} moved needlessly");
            }
        }
        for (node, count) in per_node {
            assert!(
                (9_000..11_000).contains(&count),
                "{node} owns {count} of 30 000"
            );
        }
    }

    #[test]
    fn a_single_node_owns_everything() {
        let alone = Members::alone(node("solo:8080"));
        assert!(serials(100).iter().all(|s| alone.owns(s)));
    }

    #[test]
    fn node_ids_are_checked_and_the_default_is_host_and_port() {
        assert!(NodeId::valid("pettysync-0.pettysync:8080"));
        for bad in ["", "a b", "a/b", "a*", &"x".repeat(65)] {
            assert!(!NodeId::valid(bad), "{bad:?}");
        }
        let default = NodeId::from_host(8080);
        assert!(default.as_str().ends_with(":8080"));
        assert!(NodeId::valid(default.as_str()), "{default}");
    }
}
