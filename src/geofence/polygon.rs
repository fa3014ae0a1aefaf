//! Reading a `Polygon` fence: its rings and positions, each error reported at its own field
//! path, at most [`MAX_VERTICES`] positions, and a flood of errors summarised. The shape is
//! checked afterwards (`validity`).

use geo::{LineString, Polygon};
use serde_json::Value;

use super::validity::{check_areas, check_validity};
use super::{read_position, MAX_VERTICES};
use crate::validation::{FieldError, Violations};

/// Errors reported at most for one polygon, so a badly generated shape does not produce a
/// thousand near-identical messages.
const MAX_REPORTED_ERRORS: usize = 10;

const COORDINATES: &str = "geometry.coordinates";

/// Reads and checks a polygon; structure first, then shape, so a malformed ring is not also
/// reported as a self-intersecting one.
pub(super) fn parse_polygon(coordinates: Option<&Value>) -> Result<Polygon<f64>, Vec<FieldError>> {
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

pub(super) fn ring_field(index: usize) -> String {
    format!("{COORDINATES}[{index}]")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{errors_of, fields_of, ring_on_circle};
    use super::super::FenceGeometry;
    use super::*;

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
}
