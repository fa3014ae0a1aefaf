//! The live hub, one per server: knows every WebSocket session, the user (or share link)
//! behind it and the pets it watches. It routes state changes to the sessions watching the
//! pet, stored alerts to every session of their recipients and to the share-link sessions of
//! the pet (which cut them to their scopes), closes the sessions of a revoked share link,
//! and switches a collar into live mode while anyone watches its pet (and out of it a grace
//! period after the last watcher left).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, AsyncContext, Context, Handler, Message, MessageResult, Recipient, SpawnHandle,
};
use uuid::Uuid;

use super::events::{Alert, AlertStored, LiveState, SetLiveMode, StateChanged};
use crate::ids::{PetId, UserId};

/// How long a pet stays in live mode after its last watcher left, so a client that
/// reconnects or flips between screens does not toggle the collar's interval.
pub const LIVE_GRACE: Duration = Duration::from_secs(30);

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
    /// The session's share link was revoked: it says so and closes.
    Revoked,
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

/// A session starts watching a pet; the caller has checked the right to see it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// The watching session.
    pub session_id: Uuid,
    /// The watched pet.
    pub pet_id: PetId,
}

/// A session stops watching a pet.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    /// The session.
    pub session_id: Uuid,
    /// The pet it no longer watches.
    pub pet_id: PetId,
}

/// A share link was revoked: every session on it gets `revoked` and closes (HTTP → hub).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RevokeShare {
    /// The revoked link.
    pub link_id: Uuid,
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
    addr: Recipient<SessionEvent>,
    pets: HashSet<PetId>,
}

/// The live hub actor.
pub struct LiveHub {
    live_mode: Recipient<SetLiveMode>,
    grace: Duration,
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
}

impl LiveHub {
    /// A hub that switches live mode through `live_mode`, `grace` after the last watcher
    /// of a pet left ([`LIVE_GRACE`] in production).
    pub fn new(live_mode: Recipient<SetLiveMode>, grace: Duration) -> Self {
        Self {
            live_mode,
            grace,
            sessions: HashMap::new(),
            watchers: HashMap::new(),
            sessions_of_user: HashMap::new(),
            sessions_of_link: HashMap::new(),
            share_sessions_of_pet: HashMap::new(),
            live: HashSet::new(),
            grace_timers: HashMap::new(),
        }
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

    fn add_watcher(&mut self, session_id: Uuid, pet_id: PetId, ctx: &mut Context<Self>) {
        let watchers = self.watchers.entry(pet_id).or_default();
        if !watchers.insert(session_id) || watchers.len() > 1 {
            return;
        }
        // The first watcher: a pending grace period ends without a switch.
        if let Some(timer) = self.grace_timers.remove(&pet_id) {
            ctx.cancel_future(timer);
        }
        if self.live.insert(pet_id) {
            self.live_mode.do_send(SetLiveMode { pet_id, live: true });
        }
    }

    fn remove_watcher(&mut self, session_id: Uuid, pet_id: PetId, ctx: &mut Context<Self>) {
        let Some(watchers) = self.watchers.get_mut(&pet_id) else {
            return;
        };
        if !watchers.remove(&session_id) || !watchers.is_empty() {
            return;
        }
        self.watchers.remove(&pet_id);
        let timer = ctx.run_later(self.grace, move |hub, _| hub.grace_over(pet_id));
        self.grace_timers.insert(pet_id, timer);
    }

    fn grace_over(&mut self, pet_id: PetId) {
        self.grace_timers.remove(&pet_id);
        if !self.watchers.contains_key(&pet_id) && self.live.remove(&pet_id) {
            self.live_mode.do_send(SetLiveMode {
                pet_id,
                live: false,
            });
        }
        self.publish_gauges();
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

/// Messages the hub's mailbox holds before `try_send` refuses: collar actors then hold their
/// newest state back and offer it again (alerts and session messages still queue).
pub const MAILBOX_CAPACITY: usize = 10_000;

impl Actor for LiveHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Connect> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        if let Some(user) = msg.user {
            self.sessions_of_user
                .entry(user)
                .or_default()
                .insert(msg.session_id);
        }
        if let Some(link) = msg.link {
            self.sessions_of_link
                .entry(link.link_id)
                .or_default()
                .insert(msg.session_id);
            self.share_sessions_of_pet
                .entry(link.pet_id)
                .or_default()
                .insert(msg.session_id);
        }
        let entry = SessionEntry {
            user: msg.user,
            link: msg.link,
            addr: msg.addr,
            pets: HashSet::new(),
        };
        self.sessions.insert(msg.session_id, entry);
        self.publish_gauges();
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

impl Handler<Watch> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        // A session that already closed must not keep a pet live.
        let Some(entry) = self.sessions.get_mut(&msg.session_id) else {
            return;
        };
        if entry.pets.insert(msg.pet_id) {
            self.add_watcher(msg.session_id, msg.pet_id, ctx);
            self.publish_gauges();
        }
    }
}

impl Handler<Unwatch> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, ctx: &mut Context<Self>) {
        let Some(entry) = self.sessions.get_mut(&msg.session_id) else {
            return;
        };
        if entry.pets.remove(&msg.pet_id) {
            self.remove_watcher(msg.session_id, msg.pet_id, ctx);
            self.publish_gauges();
        }
    }
}

