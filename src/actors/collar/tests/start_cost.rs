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
