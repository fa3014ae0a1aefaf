//! The live hub, one per server: knows every WebSocket session, the user (or share link)
//! behind it and the pets it watches.
//!
//! - `live_mode`: watches, and a collar in live mode while anyone watches its pet (and out
//!   of it a grace period after the last watcher left);
//! - `routing`: state changes and moods to the sessions watching the pet, stored alerts to every
//!   session of their recipients and to the share-link sessions of the pet (which cut them
//!   to their scopes);
//! - `admission`: at most so many sessions per user and per share link;
//! - `revocation`: ending what a session may no longer see: a revoked share link closes its
//!   sessions, a lost pet leaves the user's sessions, an ended sign-in closes its sessions;
//! - `peers`: in a cluster, the same events to and from the other nodes' hubs (through the
//!   live bus).

mod admission;
mod live_mode;
mod peers;
mod revocation;
mod routing;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, MessageResult, Recipient, SpawnHandle};
use uuid::Uuid;

pub use self::admission::{Admission, Admit, Party, Refused, SessionCaps};
pub use self::live_mode::{Unwatch, Watch};
pub use self::peers::{FromPeer, PeerEvent, ToPeers};
pub use self::revocation::{PetAccessLost, RevokeShare, SignInEnded};

use super::events::{Alert, LiveState, MoodRecorded, SetLiveMode};
use crate::ids::{PetId, UserId};

/// How long a pet stays in live mode after its last watcher left, so a client that
/// reconnects or flips between screens does not toggle the collar's interval.
pub const LIVE_GRACE: Duration = Duration::from_secs(30);
/// Messages the hub's mailbox holds before `try_send` refuses: collar actors then hold their
/// newest state back and offer it again (alerts and session messages still queue).
pub const MAILBOX_CAPACITY: usize = 10_000;

/// An event for one session (hub → session).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum SessionEvent {
    /// The new live state of a pet the session watches.
    State {
        /// The pet.
        pet_id: PetId,
        /// Its whole live state, shared by every session that gets it.
        state: Arc<LiveState>,
    },
    /// A stored alert for a pet the session's user may see, or for the pet of its share link.
    Alert(Arc<Alert>),
    /// A new mood of a pet the session watches.
    Mood(Arc<MoodRecorded>),
    /// The session's share link was revoked: it says so and closes.
    Revoked,
    /// The session's user lost this pet: it says so and shows nothing more of it.
    PetLost(PetId),
    /// This sign-in (refresh-token family) of the session's user ended: a session opened
    /// with its tokens says so and closes.
    SignInEnded(Uuid),
}

impl SessionEvent {
    /// True for events that change what a session may see: they wait for a session that
    /// has its place but is not connected yet, while states and alerts do not.
    fn is_control(&self) -> bool {
        matches!(
            self,
            Self::Revoked | Self::PetLost(_) | Self::SignInEnded(_)
        )
    }
}

/// The share link behind a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLink {
    /// The link.
    pub link_id: Uuid,
    /// The one pet it shows.
    pub pet_id: PetId,
}

/// A session opened (session → hub, from `started`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Connect {
    /// The session's id, as sent in its `hello`.
    pub session_id: Uuid,
    /// The signed-in user; `None` for a share-link viewer.
    pub user: Option<UserId>,
    /// The share link of a share-link viewer; `None` for a user.
    pub link: Option<SharedLink>,
    /// Where the session's events go.
    pub addr: Recipient<SessionEvent>,
}

/// A session closed; it stops watching every pet it watched (session → hub, from `stopping`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    /// The closed session.
    pub session_id: Uuid,
}

/// Asks for the hub's counts (health, tests).
#[derive(Debug, Message)]
#[rtype(result = "HubStats")]
pub struct GetHubStats;

/// The hub's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    /// Open sessions.
    pub sessions: usize,
    /// Pets that at least one session watches.
    pub watched_pets: usize,
    /// Pets in live mode (watched, or in their grace period).
    pub live_pets: usize,
}

/// One open session as the hub knows it.
struct SessionEntry {
    user: Option<UserId>,
    link: Option<SharedLink>,
    /// `None` while the session is admitted but not connected yet.
    addr: Option<Recipient<SessionEvent>>,
    /// Control events that came before the session connected (a handful at most).
    early: Vec<SessionEvent>,
    pets: HashSet<PetId>,
}

impl SessionEntry {
    fn new(user: Option<UserId>, link: Option<SharedLink>) -> Self {
        Self {
            user,
            link,
            addr: None,
            early: Vec::new(),
            pets: HashSet::new(),
        }
    }

    /// Sends the event, or keeps a control event until the session connects.
    fn send(&mut self, event: SessionEvent) {
        match &self.addr {
            Some(addr) => addr.do_send(event),
            None if event.is_control() => self.early.push(event),
            None => {}
        }
    }
}