impl Handler<StateChanged> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: StateChanged, _: &mut Context<Self>) {
        let Some(watchers) = self.watchers.get(&msg.pet_id) else {
            return;
        };
        for session in watchers.iter().filter_map(|id| self.sessions.get(id)) {
            session.addr.do_send(SessionEvent::State {
                pet_id: msg.pet_id,
                state: Arc::clone(&msg.state),
            });
        }
    }
}

impl Handler<AlertStored> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: AlertStored, _: &mut Context<Self>) {
        // A user listed twice still gets each alert once per session.
        let recipients: HashSet<UserId> = msg.recipients.into_iter().collect();
        // Share sessions of the pet too: each cuts the alert to its link's scopes.
        let sessions = recipients
            .iter()
            .filter_map(|user| self.sessions_of_user.get(user))
            .chain(self.share_sessions_of_pet.get(&msg.alert.pet_id))
            .flatten()
            .filter_map(|id| self.sessions.get(id));
        for session in sessions {
            session
                .addr
                .do_send(SessionEvent::Alert(Arc::clone(&msg.alert)));
        }
    }
}

impl Handler<RevokeShare> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: RevokeShare, _: &mut Context<Self>) {
        // Each session closes itself; its `Disconnect` then cleans up here.
        let sessions = self
            .sessions_of_link
            .get(&msg.link_id)
            .into_iter()
            .flatten();
        for session in sessions.filter_map(|id| self.sessions.get(id)) {
            session.addr.do_send(SessionEvent::Revoked);
        }
    }
}

impl Handler<GetHubStats> for LiveHub {
    type Result = MessageResult<GetHubStats>;

