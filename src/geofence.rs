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

use geo::algorithm::validation::{InvalidPolygon, RingRole};
use geo::{
    Area, Closest, Coord, Distance, Haversine, HaversineClosestPoint, Intersects, Line, LineString,
    Point, Polygon, Validation,
};
use serde_json::{json, Value};

use crate::validation::{FieldError, Violations};

/// Most positions a polygon fence may have, counted over all its rings, closing ones included.
pub const MAX_VERTICES: usize = 1000;
/// Smallest circle radius: below it GPS noise alone would trigger alerts.
pub const MIN_RADIUS_M: f64 = 10.0;
/// Largest circle radius.
pub const MAX_RADIUS_M: f64 = 100_000.0;
/// Longest fence name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A ring smaller than this (m²) is a line or a point drawn by mistake; real fences are far
/// larger, and the margin absorbs rounding in the area of a degenerate ring.
const MIN_RING_AREA_M2: f64 = 1.0;
/// Metres per degree of latitude on the Haversine sphere.
const METRES_PER_DEGREE: f64 = 111_195.08;
/// Errors reported at most for one polygon, so a badly generated shape does not produce a
/// thousand near-identical messages.
const MAX_REPORTED_ERRORS: usize = 10;

const COORDINATES: &str = "geometry.coordinates";

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

    /// True when the point (lon/lat) is inside the fence; a point on the boundary is inside.
    pub fn contains(&self, point: Point<f64>) -> bool {
        match self {
            FenceGeometry::Polygon(polygon) => polygon.intersects(&point.0),
            FenceGeometry::Circle { center, radius_m } => {
                Haversine.distance(*center, point) <= *radius_m
            }
        }
    }

    /// Distance in metres from the point to the fence's boundary, ≥ 0 on either side; callers
    /// compare it with the fix's accuracy before deciding the pet has crossed.
    pub fn distance_to_boundary_m(&self, point: Point<f64>) -> f64 {
        match self {
            FenceGeometry::Polygon(polygon) => std::iter::once(polygon.exterior())
                .chain(polygon.interiors())
                .flat_map(LineString::lines)
                .map(|edge| distance_to_edge_m(edge, point))
                .fold(f64::INFINITY, f64::min),
            FenceGeometry::Circle { center, radius_m } => {
                (Haversine.distance(*center, point) - radius_m).abs()
            }
        }
    }
}

/// Haversine distance from `point` to one polygon edge.
fn distance_to_edge_m(edge: Line<f64>, point: Point<f64>) -> f64 {
    let to_end = |end: Coord<f64>| Haversine.distance(Point(end), point);
    let nearest_end = to_end(edge.start).min(to_end(edge.end));
    match edge.haversine_closest_point(&point) {
        Closest::Intersection(_) => 0.0,
        // The cross-track formula can round to NaN right next to a vertex; the vertex is then
        // as close as it gets.
        Closest::SinglePoint(closest) => {
            let d = Haversine.distance(closest, point);
            if d.is_finite() {
                d.min(nearest_end)
            } else {
                nearest_end
            }
        }
        Closest::Indeterminate => nearest_end,
    }
}

fn parse_circle(value: &Value) -> Result<FenceGeometry, Vec<FieldError>> {
    let center = read_position(&value["center"])
        .map_err(|message| FieldError::new("geometry.center", message));
    let radius_m = value["radius_m"]
        .as_f64()
        .filter(|r| (MIN_RADIUS_M..=MAX_RADIUS_M).contains(r))
        .ok_or_else(|| {
            FieldError::new(
                "geometry.radius_m",
                format!(
                    "radius_m must be a number of metres from {MIN_RADIUS_M} to {MAX_RADIUS_M}"
                ),
            )
        });
    match (center, radius_m) {
        (Ok(center), Ok(radius_m)) => Ok(FenceGeometry::Circle {
            center: Point(center),
            radius_m,
        }),
        (center, radius_m) => Err(center.err().into_iter().chain(radius_m.err()).collect()),
    }
}

