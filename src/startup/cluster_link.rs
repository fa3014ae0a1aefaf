//! The cluster's parts of ingest: forwarding collar messages to the node that owns the
//! collar, and this node's reader of the messages forwarded to it.

use actix::Addr;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::actors::persistence::PersistenceSupervisor;
use crate::actors::registry::CollarRegistry;
use crate::cache::Redis;
use crate::cluster::Membership;
use crate::config::Settings;
use crate::ingest::forward::{Forwarder, Inbox};
use crate::ingest::mqtt::Acker;
use crate::ingest::pairing_cache::PairingCache;
use crate::ingest::pipeline::Remote;

/// What the cluster's parts of ingest are built from.
pub(super) struct ClusterParts<'a> {
    pub(super) settings: &'a Settings,
    pub(super) pg: &'a PgPool,
    pub(super) redis: &'a Redis,
    pub(super) membership: &'a Membership,
    pub(super) registry: &'a Addr<CollarRegistry>,
    pub(super) persistence: &'a Addr<PersistenceSupervisor>,
    pub(super) acker: Acker,
    pub(super) stop: &'a watch::Receiver<bool>,
}

/// Starts the forwarding of collar messages to their owners and this node's reader of
/// forwarded ones (both end when `stop` turns true), and returns what ingest needs of them.
pub(super) fn start(parts: &ClusterParts<'_>) -> Remote {
    let (forwarder, _) =
        Forwarder::start(parts.redis.clone(), parts.acker.clone(), parts.stop.clone());
    let inbox = Inbox {
        redis: parts.redis.clone(),
        membership: parts.membership.clone(),
        registry: parts.registry.clone(),
        persistence: parts.persistence.clone(),
        ttl: parts.settings.node_ttl(),
    };
    tokio::spawn(inbox.run(parts.stop.clone()));
    Remote {
        membership: parts.membership.clone(),
        forwarder,
        pairings: PairingCache::new(parts.pg.clone()),
    }
}
