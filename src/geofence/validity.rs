//! The shape checks of a polygon whose structure was read: no ring that crosses itself, no
//! hole outside the outer ring or overlapping another, no ring without an area.

use geo::algorithm::validation::{InvalidPolygon, RingRole};
use geo::{Area, LineString, Polygon, Validation};

use super::polygon::ring_field;
use super::METRES_PER_DEGREE;
use crate::validation::{FieldError, Violations};

/// A ring smaller than this (m²) is a line or a point drawn by mistake; real fences are far
/// larger, and the margin absorbs rounding in the area of a degenerate ring.
const MIN_RING_AREA_M2: f64 = 1.0;

/// Refuses rings that enclose no area. geo's validation skips edges that share an end, so a
/// ring folded back onto one line passes it.
pub(super) fn check_areas(polygon: &Polygon<f64>) -> Result<(), Vec<FieldError>> {
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
pub(super) fn check_validity(polygon: &Polygon<f64>) -> Result<(), Vec<FieldError>> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{errors_of, fields_of};

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
}