/// Reads and checks a polygon; structure first, then shape, so a malformed ring is not also
/// reported as a self-intersecting one.
fn parse_polygon(coordinates: Option<&Value>) -> Result<Polygon<f64>, Vec<FieldError>> {
    let mut rings = read_rings(coordinates)?;
    // Cannot panic: read_rings refuses an empty list, so there is always an outer ring.
    let exterior = rings.remove(0);
    let polygon = Polygon::new(exterior, rings);
    // Validity first: a bow-tie's lobes cancel out to zero area, and "crosses itself" is the
    // message that helps there.
    check_validity(&polygon)?;
    check_areas(&polygon)?;
    Ok(polygon)
}

fn read_rings(coordinates: Option<&Value>) -> Result<Vec<LineString<f64>>, Vec<FieldError>> {
    let Some(rings) = coordinates.and_then(Value::as_array) else {
        return Err(vec![FieldError::new(
            COORDINATES,
            "coordinates must be an array of rings, each an array of [lon, lat] positions",
        )]);
    };
    if rings.is_empty() {
        return Err(vec![FieldError::new(
            COORDINATES,
            "coordinates must hold at least the outer ring",
        )]);
    }
    let total: usize = rings.iter().filter_map(Value::as_array).map(Vec::len).sum();
    if total > MAX_VERTICES {
        return Err(vec![FieldError::new(
            COORDINATES,
            format!(
                "polygon has {total} positions; at most {MAX_VERTICES} are allowed over all rings"
            ),
        )]);
    }
    let mut parsed = Vec::with_capacity(rings.len());
    let mut errors = Vec::new();
    for (index, ring) in rings.iter().enumerate() {
        match read_ring(index, ring) {
            Ok(ring) => parsed.push(ring),
            Err(ring_errors) => errors.extend(ring_errors),
        }
    }
    if errors.is_empty() {
        return Ok(parsed);
    }
    if errors.len() > MAX_REPORTED_ERRORS {
        let more = errors.len() - MAX_REPORTED_ERRORS;
        errors.truncate(MAX_REPORTED_ERRORS);
        errors.push(FieldError::new(
            COORDINATES,
            format!("{more} more errors in the coordinates are not listed"),
        ));
    }
    Err(errors)
}

fn read_ring(index: usize, value: &Value) -> Result<LineString<f64>, Vec<FieldError>> {
    let field = ring_field(index);
    let Some(positions) = value.as_array() else {
        return Err(vec![FieldError::new(
            field,
            "ring must be an array of [lon, lat] positions",
        )]);
    };
    let mut errors = Violations::new();
    let mut coords = Vec::with_capacity(positions.len());
    for (j, position) in positions.iter().enumerate() {
        match read_position(position) {
            Ok(coord) => coords.push(coord),
            Err(message) => errors.push(FieldError::new(format!("{field}[{j}]"), message)),
        }
    }
    errors.finish()?;
    errors = Violations::new();
    errors.check(
        coords.len() >= 4,
        &field,
        "ring needs at least 4 positions: 3 corners and the first one repeated to close it",
    );
    errors.check(
        coords.first() == coords.last(),
        &field,
        "ring is not closed: its last position must repeat its first",
    );
    errors.finish()?;
    Ok(LineString::new(coords))
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

/// Refuses rings that enclose no area. geo's validation skips edges that share an end, so a
/// ring folded back onto one line passes it.
fn check_areas(polygon: &Polygon<f64>) -> Result<(), Vec<FieldError>> {
    let mut errors = Violations::new();
    let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
    for (index, ring) in rings.enumerate() {
        errors.check(
            approx_area_m2(ring) >= MIN_RING_AREA_M2,
            &ring_field(index),
            "ring encloses no area: its positions lie on one line or retrace themselves",
        );
    }
    errors.finish()
}

/// Planar area of a closed ring, scaled to m² at the ring's middle latitude; only used to
/// tell "no area" from "some area", so the equirectangular approximation is enough.
fn approx_area_m2(ring: &LineString<f64>) -> f64 {
    let (min_lat, max_lat) = ring
        .coords()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
            (lo.min(c.y), hi.max(c.y))
        });
    let lon_scale = ((min_lat + max_lat) / 2.0).to_radians().cos();
    let square_degrees = Polygon::new(ring.clone(), Vec::new()).unsigned_area();
    square_degrees * METRES_PER_DEGREE * METRES_PER_DEGREE * lon_scale
}

