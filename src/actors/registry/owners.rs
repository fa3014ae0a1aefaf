//! Which collars this node runs: a collar's actor lives on the node that owns its serial
//! (`cluster::Members::owner`). The registry starts actors only for serials this node owns,
//! and when the live-node set changes it retires the actors of the collars another node owns
//! now; their snapshot is in Redis, where the new owner resumes from.

use actix::prelude::*;

use super::CollarRegistry;
use crate::actors::collar::Retire;

/// The live-node set changed (the registry's own membership watch).
#[derive(Message)]
#[rtype(result = "()")]
struct MembershipChanged;

/// The serials whose actors run on this node, sorted, with this node's id (for operators
/// and the cluster tests).
#[derive(Message)]
#[rtype(result = "RunningActors")]
pub struct ListActors;

/// What [`ListActors`] answers.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RunningActors {
    /// This node's id.
    pub node: String,
    /// The serials of the collar actors running here, sorted.
    pub serials: Vec<String>,
}

/// Asked to start the actor of a collar another node owns (the membership changed between
/// the caller's check and the registry's): the caller routes the message to the owner.
#[derive(Debug, thiserror::Error)]
#[error("collar {serial} is owned by node {owner}")]
pub struct NotOwner {
    pub serial: String,
    pub owner: String,
}

impl CollarRegistry {
    /// `Err` when another node owns the serial.
    pub(super) fn check_owner(&self, serial: &str) -> Result<(), NotOwner> {
        let members = self.membership.current();
        if members.owns(serial) {
            return Ok(());
        }
        Err(NotOwner {
            serial: serial.to_owned(),
            owner: members.owner(serial).to_string(),
        })
    }

    /// Wakes the registry whenever the live-node set changes, for as long as it runs.
    pub(super) fn watch_membership(&self, ctx: &mut Context<Self>) {
        let mut watch = self.membership.watch();
        let registry = ctx.address();
        ctx.spawn(
            async move {
                while watch.changed().await.is_ok() {
                    registry.do_send(MembershipChanged);
                }
            }
            .into_actor(self),
        );
    }

    /// Sets the `pettysync_collar_actors` gauge: the collar actors running on this node.
    pub(super) fn count_actors(&self) {
        metrics::gauge!("pettysync_collar_actors").set(self.collars.len() as f64);
    }
}

impl Handler<MembershipChanged> for CollarRegistry {
    type Result = ();

    fn handle(&mut self, _: MembershipChanged, _: &mut Context<Self>) {
        let members = self.membership.current();
        let moved: Vec<String> = self
            .collars
            .keys()
            .filter(|serial| !members.owns(serial))
            .cloned()
            .collect();
        if moved.is_empty() {
            return;
        }
        for serial in &moved {
            if let Some(addr) = self.collars.remove(serial) {
                // Its `stopping` hands the last snapshot to persistence.
                addr.do_send(Retire);
            }
        }
        self.by_pet.retain(|_, serial| !moved.contains(serial));
        metrics::counter!("pettysync_collar_actors_moved_total").increment(moved.len() as u64);
        tracing::info!(moved = moved.len(), "collars moved to other nodes");
        self.count_actors();
    }
}

impl Handler<ListActors> for CollarRegistry {
    type Result = MessageResult<ListActors>;

    fn handle(&mut self, _: ListActors, _: &mut Context<Self>) -> Self::Result {
        let mut serials: Vec<String> = self
            .collars
            .iter()
            .filter(|(_, addr)| addr.connected())
            .map(|(serial, _)| serial.clone())
            .collect();
        serials.sort();
        MessageResult(RunningActors {
            node: self.membership.me().to_string(),
            serials,
        })
    }
}
