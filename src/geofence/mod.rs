//! Geofences: areas an owner draws on the map to be told when a pet leaves a *safe* zone or
//! enters a *keep-out* zone.
//!
//! A fence has one of two shapes, both in WGS 84 longitude/latitude:
//! - a GeoJSON `Polygon`: an outer ring and optional holes, each ring closed, simple (no
//!   self-intersection) and enclosing an area, with at most [`MAX_VERTICES`] positions over all
//!   rings;
//! - a `Circle`, `{"type":"Circle","center":[lon,lat],"radius_m":r}`, with
//!   [`MIN_RADIUS_M`] ≤ r ≤ [`MAX_RADIUS_M`].
//!
//! Polygon edges are straight in longitude/latitude, as GeoJSON draws them, so a polygon across
//! the antimeridian is read as going the long way round. Distances are Haversine metres on the
//! mean Earth sphere.
//!
//! - here: the fence kinds, [`FenceGeometry`] and its JSON form, a `[lon, lat]` position;
//! - `circle`, `polygon`: reading and checking each shape; `validity`: the checks of a
//!   polygon's shape (simple rings that enclose an area, holes inside);
//! - `measure`: where a point is: inside or not, and how far from the boundary.

mod circle;
mod measure;
mod polygon;
#[cfg(test)]
mod testing;
mod validity;

use geo::{Coord, Point, Polygon};
use serde_json::{json, Value};

use self::circle::parse_circle;
use self::polygon::parse_polygon;
use crate::validation::FieldError;

/// Most positions a polygon fence may have, counted over all its rings, closing ones included.
pub const MAX_VERTICES: usize = 1000;
/// Smallest circle radius: below it GPS noise alone would trigger alerts.
pub const MIN_RADIUS_M: f64 = 10.0;
/// Largest circle radius.
pub const MAX_RADIUS_M: f64 = 100_000.0;
/// Longest fence name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Metres per degree of latitude on the Haversine sphere.
const METRES_PER_DEGREE: f64 = 111_195.08;

/// What crossing the fence means.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FenceKind {
    /// The pet should stay inside; leaving raises an alert.
    Safe,
    /// The pet should stay outside; entering raises an alert.
    KeepOut,
}

impl FenceKind {
    /// The wire and database name: `"safe"` or `"keep_out"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FenceKind::Safe => "safe",
            FenceKind::KeepOut => "keep_out",
        }
    }

    /// Reads a name written by [`FenceKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "safe" => Some(FenceKind::Safe),
            "keep_out" => Some(FenceKind::KeepOut),
            _ => None,
        }
    }
}

/// The validated shape of a fence; points are `x` = longitude, `y` = latitude.
#[derive(Debug, Clone, PartialEq)]
pub enum FenceGeometry {
    /// A simple polygon, possibly with holes, every ring closed.
    Polygon(Polygon<f64>),
    /// Every point within `radius_m` metres of `center`.
    Circle {
        /// The centre; x = longitude, y = latitude.
        center: Point<f64>,
        /// Radius in metres, from [`MIN_RADIUS_M`] to [`MAX_RADIUS_M`].
        radius_m: f64,
    },
}

impl FenceGeometry {
    /// Parses and validates client JSON; every error's field path starts with `geometry`
    /// (e.g. `geometry.type`, `geometry.coordinates[0][3]`, `geometry.radius_m`).
    pub fn parse(value: &Value) -> Result<Self, Vec<FieldError>> {
        match value.get("type").and_then(Value::as_str) {
            Some("Polygon") => parse_polygon(value.get("coordinates")).map(Self::Polygon),
            Some("Circle") => parse_circle(value),
            _ => Err(vec![FieldError::new(
                "geometry.type",
                "geometry must be an object whose \"type\" is \"Polygon\" or \"Circle\"",
            )]),
        }
    }

    /// GeoJSON-style JSON: `{"type":"Polygon","coordinates":[[[lon,lat],…]]}` with closed rings,
    /// or `{"type":"Circle","center":[lon,lat],"radius_m":r}`; [`FenceGeometry::parse`] reads
    /// it back to an equal value.
    pub fn to_json(&self) -> Value {
        match self {
            FenceGeometry::Polygon(polygon) => {
                Value::Object(geojson::JsonObject::from(&geojson::Value::from(polygon)))
            }
            FenceGeometry::Circle { center, radius_m } => json!({
                "type": "Circle",
                "center": [center.x(), center.y()],
                "radius_m": radius_m,
            }),
        }
    }
}

/// Reads a `[lon, lat]` position; the error is a message for the position's field.
fn read_position(value: &Value) -> Result<Coord<f64>, &'static str> {
    let (lon, lat) = match value.as_array().map(Vec::as_slice) {
        Some([lon, lat]) => (lon.as_f64(), lat.as_f64()),
        Some(extra) if extra.len() > 2 => {
            return Err(
                "position must be [lon, lat]; altitude or other extra values are not accepted",
            )
        }
        _ => return Err("position must be an array of two numbers, [lon, lat]"),
    };
    // serde_json numbers are always finite, but a position may come from elsewhere one day.
    let (Some(lon), Some(lat)) = (lon.filter(|v| v.is_finite()), lat.filter(|v| v.is_finite()))
    else {
        return Err("longitude and latitude must be finite numbers");
    };
    if !(-180.0..=180.0).contains(&lon) {
        return Err("longitude must be between -180 and 180");
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err("latitude must be between -90 and 90");
    }
    Ok(Coord { x: lon, y: lat })
}

#[cfg(test)]
mod tests {
    use super::testing::{circle, fields_of, square, square_json, LAT, LON};
    use super::*;

    #[test]
    fn fence_kinds_read_back_their_names() {
        for kind in [FenceKind::Safe, FenceKind::KeepOut] {
            assert_eq!(FenceKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        assert_eq!(FenceKind::parse("inside"), None);
    }

    #[test]
    fn a_geometry_that_is_not_an_object_or_has_an_unknown_type_is_refused() {
        assert_eq!(fields_of(json!("Polygon")), ["geometry.type"]);
        assert_eq!(fields_of(json!({"coordinates": []})), ["geometry.type"]);
        assert_eq!(
            fields_of(json!({"type": "Point", "coordinates": [1, 2]})),
            ["geometry.type"]
        );
    }

    #[test]
    fn a_valid_polygon_round_trips_through_json() {
        let fence = square();
        assert_eq!(fence.to_json(), square_json());
        assert_eq!(FenceGeometry::parse(&fence.to_json()), Ok(fence));
    }

    #[test]
    fn a_polygon_with_a_hole_round_trips_through_json() {
        let hole = [[0.2, 0.2], [0.2, 0.8], [0.8, 0.8], [0.8, 0.2], [0.2, 0.2]];
        let outer = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        let fence = FenceGeometry::parse(&json!({"type": "Polygon", "coordinates": [outer, hole]}))
            .expect("a polygon with a hole is valid");
        assert_eq!(FenceGeometry::parse(&fence.to_json()), Ok(fence.clone()));
        assert!(!fence.contains(Point::new(0.5, 0.5)));
        assert!(fence.contains(Point::new(0.1, 0.5)));
    }

    #[test]
    fn a_valid_circle_round_trips_through_json() {
        let fence = circle();
        let expected = json!({"type": "Circle", "center": [LON, LAT], "radius_m": 100.0});
        assert_eq!(fence.to_json(), expected);
        assert_eq!(FenceGeometry::parse(&fence.to_json()), Ok(fence));
    }
}
