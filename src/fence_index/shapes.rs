//! The polygons tiled for a fence: a polygon itself, or for a circle a regular polygon just
//! inside it and one just outside; none for a fence that cannot be tiled faithfully (near a
//! pole, across the antimeridian).

use std::f64::consts::PI;

use geo::{Closest, Coord, Destination, Distance, Haversine, HaversineClosestPoint, Line};
use geo::{LineString, Point, Polygon};

use crate::geofence::FenceGeometry;

/// Fences reaching nearer a pole are not indexed: there the straight lon/lat outlines the tiler
/// draws for H3 cells no longer match the cells.
const MAX_INDEXED_LAT: f64 = 85.0;
/// Sides of the polygons standing in for a circle.
const CIRCLE_SIDES: u32 = 64;
/// Relative gap kept between a circle and its stand-in polygons; over one side of a 100 km
/// circle a straight lon/lat edge strays from the sphere by metres, this leaves hundreds.
const CIRCLE_MARGIN: f64 = 0.005;

/// The polygons tiled for a fence: a cell wholly inside `inner` is wholly inside the fence, and
/// a cell that touches the fence touches `outer`.
pub(super) struct Shapes {
    pub(super) inner: Polygon<f64>,
    pub(super) outer: Polygon<f64>,
    pub(super) bulge_m: f64,
}

impl Shapes {
    /// None when the fence cannot be tiled faithfully.
    pub(super) fn of(geometry: &FenceGeometry) -> Option<Self> {
        let shapes = match geometry {
            FenceGeometry::Polygon(polygon) => Self {
                inner: polygon.clone(),
                outer: polygon.clone(),
                bulge_m: bulge_m(polygon),
            },
            FenceGeometry::Circle { center, radius_m } => {
                // A polygon's sides come nearest its centre mid-side, at cos(half a side's
                // angle) of the vertex radius: so the outer one's sides stay outside the circle.
                let side_cos = (PI / f64::from(CIRCLE_SIDES)).cos();
                Self {
                    inner: regular_polygon(*center, radius_m * (1.0 - CIRCLE_MARGIN))?,
                    outer: regular_polygon(*center, radius_m * (1.0 + CIRCLE_MARGIN) / side_cos)?,
                    bulge_m: 0.0,
                }
            }
        };
        let polar = |coord: &Coord<f64>| coord.y.abs() > MAX_INDEXED_LAT;
        let reaches_a_pole = shapes.outer.exterior().coords().any(polar);
        (!reaches_a_pole).then_some(shapes)
    }
}

/// A polygon whose vertices lie `radius_m` from `center`; None when it would cross the
/// antimeridian, where its straight lon/lat sides would go the long way round.
fn regular_polygon(center: Point<f64>, radius_m: f64) -> Option<Polygon<f64>> {
    let vertex = |side: u32| {
        let bearing = 360.0 * f64::from(side % CIRCLE_SIDES) / f64::from(CIRCLE_SIDES);
        let vertex = Haversine.destination(center, bearing, radius_m);
        // Destination wraps longitude into ±180°; unwrapped next to the centre, a crossing shows.
        let lon = center.x() + (vertex.x() - center.x() + 540.0).rem_euclid(360.0) - 180.0;
        (lon.abs() <= 180.0).then_some(Coord {
            x: lon,
            y: vertex.y(),
        })
    };
    let ring = (0..=CIRCLE_SIDES).map(vertex).collect::<Option<Vec<_>>>()?;
    Some(Polygon::new(LineString::new(ring), Vec::new()))
}

/// Twice the widest gap between a straight lon/lat edge of the polygon and the great-circle
/// arc between the same vertices, which is widest near the edge's middle.
fn bulge_m(polygon: &Polygon<f64>) -> f64 {
    rings(polygon)
        .flat_map(LineString::lines)
        .map(|edge| 2.0 * gap_at_middle_m(edge))
        .fold(0.0, f64::max)
}

fn gap_at_middle_m(edge: Line<f64>) -> f64 {
    let middle = Point(edge.start + edge.delta() / 2.0);
    // When the arc's closest point is undefined, an end bounds the gap.
    let to_end = Haversine.distance(middle, Point(edge.start));
    match edge.haversine_closest_point(&middle) {
        Closest::Intersection(_) => 0.0,
        Closest::SinglePoint(closest) => Some(Haversine.distance(closest, middle))
            .filter(|gap| gap.is_finite())
            .unwrap_or(to_end),
        Closest::Indeterminate => to_end,
    }
}

pub(super) fn rings(polygon: &Polygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    std::iter::once(polygon.exterior()).chain(polygon.interiors())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{fast_paths_checked, indexed, points_around};
    use super::*;

    #[test]
    fn fences_across_the_antimeridian_or_near_a_pole_are_placed_exactly() {
        let across = FenceGeometry::Circle {
            center: Point::new(179.999, 10.0),
            radius_m: 1_000.0,
        };
        let polar = FenceGeometry::Circle {
            center: Point::new(20.0, 89.0),
            radius_m: 5_000.0,
        };
        for geometry in [across, polar] {
            let FenceGeometry::Circle { center, radius_m } = geometry else {
                unreachable!("both are circles")
            };
            let fence = indexed(geometry);
            assert_eq!(fence.cell_count(), 0);
            let points = points_around(center, 1.5 * radius_m, 500);
            assert_eq!(fast_paths_checked(&fence, &points, 10.0), 0);
        }
    }
}
