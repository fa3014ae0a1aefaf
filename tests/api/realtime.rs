//! The real-time core end to end: a test collar publishes through the real broker, the
//! server ingests, stores and applies its messages, and a real WebSocket client watches.
//!
//! - `live`: the live protocol (state frames, who may watch, tickets, live mode);
//! - `alerts`: geofence, heart-rate, battery and offline alerts;
//! - `cold_start`: many new collars' actors looked up in batches;
//! - `ingest`: what is stored (backlog, duplicates, dead letters, unknown collars, track);
//! - `commands`: commands to a collar and its answers;
//! - `resilience`: a broker outage and a graceful stop with samples in flight.

mod alerts;
mod cold_start;
pub(crate) mod commands;
mod ingest;
mod live;
mod repairing;
mod resilience;

use mongodb::bson::{doc, Bson, Document};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collar::{LiveSocket, TestCollar, SETTLE};
use crate::helpers::{expect_json, poll_until, spawn_app, string_at, TestApp, TestUser};

/// A server, an owner with a paired collar, and the owner's WebSocket watching its pet.
pub struct Live {
    pub app: TestApp,
    pub owner: TestUser,
    pub collar: TestCollar,
    pub socket: LiveSocket,
}

impl Live {
    pub async fn start() -> Live {
        Live::on(spawn_app().await).await
    }

    /// The fixture on an app started with particular settings.
    pub async fn on(app: TestApp) -> Live {
        let owner = app.register_someone().await;
        let collar = TestCollar::paired(&app, &owner).await;
        let mut socket = LiveSocket::open(&app, &owner).await;
        socket.subscribe(&[&collar.pet_id]).await;
        socket
            .next_state(&collar.pet_id, "the state answering subscribe", |_| true)
            .await;
        Live {
            app,
            owner,
            collar,
            socket,
        }
    }

    pub fn pet_id(&self) -> &str {
        &self.collar.pet_id
    }

    /// Publishes a sample and waits for the state frame that shows it; returns its state.
    pub async fn publish(&mut self, sample: &Value) -> Value {
        self.collar.publish_sample(sample).await;
        let frame = self
            .socket
            .next_state_with(&self.collar.pet_id, sample)
            .await;
        frame["state"].clone()
    }

    /// The pet's alerts of one kind, newest first.
    pub async fn alerts_of_kind(&self, kind: &str) -> Vec<Value> {
        let alerts = self.app.pet_alerts(&self.owner, self.pet_id()).await;
        alerts.into_iter().filter(|a| a["kind"] == kind).collect()
    }

    /// Creates a geofence on the pet; returns its id.
    pub async fn create_fence(&self, kind: &str, geometry: Value) -> String {
        let body = json!({"name": "Park", "kind": kind, "geometry": geometry});
        let path = format!("/v1/pets/{}/geofences", self.pet_id());
        let response = self.app.post(&path, self.owner.bearer(), &body).await;
        string_at(&expect_json(response, StatusCode::CREATED).await, "/id")
    }
}

/// A square park in Paris, about 730 m east–west and 1.1 km north–south.
pub fn park() -> Value {
    json!({
        "type": "Polygon",
        "coordinates": [[[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.86], [2.35, 48.85]]],
    })
}

/// The middle of [`park`], as (lat, lon).
pub const PARK_CENTRE: (f64, f64) = (48.855, 2.355);

/// A point `metres` east of the park's east edge (negative: west of it, inside), halfway
/// up, as (lat, lon).
pub fn east_of_park(metres: f64) -> (f64, f64) {
    let lat = PARK_CENTRE.0;
    let metres_per_degree = 111_320.0 * lat.to_radians().cos();
    (lat, 2.36 + metres / metres_per_degree)
}

