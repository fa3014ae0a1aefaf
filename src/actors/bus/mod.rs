//! The live bus, one per node: the hub's way to the other nodes' hubs (see `store::bus` for
//! the channels), and the cluster's live mode.
//!
//! - Events: the hub hands over what it routed; the bus sends a pet's states and moods only
//!   while a node other than this one watches the pet, and alerts and revocations whenever
//!   this node is not alone. A single node sends nothing: its live path has no Redis hop.
//!   What other nodes send comes back to the hub as if it were local.
//! - Live mode: the hub tells the bus (not the registry) when this node starts or stops
//!   watching a pet (its grace period stays per node). The bus keeps the union over the live
//!   nodes ([`watchers::Watchers`]) and tells this node's registry when the first watcher
//!   anywhere arrived and when the last one left, so every node's registry knows, and a
//!   collar whose ownership moves finds its pet's live mode already known.
//! - This node listens to the channels of the pets it watches (from the first watcher to the
//!   end of the grace after the last, so a client flipping screens does not churn them).
//! - Changes for a collar's actor made on this node (a fence drawn, a collar paired, a clip's
//!   mood) go to every other node, whose registry applies them if it runs the actor.
//! - Every node TTL the bus rewrites its own watched set in Redis and reads the other live
//!   nodes' sets, which heals an announcement lost while a connection was down; a node that
//!   left the membership stops counting at once.

mod convert;
#[cfg(test)]
mod tests;
pub mod watchers;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::stream;
use tokio::sync::mpsc;

use self::watchers::{Switch, Watchers};
use crate::actors::events::{MoodRecorded, SetLiveMode};
use crate::actors::hub::{FromPeer, ToPeers};
use crate::actors::registry::CollarChanged;
use crate::cluster::{Members, Membership, NodeId};
use crate::ids::PetId;
use crate::store::bus::{self, Channels, CollarChange, Envelope, LiveEvent, Outbox, Subscriptions};

/// Messages the bus's mailbox holds before the hub's hand-overs are dropped (and counted).
pub const MAILBOX_CAPACITY: usize = 10_000;

/// The bus's connections to Redis; a bus without them (tests of one node) only keeps the
/// union.
pub struct Link {
    channels: Channels,
    outbox: Outbox,
    subscriptions: Subscriptions,
    inbound: mpsc::Receiver<Envelope>,
}

impl Link {
    /// Starts the sending and the subscribed connections of node `me` (`node_ttl` paces the
    /// refresh of its watched set).
    pub fn start(channels: Channels, me: NodeId, node_ttl: Duration) -> Self {
        let (outbox, _) = bus::start_publisher(channels.clone(), me.clone(), node_ttl);
        let (tx, inbound) = mpsc::channel(bus::MAX_INBOUND);
        let (subscriptions, _) = bus::start_subscriber(channels.clone(), me, tx);
        Self {
            channels,
            outbox,
            subscriptions,
            inbound,
        }
    }
}

/// The live bus actor.
pub struct LiveBus {
    me: NodeId,
    membership: Membership,
    registry: Recipient<SetLiveMode>,
    /// Where the other nodes' changes for collar actors go (this node's registry).
    changes: Option<Recipient<CollarChanged>>,
    hub: Recipient<FromPeer>,
    outbox: Option<Outbox>,
    subscriptions: Option<Subscriptions>,
    channels: Option<Channels>,
    inbound: Option<mpsc::Receiver<Envelope>>,
    watchers: Watchers,
    resync_every: Duration,
    /// A read of the other nodes' sets is under way (one at a time).
    resyncing: bool,
}

impl LiveBus {
    /// A bus that tells `registry` the cluster's live mode and hands the other nodes' events
    /// to `hub`, resyncing every `resync_every` (the node TTL).
    pub fn new(
        membership: Membership,
        registry: Recipient<SetLiveMode>,
        hub: Recipient<FromPeer>,
        link: Option<Link>,
        resync_every: Duration,
    ) -> Self {
        let me = membership.me().clone();
        let (outbox, subscriptions, channels, inbound) = match link {
            Some(link) => (
                Some(link.outbox),
                Some(link.subscriptions),
                Some(link.channels),
                Some(link.inbound),
            ),
            None => (None, None, None, None),
        };
        Self {
            watchers: Watchers::new(me.clone()),
            me,
            membership,
            registry,
            changes: None,
            hub,
            outbox,
            subscriptions,
            channels,
            inbound,
            resync_every,
            resyncing: false,
        }
    }

    /// Hands the other nodes' changes for collar actors to `registry`.
    pub fn with_changes(mut self, registry: Recipient<CollarChanged>) -> Self {
        self.changes = Some(registry);
        self
    }

    fn alone(&self) -> bool {
        self.membership.current().nodes().len() <= 1
    }

    fn switch(&self, switches: impl IntoIterator<Item = Switch>) {
        for (pet_id, live) in switches {
            self.registry.do_send(SetLiveMode { pet_id, live });
        }
    }

    fn send(&self, event: LiveEvent) {
        if let Some(outbox) = &self.outbox {
            outbox.event(event);
        }
    }

