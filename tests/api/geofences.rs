//! Geofences: GeoJSON polygons and circles, their validation and their round trip.

use std::f64::consts::TAU;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, spawn_app, string_at, TestApp,
    TestUser,
};

/// A square park in Paris, counter-clockwise as RFC 7946 wants exterior rings.
fn square() -> Value {
    json!({
        "type": "Polygon",
        "coordinates": [[[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.86], [2.35, 48.85]]],
    })
}

fn circle(radius_m: f64) -> Value {
    json!({"type": "Circle", "center": [2.35, 48.85], "radius_m": radius_m})
}

/// A closed, convex ring with `vertices` distinct positions.
fn many_sided(vertices: usize) -> Value {
    let mut ring: Vec<Value> = (0..vertices)
        .map(|i| {
            let angle = TAU * i as f64 / vertices as f64;
            json!([2.35 + 0.01 * angle.cos(), 48.85 + 0.01 * angle.sin()])
        })
        .collect();
    ring.push(ring[0].clone());
    json!({"type": "Polygon", "coordinates": [ring]})
}

struct Fixture {
    app: TestApp,
    owner: TestUser,
    pet_id: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let app = spawn_app().await;
        let owner = app.register_someone().await;
        let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
        Fixture { app, owner, pet_id }
    }

    fn fences(&self) -> String {
        format!("/v1/pets/{}/geofences", self.pet_id)
    }

    async fn create(&self, name: &str, kind: &str, geometry: Value) -> reqwest::Response {
        let body = json!({"name": name, "kind": kind, "geometry": geometry});
        self.app
            .post(&self.fences(), self.owner.bearer(), &body)
            .await
    }

    async fn list(&self) -> Vec<Value> {
        let response = self.app.get(&self.fences(), self.owner.bearer()).await;
        let list = expect_json(response, StatusCode::OK).await;
        list["items"].as_array().expect("a list has items").clone()
    }
}

#[actix_web::test]
async fn a_valid_polygon_round_trips_as_geojson() {
    let fixture = Fixture::new().await;

    let response = fixture.create("Park", "safe", square()).await;
    let fence = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(fence["name"], "Park");
    assert_eq!(fence["kind"], "safe");
    assert_eq!(fence["pet_id"], fixture.pet_id.as_str());
    assert_eq!(fence["geometry"], square());
    assert!(
        fence["id"].is_string() && fence["created_at"].is_i64() && fence["updated_at"].is_i64()
    );

    assert_eq!(fixture.list().await, vec![fence]);
}

#[actix_web::test]
async fn a_valid_circle_round_trips_as_geojson() {
    let fixture = Fixture::new().await;

    let response = fixture.create("Yard", "keep_out", circle(250.5)).await;
    let fence = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(fence["kind"], "keep_out");
    assert_eq!(fence["geometry"], circle(250.5));

    assert_eq!(fixture.list().await, vec![fence]);
}

#[actix_web::test]
async fn the_circle_radius_limits_are_inclusive() {
    let fixture = Fixture::new().await;

    for radius_m in [10.0, 100_000.0] {
        let response = fixture.create("Edge", "safe", circle(radius_m)).await;
        expect_status(response, StatusCode::CREATED).await;
    }
}