/// Checks that a live state shows every field of `sample` (taken with a fix, `hr`, `temp`,
/// `bat`, `act` and `steps`) as the newest.
pub fn assert_state_shows(state: &Value, sample: &Value) {
    let ts = &sample["ts"];
    assert_eq!(state["online"], true, "{state}");
    assert_eq!(state["last_seen"], *ts, "{state}");
    let location = &state["location"];
    for field in ["lat", "lon", "acc"] {
        assert_eq!(
            location[field], sample[field],
            "location.{field} in {state}"
        );
    }
    assert_eq!(location["at"], *ts, "{state}");
    assert!(
        location["h3"].as_str().is_some_and(|cell| !cell.is_empty()),
        "the location has its H3 cell: {state}"
    );
    assert_eq!(state["vitals"]["hr"], sample["hr"], "{state}");
    assert_eq!(state["vitals"]["temp"], sample["temp"], "{state}");
    assert_eq!(state["vitals"]["at"], *ts, "{state}");
    assert_eq!(state["battery"]["pct"], sample["bat"], "{state}");
    assert_eq!(state["battery"]["at"], *ts, "{state}");
    assert_eq!(state["activity"]["act"], sample["act"], "{state}");
    assert_eq!(state["activity"]["steps_today"], sample["steps"], "{state}");
}

/// Waits until the pet's state (over HTTP) satisfies `accept`; returns it.
pub async fn wait_for_state(
    app: &TestApp,
    user: &TestUser,
    pet_id: &str,
    what: &str,
    accept: impl Fn(&Value) -> bool,
) -> Value {
    let accept = &accept;
    poll_until(what, SETTLE, || async move {
        let state = app.pet_state(user, pet_id).await;
        if accept(&state) {
            Ok(state)
        } else {
            Err(state.to_string())
        }
    })
    .await
}

/// Waits until the state shows `sample` (its `ts`) as the newest one applied.
pub async fn wait_for_sample_applied(
    app: &TestApp,
    user: &TestUser,
    pet_id: &str,
    sample: &Value,
) -> Value {
    let ts = sample["ts"].as_i64().expect("a sample has a ts");
    wait_for_state(app, user, pet_id, "the state to show the sample", |state| {
        state["last_seen"].as_i64() == Some(ts)
    })
    .await
}

/// Every document of `collection` matching `filter`.
pub async fn documents(
    db: &mongodb::Database,
    collection: &str,
    filter: Document,
) -> Vec<Document> {
    let mut cursor = db
        .collection::<Document>(collection)
        .find(filter)
        .await
        .unwrap_or_else(|e| panic!("reading {collection}: {e}"));
    let mut found = Vec::new();
    while cursor
        .advance()
        .await
        .unwrap_or_else(|e| panic!("reading {collection}: {e}"))
    {
        found.push(
            cursor
                .deserialize_current()
                .unwrap_or_else(|e| panic!("a {collection} document: {e}")),
        );
    }
    found
}

/// The telemetry samples stored for a collar.
pub async fn stored_samples(db: &mongodb::Database, serial: &str) -> Vec<Document> {
    documents(db, "telemetry", doc! {"meta.collar": serial}).await
}

/// Waits until the collar's stored samples satisfy `accept`; returns them.
pub async fn wait_for_samples(
    db: &mongodb::Database,
    serial: &str,
    what: &str,
    accept: impl Fn(&[Document]) -> bool,
) -> Vec<Document> {
    let accept = &accept;
    poll_until(what, SETTLE, || async move {
        let samples = stored_samples(db, serial).await;
        if accept(&samples) {
            Ok(samples)
        } else {
            Err(format!(
                "{} stored: seqs {:?}",
                samples.len(),
                seqs(&samples)
            ))
        }
    })
    .await
}

/// An integer field however BSON typed it.
pub fn int_field(document: &Document, key: &str) -> Option<i64> {
    match document.get(key)? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) if n.fract() == 0.0 => Some(*n as i64),
        _ => None,
    }
}

/// The `seq` of each stored sample.
pub fn seqs(samples: &[Document]) -> Vec<i64> {
    samples
        .iter()
        .map(|sample| int_field(sample, "seq").unwrap_or_else(|| panic!("no seq in {sample}")))
        .collect()
}
