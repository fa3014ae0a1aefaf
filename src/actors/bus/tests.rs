//! The bus between a hub and the registry, with the other nodes played by the test: what
//! they announce and send goes in where the subscriber would put it; the clock is paused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::LiveBus;
use crate::actors::events::LiveState;
use crate::actors::hub::testing::{unwatch, watch, Setup};
use crate::actors::hub::{LiveHub, SessionEvent, SharedLink, LIVE_GRACE};
use crate::actors::registry::CollarChanged;
use crate::cluster::{Membership, NodeId};
use crate::ids::{PetId, UserId};
use crate::store::bus::{CollarChange, Envelope, LiveEvent};

/// This node's registry as far as changes for collar actors go: keeps what it is handed.
#[derive(Default)]
struct ChangeLog(Arc<Mutex<Vec<CollarChange>>>);

impl Actor for ChangeLog {
    type Context = Context<Self>;
}

impl Handler<CollarChanged> for ChangeLog {
    type Result = ();

    fn handle(&mut self, msg: CollarChanged, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg.change);
    }
}

type Changes = Arc<Mutex<Vec<CollarChange>>>;

/// A hub whose live mode goes through a bus of node `a`, the way in for other nodes, and the
/// changes for collar actors the bus handed to this node's registry.
fn start() -> (Setup, mpsc::Sender<Envelope>, Changes) {
    let (tx, rx) = mpsc::channel(16);
    let log = ChangeLog::default();
    let changes = Arc::clone(&log.0);
    let log = log.start();
    let setup = Setup::start_with(|registry| {
        let hub = Context::<LiveHub>::new();
        let me = NodeId::parse("a").unwrap();
        let mut bus = LiveBus::new(
            Membership::single(me),
            registry,
            hub.address().recipient(),
            None,
            Duration::from_secs(5),
        );
        bus.inbound = Some(rx);
        let bus = bus.with_changes(log.recipient()).start();
        hub.run(LiveHub::new(bus.clone().recipient(), LIVE_GRACE).with_peers(bus.recipient()))
    });
    (setup, tx, changes)
}

/// Node `origin` sends `event`; returns once the bus and the hub have handled it.
async fn from(tx: &mpsc::Sender<Envelope>, origin: &str, event: LiveEvent) {
    let origin = origin.to_owned();
    tx.send(Envelope { origin, event }).await.unwrap();
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[actix::test]
async fn live_mode_ends_a_grace_after_the_last_watcher_anywhere_left() {
    tokio::time::pause();
    let (setup, other_nodes, _) = start();
    let (session, _probe) = setup.session(UserId::new()).await;
    let pet = PetId::new();
    setup.hub.do_send(watch(session, pet));
    assert_eq!(setup.switches().await, vec![(pet, true)]);
    let watching = |live| LiveEvent::Watching { pet_id: pet, live };
    from(&other_nodes, "b", watching(true)).await;

    setup.hub.do_send(unwatch(session, pet));
    setup.switches().await;
    setup.advance(LIVE_GRACE + Duration::from_secs(1)).await;
    assert_eq!(setup.switches().await, vec![(pet, true)], "b still watches");

    from(&other_nodes, "b", watching(false)).await;
    assert_eq!(setup.switches().await, vec![(pet, true), (pet, false)]);
}

#[actix::test]
async fn another_node_watching_alone_switches_this_nodes_registry() {
    tokio::time::pause();
    let (setup, other_nodes, _) = start();
    let pet = PetId::new();
    from(
        &other_nodes,
        "b",
        LiveEvent::Watching {
            pet_id: pet,
            live: true,
        },
    )
    .await;
    from(
        &other_nodes,
        "c",
        LiveEvent::Watching {
            pet_id: pet,
            live: true,
        },
    )
    .await;
    assert_eq!(setup.switches().await, vec![(pet, true)]);
    from(
        &other_nodes,
        "b",
        LiveEvent::Watching {
            pet_id: pet,
            live: false,
        },
    )
    .await;
    from(
        &other_nodes,
        "c",
        LiveEvent::Watching {
            pet_id: pet,
            live: false,
        },
    )
    .await;
    assert_eq!(setup.switches().await, vec![(pet, true), (pet, false)]);
}

#[actix::test]
async fn states_and_revocations_from_other_nodes_reach_this_nodes_sessions() {
    let (setup, other_nodes, _) = start();
    let (session, watcher) = setup.session(UserId::new()).await;
    let pet = PetId::new();
    setup.hub.do_send(watch(session, pet));
    let link = SharedLink {
        link_id: Uuid::new_v4(),
        pet_id: pet,
    };
    let (_, viewer) = setup.share_session(link).await;
    let state = LiveEvent::State {
        pet_id: pet,
        state: LiveState::default(),
    };
    from(&other_nodes, "b", state).await;
    let revoke = LiveEvent::RevokeShare {
        link_id: link.link_id,
    };
    from(&other_nodes, "b", revoke).await;
    assert_eq!(watcher.events().await, 1);
    assert!(matches!(
        &watcher.seen.lock().unwrap()[0],
        SessionEvent::State { pet_id, .. } if *pet_id == pet
    ));
    assert_eq!(viewer.events().await, 1);
    assert!(matches!(
        viewer.seen.lock().unwrap()[0],
        SessionEvent::Revoked
    ));
}

#[actix::test]
async fn a_change_made_on_another_node_reaches_this_nodes_registry() {
    let (_setup, other_nodes, changes) = start();
    let change = CollarChange::Setup {
        pet_id: PetId::new(),
    };
    let event = LiveEvent::Collar {
        change: change.clone(),
    };
    from(&other_nodes, "b", event).await;
    assert_eq!(*changes.lock().unwrap(), vec![change]);
}
