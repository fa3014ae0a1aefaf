//! The collar actor on a paused clock, with a recorder in place of the hub, persistence and
//! registry.

use std::time::Duration;

use super::*;
use crate::actors::events::AlertKind;
use crate::domain::sample::{Fix, Sample};
use crate::ids::PetId;
use crate::store::collars::PairingSpan;

/// Collects what a collar actor sends out on its own (not in answers).
#[derive(Default)]
struct Recorder {
    appended: Vec<Append>,
    states: usize,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<Append> for Recorder {
    type Result = usize;
    fn handle(&mut self, msg: Append, _: &mut Context<Self>) -> usize {
        self.appended.push(msg);
        0
    }
}

impl Handler<StateChanged> for Recorder {
    type Result = ();
    fn handle(&mut self, _: StateChanged, _: &mut Context<Self>) {
        self.states += 1;
    }
}

impl Handler<Deregister> for Recorder {
    type Result = ();
    fn handle(&mut self, _: Deregister, _: &mut Context<Self>) {}
}

/// The kinds of the alerts the actor handed to persistence by itself.
#[derive(Message)]
#[rtype(result = "Vec<AlertKind>")]
struct Kinds;

impl Handler<Kinds> for Recorder {
    type Result = MessageResult<Kinds>;
    fn handle(&mut self, _: Kinds, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.appended
                .iter()
                .flat_map(|a| a.alerts.iter().map(|alert| alert.kind))
                .collect(),
        )
    }
}

/// The newest snapshot the actor handed to persistence by itself.
#[derive(Message)]
#[rtype(result = "Option<Snapshot>")]
struct LastSnapshot;

impl Handler<LastSnapshot> for Recorder {
    type Result = MessageResult<LastSnapshot>;
    fn handle(&mut self, _: LastSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.appended
                .iter()
                .rev()
                .find_map(|a| a.snapshot.as_ref().map(|s| s.snapshot.clone())),
        )
    }
}

fn setup(pet: PetId, interval_s: i32) -> CollarSetup {
    CollarSetup {
        serial: "TEST-1".into(),
        pet_id: Some(pet),
        interval_s,
        species: Some("dog".into()),
        hr_min: None,
        hr_max: None,
        fences: Vec::new(),
        pairings: Vec::new(),
    }
}

fn outputs(recorder: &Addr<Recorder>) -> CollarOutputs {
    outputs_with_lag(recorder, IngestLag::default())
}

fn outputs_with_lag(recorder: &Addr<Recorder>, lag: IngestLag) -> CollarOutputs {
    CollarOutputs {
        hub: recorder.clone().recipient(),
        persistence: recorder.clone().recipient(),
        registry: recorder.clone().recipient(),
        lag,
    }
}

fn collar_on(recorder: &Addr<Recorder>, setup: CollarSetup) -> Addr<CollarActor> {
    collar_from(recorder, setup, None)
}

fn collar_from(
    recorder: &Addr<Recorder>,
    setup: CollarSetup,
    snapshot: Option<Snapshot>,
) -> Addr<CollarActor> {
    CollarActor::new(setup, Vec::new().into(), snapshot, false, outputs(recorder)).start()
}

