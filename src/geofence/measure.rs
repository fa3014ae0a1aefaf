//! Where a point is relative to a fence: inside or not, and how far from its boundary, in
//! Haversine metres.

use geo::{Closest, Coord, Distance, Haversine, HaversineClosestPoint, Intersects, Line};
use geo::{LineString, Point};

use super::FenceGeometry;

impl FenceGeometry {
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

#[cfg(test)]
mod tests {
    use geo::Destination;

    use super::super::testing::{circle, near, side_lon, square, LAT, LON, SIDE_LAT};
    use super::*;

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
