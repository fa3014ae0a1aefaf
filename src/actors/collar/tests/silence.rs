//! The silence timer: when a quiet collar is reported offline, and when it is not.

use super::*;

#[actix::test]
async fn silence_for_three_intervals_raises_one_offline_alert() {
    tokio::time::pause();
    let recorder = Recorder::default().start();
    let collar = collar(&recorder, 300);
    send(&collar, vec![sample(1)]).await;
    tokio::time::advance(Duration::from_secs(899)).await;
    settle().await;
    assert!(
        recorder.send(Kinds).await.unwrap().is_empty(),
        "not before 3 × 300 s"
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(
        recorder.send(Kinds).await.unwrap(),
        vec![AlertKind::CollarOffline],
        "the timer's alert goes to persistence on its own"
    );
    assert!(!collar.send(GetState).await.unwrap().online);
    // Quiet for IDLE_STOP_AFTER and offline: the actor stops at its next idle check.
    tokio::time::advance(IDLE_STOP_AFTER + IDLE_CHECK).await;
    settle().await;
    assert_eq!(
        recorder.send(Kinds).await.unwrap().len(),
        1,
        "once until it speaks again"
    );
    assert!(
        !collar.connected(),
        "an offline collar's actor stops when idle"
    );
}

#[actix::test]
async fn silence_while_ingest_is_behind_is_not_the_collars() {
    tokio::time::pause();
    let recorder = Recorder::default().start();
    let lag = IngestLag::default();
    let setup = setup(PetId::new(), 300);
    let collar = CollarActor::new(
        setup,
        Vec::new().into(),
        None,
        false,
        outputs_with_lag(&recorder, lag.clone()),
    )
    .start();
    send(&collar, vec![sample(1)]).await;
    // The stores push back for longer than the collar's silence window (3 × 300 s): its
    // messages wait at the broker.
    for _ in 0..20 {
        tokio::time::advance(Duration::from_secs(60)).await;
        lag.mark();
        settle().await;
    }
    assert!(
        recorder.send(Kinds).await.unwrap().is_empty(),
        "no offline alert while ingest is behind"
    );
    // Ingest keeps up again and the collar stays quiet: offline one whole window later.
    tokio::time::advance(Duration::from_secs(3 * 300 + 1)).await;
    settle().await;
    assert_eq!(
        recorder.send(Kinds).await.unwrap(),
        vec![AlertKind::CollarOffline]
    );
}

#[actix::test]
async fn silence_is_excused_by_a_lagging_ingest_only_so_long() {
    tokio::time::pause();
    let recorder = Recorder::default().start();
    let lag = IngestLag::default();
    let outputs = outputs_with_lag(&recorder, lag.clone());
    let collar = CollarActor::new(
        setup(PetId::new(), 300),
        Vec::new().into(),
        None,
        false,
        outputs,
    )
    .start();
    send(&collar, vec![sample(1)]).await;
    // The stores stay behind for an hour: the silence window (15 min) and the most it may
    // be excused (10 min) pass long before.
    for _ in 0..60 {
        tokio::time::advance(Duration::from_secs(60)).await;
        lag.mark();
        settle().await;
    }
    assert_eq!(
        recorder.send(Kinds).await.unwrap(),
        vec![AlertKind::CollarOffline]
    );
}

#[actix::test]
async fn a_message_before_the_deadline_keeps_the_collar_online() {
    tokio::time::pause();
    let recorder = Recorder::default().start();
    let collar = collar(&recorder, 300);
    for seq in 1..=5 {
        send(&collar, vec![sample(seq)]).await;
        tokio::time::advance(Duration::from_secs(600)).await;
        settle().await;
    }
    assert!(recorder.send(Kinds).await.unwrap().is_empty());
    assert!(collar.send(GetState).await.unwrap().online);
}

#[actix::test]
async fn live_mode_shortens_the_silence_allowed() {
    tokio::time::pause();
    let recorder = Recorder::default().start();
    let collar = collar(&recorder, 300);
    send(&collar, vec![sample(1)]).await;
    collar.send(LiveModeChanged { live: true }).await.unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(
        recorder.send(Kinds).await.unwrap(),
        vec![AlertKind::CollarOffline]
    );
}

#[actix::test]
async fn a_longer_interval_set_for_the_collar_is_the_silence_it_is_allowed() {
    tokio::time::pause();
    let recorder = Recorder::default().start();
    let pet = PetId::new();
    let collar = collar_on(&recorder, setup(pet, 300));
    send(&collar, vec![sample(1)]).await;
    // The owner set 3600 s: the registry hands the actor the stored setup.
    let longer = setup(pet, 3600);
    collar
        .send(SetupChanged {
            setup: longer,
            fences: Vec::new().into(),
        })
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(3 * 3600 - 5)).await;
    settle().await;
    assert!(
        recorder.send(Kinds).await.unwrap().is_empty(),
        "no false offline alert every cycle of the old interval"
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(
        recorder.send(Kinds).await.unwrap(),
        vec![AlertKind::CollarOffline]
    );
}