/// The live hub actor.
pub struct LiveHub {
    live_mode: Recipient<SetLiveMode>,
    grace: Duration,
    caps: SessionCaps,
    sessions: HashMap<Uuid, SessionEntry>,
    watchers: HashMap<PetId, HashSet<Uuid>>,
    sessions_of_user: HashMap<UserId, HashSet<Uuid>>,
    sessions_of_link: HashMap<Uuid, HashSet<Uuid>>,
    /// Share-link sessions by the pet of their link, for its alerts.
    share_sessions_of_pet: HashMap<PetId, HashSet<Uuid>>,
    /// Pets told `live: true` and not yet told `live: false`.
    live: HashSet<PetId>,
    /// Pets nobody watches any more whose grace period is running.
    grace_timers: HashMap<PetId, SpawnHandle>,
    /// The live bus in a cluster (see `peers`).
    peers: Option<Recipient<peers::ToPeers>>,
}

impl LiveHub {
    /// A hub that switches live mode through `live_mode`, `grace` after the last watcher
    /// of a pet left ([`LIVE_GRACE`] in production).
    pub fn new(live_mode: Recipient<SetLiveMode>, grace: Duration) -> Self {
        Self {
            live_mode,
            grace,
            caps: SessionCaps::default(),
            sessions: HashMap::new(),
            watchers: HashMap::new(),
            sessions_of_user: HashMap::new(),
            sessions_of_link: HashMap::new(),
            share_sessions_of_pet: HashMap::new(),
            live: HashSet::new(),
            grace_timers: HashMap::new(),
            peers: None,
        }
    }

    /// The same hub with these caps on sessions per user and per link.
    pub fn with_caps(self, caps: SessionCaps) -> Self {
        Self { caps, ..self }
    }

    /// Enters a session in the hub and its indexes.
    fn enter(&mut self, session_id: Uuid, entry: SessionEntry) {
        if let Some(user) = entry.user {
            self.sessions_of_user
                .entry(user)
                .or_default()
                .insert(session_id);
        }
        if let Some(link) = entry.link {
            self.sessions_of_link
                .entry(link.link_id)
                .or_default()
                .insert(session_id);
            self.share_sessions_of_pet
                .entry(link.pet_id)
                .or_default()
                .insert(session_id);
        }
        self.sessions.insert(session_id, entry);
        self.publish_gauges();
    }

    /// The ids of a user's open sessions.
    fn session_ids_of(&self, user: UserId) -> Vec<Uuid> {
        self.sessions_of_user
            .get(&user)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    fn stats(&self) -> HubStats {
        HubStats {
            sessions: self.sessions.len(),
            watched_pets: self.watchers.len(),
            live_pets: self.live.len(),
        }
    }

    fn publish_gauges(&self) {
        let stats = self.stats();
        metrics::gauge!("pettysync_ws_sessions").set(stats.sessions as f64);
        metrics::gauge!("pettysync_ws_watched_pets").set(stats.watched_pets as f64);
        metrics::gauge!("pettysync_live_pets").set(stats.live_pets as f64);
    }
}

/// Takes a session out of an index, and the key with its last session.
fn forget<K: std::hash::Hash + Eq>(index: &mut HashMap<K, HashSet<Uuid>>, key: K, session: Uuid) {
    if let Some(sessions) = index.get_mut(&key) {
        sessions.remove(&session);
        if sessions.is_empty() {
            index.remove(&key);
        }
    }
}

impl Actor for LiveHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Connect> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        // Admitted sessions have their place already; others (tests) take one here.
        if !self.sessions.contains_key(&msg.session_id) {
            self.enter(msg.session_id, SessionEntry::new(msg.user, msg.link));
        }
        let Some(entry) = self.sessions.get_mut(&msg.session_id) else {
            return;
        };
        for event in entry.early.drain(..) {
            msg.addr.do_send(event);
        }
        entry.addr = Some(msg.addr);
    }
}

impl Handler<Disconnect> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Context<Self>) {
        let Some(entry) = self.sessions.remove(&msg.session_id) else {
            return;
        };
        for pet_id in entry.pets {
            self.remove_watcher(msg.session_id, pet_id, ctx);
        }
        if let Some(user) = entry.user {
            forget(&mut self.sessions_of_user, user, msg.session_id);
        }
        if let Some(link) = entry.link {
            forget(&mut self.sessions_of_link, link.link_id, msg.session_id);
            forget(&mut self.share_sessions_of_pet, link.pet_id, msg.session_id);
        }
        self.publish_gauges();
    }
}

impl Handler<GetHubStats> for LiveHub {
    type Result = MessageResult<GetHubStats>;

    fn handle(&mut self, _: GetHubStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats())
    }
}
