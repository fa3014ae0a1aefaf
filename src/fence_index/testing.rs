//! Test fences near Munich (a concave yard with a hole, circles), points spread around them,
//! and the check that every placement agrees with the exact tests.

use geo::Point;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::IndexedFence;
use crate::geofence::{FenceGeometry, FenceKind};
use crate::ids::GeofenceId;

// Test fences near Munich.
pub(super) const LAT: f64 = 48.137;
pub(super) const LON: f64 = 11.575;
pub(super) const METRES_PER_DEGREE: f64 = 111_195.08;

/// The point `east_m` east and `north_m` north of the reference corner; flat-Earth offsets,
/// close enough for placing test shapes.
pub(super) fn offset(east_m: f64, north_m: f64) -> Point<f64> {
    let lon_scale = METRES_PER_DEGREE * LAT.to_radians().cos();
    Point::new(LON + east_m / lon_scale, LAT + north_m / METRES_PER_DEGREE)
}

/// A concave polygon about `scale` km across, with a hole, validated like client input.
pub(super) fn yard(scale: f64) -> FenceGeometry {
    let ring = |corners: &[(f64, f64)]| -> Vec<serde_json::Value> {
        let at = |&(east, north): &(f64, f64)| offset(east * scale, north * scale);
        corners
            .iter()
            .map(at)
            .map(|p| json!([p.x(), p.y()]))
            .collect()
    };
    let outer = ring(&[
        (0.0, 0.0),
        (1000.0, 0.0),
        (1100.0, 400.0),
        (800.0, 1000.0),
        (550.0, 450.0),
        (300.0, 950.0),
        (-100.0, 700.0),
        (0.0, 0.0),
    ]);
    let hole = ring(&[
        (150.0, 150.0),
        (400.0, 120.0),
        (350.0, 350.0),
        (180.0, 330.0),
        (150.0, 150.0),
    ]);
    let geometry = json!({"type": "Polygon", "coordinates": [outer, hole]});
    FenceGeometry::parse(&geometry).expect("the test yard is a valid polygon")
}

pub(super) fn circle(radius_m: f64) -> FenceGeometry {
    FenceGeometry::Circle {
        center: offset(500.0, 500.0),
        radius_m,
    }
}

pub(super) fn indexed(geometry: FenceGeometry) -> IndexedFence {
    IndexedFence::new(GeofenceId::new(), FenceKind::Safe, geometry)
}

/// `count` points spread uniformly over a square of `half_side_m` around `center`.
pub(super) fn points_around(center: Point<f64>, half_side_m: f64, count: usize) -> Vec<Point<f64>> {
    let mut rng = StdRng::seed_from_u64(7);
    let lon_scale = METRES_PER_DEGREE * center.y().to_radians().cos();
    let mut spread = || rng.gen_range(-half_side_m..=half_side_m);
    (0..count)
        .map(|_| {
            let (east, north) = (spread(), spread());
            Point::new(
                center.x() + east / lon_scale,
                center.y() + north / METRES_PER_DEGREE,
            )
        })
        .collect()
}

/// Points around a yard of the given scale, and around a circle of the given radius.
pub(super) fn around_yard(scale: f64, count: usize) -> Vec<Point<f64>> {
    points_around(offset(500.0 * scale, 500.0 * scale), 900.0 * scale, count)
}

pub(super) fn around_circle(radius_m: f64, count: usize) -> Vec<Point<f64>> {
    points_around(offset(500.0, 500.0), 1.5 * radius_m, count)
}

/// Places every point, checks it against the exact tests, and counts fast paths.
pub(super) fn fast_paths_checked(fence: &IndexedFence, points: &[Point<f64>], acc_m: f64) -> usize {
    let mut fast = 0;
    for &point in points {
        let placed = fence.place(point, acc_m);
        let exact_m = fence.geometry.distance_to_boundary_m(point);
        assert_eq!(placed.inside, fence.geometry.contains(point), "{point:?}");
        if placed.fast_path {
            fast += 1;
            assert!(
                acc_m < placed.distance_to_boundary_m && placed.distance_to_boundary_m <= exact_m,
                "{point:?}: fast path gave {placed:?}, exactly {exact_m} m, acc {acc_m} m"
            );
        } else {
            assert_eq!(placed.distance_to_boundary_m, exact_m, "{point:?}");
        }
    }
    fast
}
