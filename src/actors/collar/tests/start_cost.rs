//! Figures, not assertions (run with `--ignored --nocapture`): what starting one collar
//! actor with a fence costs on the starting path, with the fence tiled first (before) and
//! with the tiling moved after the start (now); and the size of an idle actor's parts.

use std::time::Instant;

use serde_json::json;

use super::*;
use crate::ids::GeofenceId;
use crate::store::collars::FenceSetup;

/// A park-sized safe zone (about 600 m by 400 m).
fn setup_with_fence() -> CollarSetup {
    let (lat, lon) = (48.137, 11.575);
    let ring = json!({"type": "Polygon", "coordinates": [[
        [lon, lat], [lon + 0.008, lat], [lon + 0.008, lat + 0.0036],
        [lon + 0.004, lat + 0.002], [lon, lat + 0.0036], [lon, lat]
    ]]});
    CollarSetup {
        serial: "COST-1".into(),
        pet_id: Some(PetId::new()),
        interval_s: 300,
        species: Some("dog".into()),
        hr_min: None,
        hr_max: None,
        fences: vec![FenceSetup {
            id: GeofenceId::new(),
            kind: "safe".into(),
            geometry: sqlx::types::Json(ring),
        }],
        pairings: Vec::new(),
    }
}

#[test]
#[ignore = "a measurement: prints figures"]
fn print_the_start_cost_of_a_collar_with_a_fence() {
    let setup = setup_with_fence();
    let rounds = 50;
    let started = Instant::now();
    for _ in 0..rounds {
        assert_eq!(index_fences(&setup).len(), 1);
    }
    let tiled = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        assert_eq!(exact_fences(&setup).len(), 1);
    }
    let exact = started.elapsed() / rounds;
    println!(
        "fences on the start path: tiled {tiled:?} ({:.0} collars/s/core), exact {exact:?} ({:.0} collars/s/core)",
        1.0 / tiled.as_secs_f64(),
        1.0 / exact.as_secs_f64()
    );
}

#[test]
#[ignore = "a measurement: prints figures"]
fn print_the_size_of_an_idle_collar_actor() {
    use std::mem::size_of;
    println!(
        "CollarActor {} B (Snapshot {} B, CollarOutputs {} B, Pairings {} B, LiveState {} B)",
        size_of::<CollarActor>(),
        size_of::<Snapshot>(),
        size_of::<CollarOutputs>(),
        size_of::<Pairings>(),
        size_of::<crate::actors::events::LiveState>(),
    );
}

/// Telemetry messages timed on the ingest path, in process, without the stores.
const PATH_MESSAGES: u64 = 20_000;

/// The collar actor's and persistence's own work for one telemetry sample, timed step by
/// step: the actor's rules with a fence (one mailbox round trip, its state frame to a
/// recorder), and the sample's document encoded as BSON, as persistence hands it to the
/// driver. Decoding is timed beside it (`ingest::decode`'s `print_the_cost_of_decoding`).
/// Run in release: `cargo test --release --lib print_the_cost -- --ignored --nocapture`.
#[actix::test]
#[ignore = "a measurement: prints figures"]
async fn print_the_cost_of_a_telemetry_sample_in_the_actor_and_persistence() {
    use crate::actors::persistence::SampleRecord;
    use crate::domain::sample::Activity;

    let recorder = Recorder::default().start();
    let setup = setup_with_fence();
    let (serial, fences) = (setup.serial.clone(), index_fences(&setup));
    let collar = CollarActor::new(setup, fences, None, false, outputs(&recorder)).start();
    let start = now_ms() - PATH_MESSAGES as i64;
    let samples: Vec<Sample> = (1..=PATH_MESSAGES)
        .map(|seq| {
            let wobble = (seq % 50) as f64 * 1e-5;
            Sample {
                seq,
                ts_ms: start + seq as i64,
                fix: Some(Fix {
                    lat: 48.1385 + wobble,
                    lon: 11.579 - wobble,
                    acc: Some(6.5),
                }),
                hr: Some(96),
                steps: Some(12),
                act: Some(Activity::Walk),
                bat: Some(83),
                temp: Some(38.6),
            }
        })
        .collect();
    let (mut applying, mut encoding) = Default::default();
    let mut bytes = 0;
    for sample in samples {
        let at = Instant::now();
        let applied = collar
            .send(Telemetry {
                samples: vec![sample.clone()],
            })
            .await
            .unwrap();
        applying += at.elapsed();
        let at = Instant::now();
        let record = SampleRecord::new(&serial, applied.pets[0], &sample, now_ms());
        let mut encoded = Vec::with_capacity(256);
        record.doc.to_writer(&mut encoded).unwrap();
        bytes += encoded.len();
        encoding += at.elapsed();
    }
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / PATH_MESSAGES as f64;
    println!(
        "per telemetry sample ({PATH_MESSAGES}, one fence): actor {:.2} µs, record + BSON {:.2} µs ({} B)",
        per(applying),
        per(encoding),
        bytes / PATH_MESSAGES as usize,
    );
}