    /// Rewrites this node's set and reads the other members' (one read at a time).
    fn resync(&mut self, ctx: &mut Context<Self>) {
        let Some(channels) = self.channels.clone() else {
            return;
        };
        if self.resyncing {
            return;
        }
        if let Some(outbox) = &self.outbox {
            outbox.rewrite(self.watchers.mine());
        }
        let others: Vec<NodeId> = self
            .membership
            .current()
            .nodes()
            .iter()
            .filter(|node| **node != self.me)
            .cloned()
            .collect();
        self.resyncing = true;
        let read = async move { bus::read_watching(&channels, &others).await };
        ctx.spawn(read.into_actor(self).map(|read, bus, _| {
            bus.resyncing = false;
            match read {
                Ok(sets) => {
                    for (node, pets) in sets {
                        let switches = bus.watchers.replace(&node, pets.into_iter().collect());
                        bus.switch(switches);
                    }
                    let members = bus.membership.current();
                    let switches = bus.watchers.retain_nodes(members.nodes());
                    bus.switch(switches);
                }
                Err(error) => {
                    tracing::warn!(%error, "could not read the other nodes' watched pets")
                }
            }
        }));
    }

    fn subscribe_mine(&self) {
        if let Some(subscriptions) = &self.subscriptions {
            subscriptions.set(Arc::new(self.watchers.mine()));
        }
    }
}

impl Actor for LiveBus {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        if let Some(inbound) = self.inbound.take() {
            ctx.add_stream(stream::unfold(inbound, |mut rx| async move {
                rx.recv().await.map(|envelope| (Heard { envelope }, rx))
            }));
        }
        let changes = stream::unfold(self.membership.watch(), |mut rx| async move {
            rx.changed().await.ok()?;
            let members = rx.borrow_and_update().clone();
            Some((MembersChanged { members }, rx))
        });
        ctx.add_stream(changes);
        self.resync(ctx);
        ctx.run_interval(self.resync_every, |bus, ctx| bus.resync(ctx));
    }
}

/// What another node sent (subscriber → bus).
struct Heard {
    envelope: Envelope,
}

impl StreamHandler<Heard> for LiveBus {
    fn handle(&mut self, msg: Heard, _: &mut Context<Self>) {
        let Envelope { origin, event } = msg.envelope;
        if let LiveEvent::Watching { pet_id, live } = event {
            let Some(node) = NodeId::parse(&origin) else {
                return;
            };
            let switch = self.watchers.set(&node, pet_id, live);
            self.switch(switch);
            return;
        }
        if let LiveEvent::Collar { change } = event {
            if let Some(changes) = &self.changes {
                changes.do_send(CollarChanged { change });
            }
            return;
        }
        let Some(event) = convert::from_wire(event) else {
            return;
        };
        if self.hub.try_send(FromPeer { event }).is_err() {
            metrics::counter!("pettysync_livebus_lost_total", "reason" => "hub_full").increment(1);
        }
    }

    // The stream ends only when the subscriber task is gone; the actor keeps the union.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

/// The live-node set changed.
struct MembersChanged {
    members: Arc<Members>,
}

impl StreamHandler<MembersChanged> for LiveBus {
    fn handle(&mut self, msg: MembersChanged, ctx: &mut Context<Self>) {
        let switches = self.watchers.retain_nodes(msg.members.nodes());
        self.switch(switches);
        // A node that joined may watch pets already: read its set now.
        self.resync(ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<SetLiveMode> for LiveBus {
    type Result = ();

    /// This node started or stopped watching a pet (hub, after its grace).
    fn handle(&mut self, msg: SetLiveMode, _: &mut Context<Self>) {
        let switch = self.watchers.set(&self.me.clone(), msg.pet_id, msg.live);
        self.switch(switch);
        self.subscribe_mine();
        self.send(LiveEvent::Watching {
            pet_id: msg.pet_id,
            live: msg.live,
        });
    }
}

impl Handler<ToPeers> for LiveBus {
    type Result = ();

    fn handle(&mut self, msg: ToPeers, _: &mut Context<Self>) {
        if self.outbox.is_none() || self.alone() {
            return;
        }
        if let Some(pet) = convert::watched_pet(&msg.event) {
            if !self.watchers.watched_elsewhere(pet) {
                return;
            }
        }
        self.send(convert::to_wire(msg.event));
    }
}

impl Handler<CollarChanged> for LiveBus {
    type Result = ();

    /// A change made on this node: the other nodes hear it (their registries apply it).
    fn handle(&mut self, msg: CollarChanged, _: &mut Context<Self>) {
        if self.outbox.is_none() || self.alone() {
            return;
        }
        self.send(LiveEvent::Collar { change: msg.change });
    }
}

impl Handler<MoodRecorded> for LiveBus {
    type Result = ();

    /// A mood stored on this node, for the live state the collar's owner keeps.
    fn handle(&mut self, msg: MoodRecorded, ctx: &mut Context<Self>) {
        let MoodRecorded { id, pet_id, mood } = msg;
        let change = CollarChange::Mood { id, pet_id, mood };
        ctx.notify(CollarChanged { change });
    }
}

/// Asks whether a pet is watched anywhere in the cluster (tests, health).
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct IsWatched {
    /// The pet.
    pub pet_id: PetId,
}

impl Handler<IsWatched> for LiveBus {
    type Result = bool;

    fn handle(&mut self, msg: IsWatched, _: &mut Context<Self>) -> bool {
        self.watchers.watched(msg.pet_id)
    }
}