/// Self-intersections, holes outside the outer ring, rings that overlap, via geo's OGC checks.
fn check_validity(polygon: &Polygon<f64>) -> Result<(), Vec<FieldError>> {
    let errors: Vec<FieldError> = polygon
        .validation_errors()
        .into_iter()
        .map(|problem| {
            let (role, message) = describe(&problem);
            FieldError::new(ring_field(ring_index(role)), message)
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The ring a problem is best reported on, and what to tell the client about it.
fn describe(problem: &InvalidPolygon) -> (&RingRole, &'static str) {
    match problem {
        InvalidPolygon::TooFewPointsInRing(role) => {
            (role, "ring needs at least 3 distinct corners")
        }
        InvalidPolygon::SelfIntersection(role) => (
            role,
            "ring crosses or touches itself (a bow-tie or figure-eight shape is not a valid fence)",
        ),
        InvalidPolygon::NonFiniteCoord(role, _) => (role, "ring has a non-finite coordinate"),
        InvalidPolygon::InteriorRingNotContainedInExteriorRing(role) => {
            (role, "hole must lie inside the outer ring")
        }
        // The later ring (always a hole) is the one to fix.
        InvalidPolygon::IntersectingRingsOnALine(_, role) => (
            role,
            "hole shares an edge with the outer ring or another hole",
        ),
        InvalidPolygon::IntersectingRingsOnAnArea(_, role) => (role, "hole overlaps another hole"),
    }
}

fn ring_index(role: &RingRole) -> usize {
    match role {
        RingRole::Exterior => 0,
        RingRole::Interior(hole) => hole + 1,
    }
}

fn ring_field(index: usize) -> String {
    format!("{COORDINATES}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Destination;

    // A ~100 m square near Munich: 100 m of latitude, and as many degrees of longitude as
    // make 100 m at that latitude.
    const LAT: f64 = 48.137;
    const LON: f64 = 11.575;
    const SIDE_LAT: f64 = 100.0 / METRES_PER_DEGREE;

    fn side_lon() -> f64 {
        SIDE_LAT / LAT.to_radians().cos()
    }

    fn square_json() -> Value {
        let (e, n) = (LON + side_lon(), LAT + SIDE_LAT);
        json!({"type": "Polygon", "coordinates": [[[LON, LAT], [e, LAT], [e, n], [LON, n], [LON, LAT]]]})
    }

    fn square() -> FenceGeometry {
        FenceGeometry::parse(&square_json()).expect("the square is valid")
    }

    fn circle() -> FenceGeometry {
        let geometry = json!({"type": "Circle", "center": [LON, LAT], "radius_m": 100.0});
        FenceGeometry::parse(&geometry).expect("the circle is valid")
    }

    /// A closed ring of `corners` distinct points on a ~1 km circle, plus the closing one.
    fn ring_on_circle(corners: usize) -> Vec<[f64; 2]> {
        let mut ring: Vec<[f64; 2]> = (0..corners)
            .map(|i| {
                let angle = i as f64 * std::f64::consts::TAU / corners as f64;
                [LON + 0.01 * angle.cos(), LAT + 0.01 * angle.sin()]
            })
            .collect();
        ring.push(ring[0]);
        ring
    }

    fn errors_of(geometry: Value) -> Vec<FieldError> {
        FenceGeometry::parse(&geometry).expect_err("the geometry should be refused")
    }

    fn fields_of(geometry: Value) -> Vec<String> {
        errors_of(geometry).into_iter().map(|e| e.field).collect()
    }

    fn near(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1.0,
            "{actual} m is not about {expected} m"
        );
    }

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

    #[test]
    fn missing_or_malformed_coordinates_are_refused() {
        let field = ["geometry.coordinates"];
        assert_eq!(fields_of(json!({"type": "Polygon"})), field);
        assert_eq!(
            fields_of(json!({"type": "Polygon", "coordinates": []})),
            field
        );
        assert_eq!(
            fields_of(json!({"type": "Polygon", "coordinates": "x"})),
            field
        );
        let not_a_ring = json!({"type": "Polygon", "coordinates": [5]});
        assert_eq!(fields_of(not_a_ring), ["geometry.coordinates[0]"]);
    }

    #[test]
    fn each_bad_position_is_reported_at_its_index() {
        let ring = json!([[0, 0], [200, 0], [1, "north"], [1, 1, 30], [0, -91], [0, 0]]);
        let errors = errors_of(json!({"type": "Polygon", "coordinates": [ring]}));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "geometry.coordinates[0][1]",
                "geometry.coordinates[0][2]",
                "geometry.coordinates[0][3]",
                "geometry.coordinates[0][4]",
            ]
        );
        assert!(errors[0].message.contains("longitude"));
        assert!(errors[2].message.contains("altitude"));
        assert!(errors[3].message.contains("latitude"));
    }

    #[test]
    fn an_open_ring_is_refused() {
        let ring = json!([[0, 0], [1, 0], [1, 1], [0, 1]]);
        let errors = errors_of(json!({"type": "Polygon", "coordinates": [ring]}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "geometry.coordinates[0]");
        assert!(errors[0].message.contains("closed"));
    }

    #[test]
    fn a_ring_with_fewer_than_four_positions_is_refused() {
        let ring = json!([[0, 0], [1, 0], [0, 0]]);
        assert_eq!(
            fields_of(json!({"type": "Polygon", "coordinates": [ring]})),
            ["geometry.coordinates[0]"]
        );
    }

    #[test]
    fn a_zero_area_ring_is_refused() {
        let line = json!([[0, 0], [0.5, 0.5], [1, 1], [0, 0]]);
        let errors = errors_of(json!({"type": "Polygon", "coordinates": [line]}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "geometry.coordinates[0]");
        assert!(errors[0].message.contains("no area"));
    }

    #[test]
    fn a_bow_tie_polygon_is_refused() {
        let bow_tie = json!([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]);
        let errors = errors_of(json!({"type": "Polygon", "coordinates": [bow_tie]}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "geometry.coordinates[0]");
        assert!(errors[0].message.contains("crosses"));
    }

    #[test]
    fn a_hole_outside_the_outer_ring_is_refused() {
        let outer = json!([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]);
        let hole = json!([[2, 2], [3, 2], [3, 3], [2, 3], [2, 2]]);
        let geometry = json!({"type": "Polygon", "coordinates": [outer, hole]});
        assert!(fields_of(geometry)
            .iter()
            .all(|field| field == "geometry.coordinates[1]"));
    }

    #[test]
    fn a_polygon_of_1000_positions_is_accepted() {
        let ring = ring_on_circle(MAX_VERTICES - 1);
        assert_eq!(ring.len(), MAX_VERTICES);
        let fence = FenceGeometry::parse(&json!({"type": "Polygon", "coordinates": [ring]}))
            .expect("1000 positions are allowed");
        assert_eq!(FenceGeometry::parse(&fence.to_json()), Ok(fence));
    }

    #[test]
    fn a_polygon_of_1001_positions_is_refused() {
        let ring = ring_on_circle(MAX_VERTICES);
        let errors = errors_of(json!({"type": "Polygon", "coordinates": [ring]}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "geometry.coordinates");
        assert!(errors[0].message.contains("1001"));
    }

    #[test]
    fn a_flood_of_bad_positions_is_summarised() {
        let ring = vec![json!([999, 0]); 500];
        let errors = errors_of(json!({"type": "Polygon", "coordinates": [ring]}));
        assert_eq!(errors.len(), MAX_REPORTED_ERRORS + 1);
        assert!(errors[MAX_REPORTED_ERRORS].message.contains("490 more"));
    }

    #[test]
    fn a_circle_with_a_bad_center_and_radius_reports_both() {
        let geometry = json!({"type": "Circle", "center": [0, 95], "radius_m": 5});
        assert_eq!(
            fields_of(geometry),
            ["geometry.center", "geometry.radius_m"]
        );
        let geometry = json!({"type": "Circle", "radius_m": "100"});
        assert_eq!(
            fields_of(geometry),
            ["geometry.center", "geometry.radius_m"]
        );
    }

    #[test]
    fn a_circle_radius_outside_the_limits_is_refused() {
        for radius in [json!(9.9), json!(100_000.1), json!(-50), json!(null)] {
            let geometry = json!({"type": "Circle", "center": [0, 0], "radius_m": radius});
            assert_eq!(fields_of(geometry), ["geometry.radius_m"]);
        }
        for radius in [MIN_RADIUS_M, MAX_RADIUS_M] {
            let geometry = json!({"type": "Circle", "center": [0, 0], "radius_m": radius});
            assert!(FenceGeometry::parse(&geometry).is_ok());
        }
    }

    #[test]
    fn a_point_in_the_middle_of_the_square_is_inside_and_50_m_from_its_edge() {
        let middle = Point::new(LON + side_lon() / 2.0, LAT + SIDE_LAT / 2.0);
        assert!(square().contains(middle));
        near(square().distance_to_boundary_m(middle), 50.0);
    }

    #[test]
    fn a_point_north_of_the_square_is_outside_at_its_distance() {
        let north_edge_middle = Point::new(LON + side_lon() / 2.0, LAT + SIDE_LAT);
        let outside = Haversine.destination(north_edge_middle, 0.0, 30.0);
        assert!(!square().contains(outside));
        near(square().distance_to_boundary_m(outside), 30.0);
    }

    #[test]
    fn points_near_and_on_the_square_edge_are_measured_to_it() {
        let east_edge_middle = Point::new(LON + side_lon(), LAT + SIDE_LAT / 2.0);
        let just_inside = Haversine.destination(east_edge_middle, 270.0, 2.0);
        let just_outside = Haversine.destination(east_edge_middle, 90.0, 2.0);
        assert!(square().contains(just_inside));
        assert!(!square().contains(just_outside));
        near(square().distance_to_boundary_m(just_inside), 2.0);
        near(square().distance_to_boundary_m(just_outside), 2.0);
        assert!(square().contains(east_edge_middle));
        near(square().distance_to_boundary_m(east_edge_middle), 0.0);
        let corner = Point::new(LON, LAT);
        assert!(square().contains(corner));
        near(square().distance_to_boundary_m(corner), 0.0);
    }

    #[test]
    fn points_inside_outside_and_near_a_circle_are_measured_to_its_rim() {
        let center = Point::new(LON, LAT);
        let cases = [(0.0, true, 100.0), (60.0, true, 40.0), (150.0, false, 50.0)];
        for (from_center, inside, to_rim) in cases {
            let point = Haversine.destination(center, 45.0, from_center);
            assert_eq!(
                circle().contains(point),
                inside,
                "{from_center} m from the centre"
            );
            near(circle().distance_to_boundary_m(point), to_rim);
        }
        let just_inside = Haversine.destination(center, 200.0, 99.5);
        assert!(circle().contains(just_inside));
        near(circle().distance_to_boundary_m(just_inside), 0.5);
    }
}
