//! Recorders and a set-up for hub tests: sessions whose events are kept, a live-mode log.

use std::sync::Mutex;

use actix::Addr;

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, Recipient};
use uuid::Uuid;

use super::{Connect, GetHubStats, LiveHub, SessionEvent, SharedLink, Unwatch, Watch, LIVE_GRACE};
use crate::actors::events::{Alert, AlertKind, AlertStored, SetLiveMode};
use crate::ids::{PetId, UserId};

/// Barrier message: its answer proves the messages queued before it were handled.
pub(crate) struct Take;

impl Message for Take {
    type Result = ();
}

/// Declares a test actor that records every message of one type.
macro_rules! recorder {
    ($name:ident, $msg:ty) => {
        #[derive(Default)]
        pub(crate) struct $name {
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

pub(crate) struct Setup {
    pub hub: Addr<LiveHub>,
    pub switches: Arc<Mutex<Vec<SetLiveMode>>>,
    pub recorder: Addr<LiveModeLog>,
}

impl Setup {
    pub fn start() -> Self {
        Self::start_with(|live_mode| LiveHub::new(live_mode, LIVE_GRACE).start())
    }

    /// A hub made by `make`, whose switches (or those of what stands between) are recorded.
    pub fn start_with(make: impl FnOnce(Recipient<SetLiveMode>) -> Addr<LiveHub>) -> Self {
        let recorder = LiveModeLog::default();
        let switches = Arc::clone(&recorder.seen);
        let recorder = recorder.start();
        let hub = make(recorder.clone().recipient());
        Self {
            hub,
            switches,
            recorder,
        }
    }

    /// Opens a session of `user` whose events are recorded.
    pub async fn session(&self, user: UserId) -> (Uuid, Probe) {
        let session_id = Uuid::new_v4();
        (session_id, self.connect(session_id, user).await)
    }

    /// Connects session `session_id` of `user` (admitted or not); its events are recorded.
    pub async fn connect(&self, session_id: Uuid, user: UserId) -> Probe {
        let probe = SessionLog::default();
        let seen = Arc::clone(&probe.seen);
        let addr = probe.start();
        self.hub.do_send(Connect {
            session_id,
            user: Some(user),
            link: None,
            addr: addr.clone().recipient(),
        });
        Probe { addr, seen }
    }

    /// Opens a session viewing through `link`, whose events are recorded.
    pub async fn share_session(&self, link: SharedLink) -> (Uuid, Probe) {
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
    pub async fn switches(&self) -> Vec<(PetId, bool)> {
        self.hub.send(GetHubStats).await.unwrap();
        self.recorder.send(Take).await.unwrap();
        let switches = self.switches.lock().unwrap();
        switches.iter().map(|s| (s.pet_id, s.live)).collect()
    }

    /// Lets the paused clock run `by`, and the timers due fire.
    pub async fn advance(&self, by: Duration) {
        tokio::time::advance(by).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
}

pub(crate) struct Probe {
    pub addr: Addr<SessionLog>,
    pub seen: Arc<Mutex<Vec<SessionEvent>>>,
}

impl Probe {
    pub async fn events(&self) -> usize {
        self.addr.send(Take).await.unwrap();
        self.seen.lock().unwrap().len()
    }
}

pub(crate) fn watch(session_id: Uuid, pet_id: PetId) -> Watch {
    Watch { session_id, pet_id }
}

pub(crate) fn unwatch(session_id: Uuid, pet_id: PetId) -> Unwatch {
    Unwatch { session_id, pet_id }
}

/// A stored battery alert of `pet_id` for no user in particular.
pub(crate) fn some_alert(pet_id: PetId) -> AlertStored {
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
