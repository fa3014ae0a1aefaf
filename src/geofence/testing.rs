//! Shapes and helpers for the fence tests: a ~100 m square and a 100 m circle near Munich.

use serde_json::{json, Value};

use super::{FenceGeometry, METRES_PER_DEGREE};
use crate::validation::FieldError;

// A ~100 m square near Munich: 100 m of latitude, and as many degrees of longitude as
// make 100 m at that latitude.
pub(super) const LAT: f64 = 48.137;
pub(super) const LON: f64 = 11.575;
pub(super) const SIDE_LAT: f64 = 100.0 / METRES_PER_DEGREE;

pub(super) fn side_lon() -> f64 {
    SIDE_LAT / LAT.to_radians().cos()
}

pub(super) fn square_json() -> Value {
    let (e, n) = (LON + side_lon(), LAT + SIDE_LAT);
    json!({"type": "Polygon", "coordinates": [[[LON, LAT], [e, LAT], [e, n], [LON, n], [LON, LAT]]]})
}

pub(super) fn square() -> FenceGeometry {
    FenceGeometry::parse(&square_json()).expect("the square is valid")
}

pub(super) fn circle() -> FenceGeometry {
    let geometry = json!({"type": "Circle", "center": [LON, LAT], "radius_m": 100.0});
    FenceGeometry::parse(&geometry).expect("the circle is valid")
}

/// A closed ring of `corners` distinct points on a ~1 km circle, plus the closing one.
pub(super) fn ring_on_circle(corners: usize) -> Vec<[f64; 2]> {
    let mut ring: Vec<[f64; 2]> = (0..corners)
        .map(|i| {
            let angle = i as f64 * std::f64::consts::TAU / corners as f64;
            [LON + 0.01 * angle.cos(), LAT + 0.01 * angle.sin()]
        })
        .collect();
    ring.push(ring[0]);
    ring
}

pub(super) fn errors_of(geometry: Value) -> Vec<FieldError> {
    FenceGeometry::parse(&geometry).expect_err("the geometry should be refused")
}

pub(super) fn fields_of(geometry: Value) -> Vec<String> {
    errors_of(geometry).into_iter().map(|e| e.field).collect()
}

pub(super) fn near(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1.0,
        "{actual} m is not about {expected} m"
    );
}