#[actix_web::test]
async fn each_invalid_shape_is_refused_with_a_geometry_error() {
    let fixture = Fixture::new().await;
    let polygon = |ring: Value| json!({"type": "Polygon", "coordinates": [ring]});
    let cases = [
        (
            "an open ring",
            polygon(json!([
                [2.35, 48.85],
                [2.36, 48.85],
                [2.36, 48.86],
                [2.35, 48.86]
            ])),
        ),
        (
            "three positions",
            polygon(json!([[2.35, 48.85], [2.36, 48.85], [2.35, 48.85]])),
        ),
        (
            "a bow-tie",
            polygon(json!([
                [2.35, 48.85],
                [2.36, 48.86],
                [2.36, 48.85],
                [2.35, 48.86],
                [2.35, 48.85]
            ])),
        ),
        (
            "a longitude over 180",
            polygon(json!([
                [180.5, 48.85],
                [2.36, 48.85],
                [2.36, 48.86],
                [180.5, 48.85]
            ])),
        ),
        (
            "a latitude under -90",
            polygon(json!([
                [2.35, -90.5],
                [2.36, 48.85],
                [2.36, 48.86],
                [2.35, -90.5]
            ])),
        ),
        (
            "a one-number position",
            polygon(json!([[2.35], [2.36, 48.85], [2.36, 48.86], [2.35]])),
        ),
        ("1100 vertices", many_sided(1100)),
        (
            "an empty polygon",
            json!({"type": "Polygon", "coordinates": []}),
        ),
        ("a polygon without coordinates", json!({"type": "Polygon"})),
        (
            "a line",
            json!({"type": "LineString", "coordinates": [[2.35, 48.85], [2.36, 48.85]]}),
        ),
        ("a radius under 10 m", circle(9.5)),
        ("a radius over 100 km", circle(100_000.5)),
        ("a negative radius", circle(-50.5)),
        (
            "a circle without radius",
            json!({"type": "Circle", "center": [2.35, 48.85]}),
        ),
        (
            "a centre off the globe",
            json!({"type": "Circle", "center": [200.5, 48.85], "radius_m": 50.5}),
        ),
        ("a string", json!("the garden")),
        ("null", Value::Null),
    ];
    for (what, geometry) in cases {
        let response = fixture.create("Bad", "safe", geometry).await;
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what} should be refused"
        );
        expect_field_error(response, "geometry").await;
    }
    assert!(
        fixture.list().await.is_empty(),
        "nothing invalid was stored"
    );
}

#[actix_web::test]
async fn a_geofence_needs_a_name_and_a_known_kind() {
    let fixture = Fixture::new().await;

    expect_field_error(fixture.create("", "safe", square()).await, "name").await;
    expect_field_error(fixture.create("Park", "maybe", square()).await, "kind").await;
}

#[actix_web::test]
async fn patching_a_geofence_changes_only_the_given_fields() {
    let fixture = Fixture::new().await;
    let created = expect_json(
        fixture.create("Park", "safe", square()).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/v1/geofences/{}", string_at(&created, "/id"));
    let token = fixture.owner.bearer();

    let renamed = fixture
        .app
        .patch(&path, token, &json!({"name": "Big park"}))
        .await;
    let renamed = expect_json(renamed, StatusCode::OK).await;
    assert_eq!(renamed["name"], "Big park");
    assert_eq!(renamed["kind"], "safe");
    assert_eq!(renamed["geometry"], square());

    let reshaped = fixture
        .app
        .patch(&path, token, &json!({"geometry": circle(75.5)}))
        .await;
    let reshaped = expect_json(reshaped, StatusCode::OK).await;
    assert_eq!(reshaped["geometry"], circle(75.5));
    assert_eq!(reshaped["name"], "Big park");

    let invalid = fixture
        .app
        .patch(&path, token, &json!({"geometry": circle(5.5)}))
        .await;
    expect_field_error(invalid, "geometry").await;
    assert_eq!(fixture.list().await, vec![reshaped]);
}

#[actix_web::test]
async fn a_deleted_geofence_is_gone() {
    let fixture = Fixture::new().await;
    let created = expect_json(
        fixture.create("Park", "safe", square()).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/v1/geofences/{}", string_at(&created, "/id"));

    let deleted = fixture.app.delete(&path, fixture.owner.bearer()).await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;

    assert!(fixture.list().await.is_empty());
    let again = fixture.app.delete(&path, fixture.owner.bearer()).await;
    expect_problem(again, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_pet_has_at_most_fifty_geofences_even_when_they_are_added_at_once() {
    let fixture = Fixture::new().await;

    let names: Vec<String> = (0..60).map(|i| format!("Zone {i}")).collect();
    let creates = names
        .iter()
        .map(|name| fixture.create(name, "safe", circle(100.0)));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(creates)
        .await
        .into_iter()
        .map(|response| response.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 50, "{statuses:?}");

    let response = fixture.create("Zone 61", "safe", circle(100.0)).await;
    let problem = expect_problem(response, StatusCode::CONFLICT, "too_many_geofences").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("50"),
        "{problem}"
    );
    let page = fixture
        .app
        .get(
            &format!("{}?limit=100", fixture.fences()),
            fixture.owner.bearer(),
        )
        .await;
    let page = expect_json(page, StatusCode::OK).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(50), "{page}");

    // Deleting one makes room for one.
    let id = string_at(&page, "/items/0/id");
    let deleted = fixture
        .app
        .delete(&format!("/v1/geofences/{id}"), fixture.owner.bearer())
        .await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;
    let response = fixture.create("Zone 62", "safe", circle(100.0)).await;
    expect_status(response, StatusCode::CREATED).await;
}
