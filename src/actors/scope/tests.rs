//! What each scope and precision lets through.

use serde_json::{json, Value};

use super::*;
use crate::ids::PetId;
use crate::mood::Mood;

const EXACT: (f64, f64) = (48.855_123, 2.355_987);

fn full_state() -> LiveState {
    LiveState {
        online: true,
        last_seen: Some(10),
        live: true,
        location: Some(Location {
            lat: EXACT.0,
            lon: EXACT.1,
            acc: Some(4.0),
            at: 10,
            h3: "8b1fb46622dcfff".into(),
        }),
        vitals: Some(Vitals {
            hr: Some(96),
            temp: Some(38.6),
            at: 10,
        }),
        activity: Some(ActivityState {
            act: Some("walk".into()),
            steps_today: 5,
        }),
        battery: Some(Battery { pct: 83, at: 10 }),
        geofences: FenceMembership {
            inside: vec!["fence".into()],
        },
        mood: Some(MoodState {
            mood: Mood::Anxious,
            confidence: 0.81,
            at: 10,
        }),
    }
}

fn view(names: &[&str], precision: Precision) -> ShareView {
    ShareView {
        scopes: Scopes::parse(names).unwrap(),
        precision,
        resolution: h3o::Resolution::Eight,
    }
}

fn keys(value: &impl Serialize) -> Vec<String> {
    let value = serde_json::to_value(value).unwrap();
    let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn each_scope_combination_shows_exactly_its_fields() {
    let always = ["last_seen", "live", "online"];
    for mask in 1..16u8 {
        let names: Vec<&str> = (0..4)
            .filter(|bit| mask & (1 << bit) != 0)
            .map(|bit| SCOPE_NAMES[bit])
            .collect();
        let shown = view(&names, Precision::Exact).state(&full_state());
        let mut expected: Vec<&str> = always.to_vec();
        if names.contains(&"location") {
            expected.extend(["location", "geofences"]);
        }
        if names.contains(&"vitals") {
            expected.extend(["vitals", "battery", "activity"]);
        }
        if names.contains(&"mood") {
            expected.push("mood");
        }
        expected.sort();
        assert_eq!(keys(&shown), expected, "scopes {names:?}");
    }
}

#[test]
fn an_approximate_position_is_its_cell_centre_and_never_the_exact_one() {
    let shown = view(&["location"], Precision::Approximate).state(&full_state());
    let location = shown.location.unwrap();
    let cell = h3o::LatLng::new(EXACT.0, EXACT.1)
        .unwrap()
        .to_cell(h3o::Resolution::Eight);
    let centre = h3o::LatLng::from(cell);
    assert_eq!((location.lat, location.lon), (centre.lat(), centre.lng()));
    assert_ne!(location.lat, EXACT.0);
    assert_ne!(location.lon, EXACT.1);
    assert_eq!(location.h3, cell.to_string());
    let acc = location.acc.unwrap();
    assert!(
        (300.0..700.0).contains(&acc),
        "a res-8 cell's radius: {acc}"
    );
    assert_eq!(location.at, 10);
    assert!(shown.geofences.is_none(), "fences can be finer than a cell");
}

#[test]
fn every_position_in_a_cell_is_shown_the_same() {
    let v = view(&["location"], Precision::Approximate);
    let mut state = full_state();
    let first = v.state(&state).location.unwrap();
    let centre = (first.lat, first.lon);
    for (dlat, dlon) in [(0.0005, 0.0), (0.0, -0.0005), (-0.0003, 0.0004)] {
        let location = state.location.as_mut().unwrap();
        location.lat = centre.0 + dlat;
        location.lon = centre.1 + dlon;
        let shown = v.state(&state).location.unwrap();
        assert_eq!((shown.lat, shown.lon), centre);
    }
}

#[test]
fn exact_precision_shows_the_location_as_it_is() {
    let shown = view(&["location"], Precision::Exact).state(&full_state());
    assert_eq!(shown.location, full_state().location);
}

fn alert(kind: AlertKind, details: Value) -> Alert {
    Alert {
        id: uuid::Uuid::new_v4(),
        pet_id: PetId::new(),
        kind,
        at: 1,
        details,
        acknowledged_at: None,
    }
}

#[test]
fn alerts_need_the_alerts_scope_and_their_details_the_other_scopes() {
    let fence = alert(
        AlertKind::GeofenceExit,
        json!({"geofence_id": "f", "lat": 1.0, "lon": 2.0, "acc": 3.0, "distance_m": 4.0}),
    );
    let hr = alert(
        AlertKind::HeartRateHigh,
        json!({"hr": 200, "min": 50, "max": 180}),
    );
    assert!(view(&["location"], Precision::Exact)
        .alert(&fence)
        .is_none());

    let alone = view(&["alerts"], Precision::Exact);
    assert_eq!(alone.alert(&fence).unwrap().details, json!({}));
    assert_eq!(alone.alert(&hr).unwrap().details, json!({}));

    let rough = view(&["alerts", "location"], Precision::Approximate);
    assert_eq!(
        rough.alert(&fence).unwrap().details,
        json!({"geofence_id": "f"})
    );
    let exact = view(&["alerts", "location", "vitals"], Precision::Exact);
    assert_eq!(exact.alert(&fence).unwrap().details, fence.details);
    assert_eq!(exact.alert(&hr).unwrap().details, hr.details);
}

#[test]
fn scopes_must_be_known_distinct_and_at_least_one() {
    assert!(Scopes::parse::<&str>(&[]).is_err());
    assert!(Scopes::parse(&["location", "location"]).is_err());
    assert!(Scopes::parse(&["history"]).is_err());
    let scopes = Scopes::parse(&["alerts", "location"]).unwrap();
    assert_eq!(scopes.names(), ["location", "alerts"]);
}

#[test]
fn mood_frames_need_the_mood_scope() {
    let recorded = MoodRecorded {
        id: uuid::Uuid::new_v4(),
        pet_id: PetId::new(),
        mood: full_state().mood.unwrap(),
    };
    let without = view(&["location", "vitals", "alerts"], Precision::Exact);
    assert!(without.mood(&recorded).is_none());
    assert!(without.state(&full_state()).mood.is_none());
    let with = view(&["mood"], Precision::Approximate);
    assert_eq!(with.mood(&recorded).map(|m| m.id), Some(recorded.id));
    assert_eq!(with.state(&full_state()).mood, full_state().mood);
}