    fn handle(&mut self, _: GetHubStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use actix::Addr;

    use super::*;
    use crate::actors::events::AlertKind;

    /// Barrier message: its answer proves the messages queued before it were handled.
    struct Take;

    impl Message for Take {
        type Result = ();
    }

    /// Declares a test actor that records every message of one type.
    macro_rules! recorder {
        ($name:ident, $msg:ty) => {
            #[derive(Default)]
            struct $name {
                seen: Arc<Mutex<Vec<$msg>>>,
            }

            impl Actor for $name {
                type Context = Context<Self>;
            }

            impl Handler<$msg> for $name {
                type Result = ();

                fn handle(&mut self, msg: $msg, _: &mut Context<Self>) {
                    self.seen.lock().unwrap().push(msg);
                }
            }

            impl Handler<Take> for $name {
                type Result = ();

                fn handle(&mut self, _: Take, _: &mut Context<Self>) {}
            }
        };
    }

    recorder!(LiveModeLog, SetLiveMode);
    recorder!(SessionLog, SessionEvent);

    struct Setup {
        hub: Addr<LiveHub>,
        switches: Arc<Mutex<Vec<SetLiveMode>>>,
        recorder: Addr<LiveModeLog>,
    }

    impl Setup {
        fn start() -> Self {
            let recorder = LiveModeLog::default();
            let switches = Arc::clone(&recorder.seen);
            let recorder = recorder.start();
            let hub = LiveHub::new(recorder.clone().recipient(), LIVE_GRACE).start();
            Self {
                hub,
                switches,
                recorder,
            }
        }

        /// Opens a session of `user` whose events are recorded.
        async fn session(&self, user: UserId) -> (Uuid, Probe) {
            let probe = SessionLog::default();
            let seen = Arc::clone(&probe.seen);
            let addr = probe.start();
            let session_id = Uuid::new_v4();
            self.hub.do_send(Connect {
                session_id,
                user: Some(user),
                link: None,
                addr: addr.clone().recipient(),
            });
            (session_id, Probe { addr, seen })
        }

        /// Opens a session viewing through `link`, whose events are recorded.
        async fn share_session(&self, link: SharedLink) -> (Uuid, Probe) {
            let probe = SessionLog::default();
            let seen = Arc::clone(&probe.seen);
            let addr = probe.start();
            let session_id = Uuid::new_v4();
            self.hub.do_send(Connect {
                session_id,
                user: None,
                link: Some(link),
                addr: addr.clone().recipient(),
            });
            (session_id, Probe { addr, seen })
        }

        /// The live-mode switches so far, once the hub has handled everything sent to it.
        async fn switches(&self) -> Vec<(PetId, bool)> {
            self.hub.send(GetHubStats).await.unwrap();
            self.recorder.send(Take).await.unwrap();
            let switches = self.switches.lock().unwrap();
            switches.iter().map(|s| (s.pet_id, s.live)).collect()
        }

        /// Lets the paused clock run `by`, and the timers due fire.
        async fn advance(&self, by: Duration) {
            tokio::time::advance(by).await;
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
    }

    struct Probe {
        addr: Addr<SessionLog>,
        seen: Arc<Mutex<Vec<SessionEvent>>>,
    }

    impl Probe {
        async fn events(&self) -> usize {
            self.addr.send(Take).await.unwrap();
            self.seen.lock().unwrap().len()
        }
    }

    fn watch(session_id: Uuid, pet_id: PetId) -> Watch {
        Watch { session_id, pet_id }
    }

    fn unwatch(session_id: Uuid, pet_id: PetId) -> Unwatch {
        Unwatch { session_id, pet_id }
    }

    #[actix::test]
    async fn the_first_watcher_switches_live_mode_on_once() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let (b, _pb) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.hub.do_send(watch(b, pet));
        setup.hub.do_send(watch(a, pet));
        assert_eq!(setup.switches().await, vec![(pet, true)]);
    }

    #[actix::test]
    async fn live_mode_ends_only_when_the_grace_after_the_last_watcher_is_over() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let (b, _pb) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(watch(b, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.hub.do_send(Disconnect { session_id: b });
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.advance(Duration::from_secs(29)).await;
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.advance(Duration::from_secs(2)).await;
        assert_eq!(setup.switches().await, vec![(pet, true), (pet, false)]);
        let stats = setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(
            (stats.sessions, stats.watched_pets, stats.live_pets),
            (1, 0, 0)
        );
    }

    #[actix::test]
    async fn a_watcher_back_within_the_grace_keeps_live_mode_without_switching() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(20)).await;
        setup.hub.do_send(watch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(60)).await;
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        let stats = setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!((stats.watched_pets, stats.live_pets), (1, 1));
    }