fn collar(recorder: &Addr<Recorder>, interval_s: i32) -> Addr<CollarActor> {
    collar_on(recorder, setup(PetId::new(), interval_s))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn sample(seq: u64) -> Sample {
    Sample {
        seq,
        ts_ms: now_ms(),
        fix: None,
        hr: Some(90),
        steps: None,
        act: None,
        bat: Some(80),
        temp: None,
    }
}

async fn send(collar: &Addr<CollarActor>, samples: Vec<Sample>) -> Applied {
    collar.send(Telemetry { samples }).await.unwrap()
}

/// Lets the actors run everything that is ready without moving the paused clock.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[actix::test]
async fn an_alert_comes_back_with_the_sample_that_raised_it_under_a_stable_id() {
    let recorder = Recorder::default().start();
    let pet = PetId::new();
    let low = Sample {
        bat: Some(10),
        ..sample(7)
    };
    let first = send(&collar_on(&recorder, setup(pet, 300)), vec![low.clone()]).await;
    assert_eq!(first.alerts.len(), 1);
    assert_eq!(first.alerts[0].kind, AlertKind::BatteryLow);
    assert!(first.snapshot.is_some(), "an alert is always snapshotted");
    // A restart from a snapshot taken before the sample: the broker redelivers it, and the
    // alert raised again is the same alert.
    let again = send(&collar_on(&recorder, setup(pet, 300)), vec![low]).await;
    assert_eq!(again.alerts[0].id, first.alerts[0].id);
    settle().await;
    assert!(
        recorder.send(Kinds).await.unwrap().is_empty(),
        "nothing raised by a message goes to persistence behind the pipeline's back"
    );
}

#[actix::test]
async fn steps_of_a_sample_sent_twice_are_counted_once() {
    let recorder = Recorder::default().start();
    let collar = collar(&recorder, 300);
    let walk = |seq| Sample {
        steps: Some(40),
        ..sample(seq)
    };
    send(&collar, vec![walk(1), walk(2)]).await;
    send(&collar, vec![walk(2)]).await;
    send(&collar, vec![walk(1), walk(2), walk(3)]).await;
    let state = collar.send(GetState).await.unwrap();
    assert_eq!(state.activity.expect("activity").steps_today, 120);
}

#[actix::test]
async fn a_collar_moved_to_another_pet_shows_nothing_of_the_first() {
    let recorder = Recorder::default().start();
    let (first, second) = (PetId::new(), PetId::new());
    let collar = collar_on(&recorder, setup(first, 300));
    let walked = Sample {
        fix: Some(Fix {
            lat: 13.75,
            lon: 100.5,
            acc: Some(5.0),
        }),
        steps: Some(500),
        ..sample(1)
    };
    send(&collar, vec![walked]).await;
    collar
        .send(SetupChanged {
            setup: setup(second, 300),
            fences: Vec::new().into(),
        })
        .await
        .unwrap();
    let state = collar.send(GetState).await.unwrap();
    assert!(state.location.is_none() && state.vitals.is_none() && state.activity.is_none());
    let written = recorder
        .send(LastSnapshot)
        .await
        .unwrap()
        .expect("the reset state replaces the old one in Redis");
    assert_eq!(written.pet_id, Some(second));
    assert!(written.state.location.is_none());
    // A snapshot of the first pet is never resumed for the second.
    let mut old = Snapshot::for_pet(Some(first));
    old.state.online = true;
    let resumed = collar_from(&recorder, setup(second, 300), Some(old));
    assert!(!resumed.send(GetState).await.unwrap().online);
}

#[actix::test]
async fn a_backlog_from_before_the_pairing_goes_to_the_old_pet_and_not_to_the_live_state() {
    let recorder = Recorder::default().start();
    let (old, new) = (PetId::new(), PetId::new());
    let paired_at = now_ms() - 60_000;
    let mut on_new = setup(new, 300);
    on_new.pairings = vec![
        PairingSpan {
            pet_id: Some(old),
            from_ms: paired_at - 3_600_000,
            to_ms: Some(paired_at - 1000),
        },
        PairingSpan {
            pet_id: Some(new),
            from_ms: paired_at,
            to_ms: None,
        },
    ];
    let collar = collar_on(&recorder, on_new);
    let backlog = Sample {
        ts_ms: paired_at - 10_000,
        bat: Some(5),
        ..sample(1)
    };
    let applied = send(&collar, vec![backlog, sample(2)]).await;
    assert_eq!(applied.pets, vec![Some(old), Some(new)]);
    assert!(
        applied.alerts.is_empty(),
        "the old pet's backlog raises nothing"
    );
    let state = collar.send(GetState).await.unwrap();
    assert_eq!(state.battery.expect("battery").pct, 80);
}

mod mood;
mod silence;
mod start_cost;