    #[actix::test]
    async fn leaving_again_after_a_return_restarts_the_grace() {
        tokio::time::pause();
        let setup = Setup::start();
        let (a, _pa) = setup.session(UserId::new()).await;
        let pet = PetId::new();
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(20)).await;
        setup.hub.do_send(watch(a, pet));
        setup.hub.do_send(unwatch(a, pet));
        setup.switches().await;
        setup.advance(Duration::from_secs(20)).await;
        assert_eq!(setup.switches().await, vec![(pet, true)]);
        setup.advance(Duration::from_secs(11)).await;
        assert_eq!(setup.switches().await, vec![(pet, true), (pet, false)]);
    }

    #[actix::test]
    async fn alerts_reach_every_session_of_a_recipient_and_no_one_else() {
        let setup = Setup::start();
        let (owner, other) = (UserId::new(), UserId::new());
        let (_, phone) = setup.session(owner).await;
        let (_, web) = setup.session(owner).await;
        let (_, stranger) = setup.session(other).await;
        let alert = Alert {
            id: Uuid::new_v4(),
            pet_id: PetId::new(),
            kind: AlertKind::GeofenceExit,
            at: 1,
            details: serde_json::json!({}),
            acknowledged_at: None,
        };
        setup.hub.do_send(AlertStored {
            alert: Arc::new(alert),
            recipients: vec![owner, owner],
        });
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(phone.events().await, 1);
        assert_eq!(web.events().await, 1);
        assert_eq!(stranger.events().await, 0);
        assert!(matches!(
            phone.seen.lock().unwrap()[0],
            SessionEvent::Alert(_)
        ));
    }

    #[actix::test]
    async fn state_changes_reach_only_the_sessions_watching_the_pet() {
        let setup = Setup::start();
        let user = UserId::new();
        let (watching, watcher) = setup.session(user).await;
        let (_, idle) = setup.session(user).await;
        let (pet, other_pet) = (PetId::new(), PetId::new());
        setup.hub.do_send(watch(watching, pet));
        for pet_id in [pet, other_pet] {
            setup.hub.do_send(StateChanged {
                pet_id,
                state: Arc::new(LiveState::default()),
            });
        }
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(watcher.events().await, 1);
        assert_eq!(idle.events().await, 0);
        let seen = watcher.seen.lock().unwrap();
        assert!(matches!(&seen[0], SessionEvent::State { pet_id, .. } if *pet_id == pet));
    }

    fn some_alert(pet_id: PetId) -> AlertStored {
        AlertStored {
            alert: Arc::new(Alert {
                id: Uuid::new_v4(),
                pet_id,
                kind: AlertKind::BatteryLow,
                at: 1,
                details: serde_json::json!({}),
                acknowledged_at: None,
            }),
            recipients: vec![],
        }
    }

    #[actix::test]
    async fn alerts_reach_the_share_sessions_of_their_pet_only() {
        let setup = Setup::start();
        let (pet, other_pet) = (PetId::new(), PetId::new());
        let link = |pet_id| SharedLink {
            link_id: Uuid::new_v4(),
            pet_id,
        };
        let (_, viewer) = setup.share_session(link(pet)).await;
        let (_, other) = setup.share_session(link(other_pet)).await;
        setup.hub.do_send(some_alert(pet));
        setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(viewer.events().await, 1);
        assert_eq!(other.events().await, 0);
    }

    #[actix::test]
    async fn revoking_a_link_reaches_its_sessions_and_no_other() {
        let setup = Setup::start();
        let pet = PetId::new();
        let revoked = SharedLink {
            link_id: Uuid::new_v4(),
            pet_id: pet,
        };
        let kept = SharedLink {
            link_id: Uuid::new_v4(),
            pet_id: pet,
        };
        let (_, first) = setup.share_session(revoked).await;
        let (_, second) = setup.share_session(revoked).await;
        let (_, other) = setup.share_session(kept).await;
        setup.hub.do_send(RevokeShare {
            link_id: revoked.link_id,
        });
        setup.hub.send(GetHubStats).await.unwrap();
        for probe in [&first, &second] {
            assert_eq!(probe.events().await, 1);
            assert!(matches!(
                probe.seen.lock().unwrap()[0],
                SessionEvent::Revoked
            ));
        }
        assert_eq!(other.events().await, 0);
    }

    #[actix::test]
    async fn a_closed_share_session_leaves_no_trace() {
        let setup = Setup::start();
        let link = SharedLink {
            link_id: Uuid::new_v4(),
            pet_id: PetId::new(),
        };
        let (session_id, probe) = setup.share_session(link).await;
        setup.hub.do_send(Disconnect { session_id });
        setup.hub.do_send(some_alert(link.pet_id));
        setup.hub.do_send(RevokeShare {
            link_id: link.link_id,
        });
        let stats = setup.hub.send(GetHubStats).await.unwrap();
        assert_eq!(stats.sessions, 0);
        assert_eq!(probe.events().await, 0);
    }
}
