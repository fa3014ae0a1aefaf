//! An H3 index in front of the exact fence tests, so the collar actor can place every fix
//! against every fence of a pet cheaply.
//!
//! A fence is tiled once, at the finest resolution that keeps it within [`MAX_INDEX_CELLS`],
//! into *inside* cells (wholly within the fence) and *boundary* cells (crossing its edge). A fix
//! whose cell is inside, or outside the tiling, and whose neighbours for enough rings are too,
//! is answered from the index; fixes near the edge pay for the polygon or circle test.
//!
//! The tiler tests cells against straight longitude/latitude edges, as
//! [`FenceGeometry::contains`] reads a polygon, so inside/outside answers agree with it exactly.
//! Fences the tiler cannot represent faithfully (near a pole, across the antimeridian, millions
//! of km²) get no cells and are always tested exactly.
//!
//! - here: [`IndexedFence`], a fence with its cells, and the [`Placement`] of a fix;
//! - `shapes`: the polygons tiled for a fence (a circle's inner and outer stand-ins) and how
//!   far a great-circle edge strays from a straight one;
//! - `build`: choosing the resolution, tiling, and the zone of every cell near the fence;
//! - `cells`: the tiled fence (`CellMap`) and the placement of a fix from its cell.

mod build;
mod cells;
mod shapes;
#[cfg(test)]
mod testing;

use geo::Point;
use h3o::Resolution;

use self::cells::CellMap;
use crate::geofence::{FenceGeometry, FenceKind};
use crate::ids::GeofenceId;

/// Most cells an index may hold (inside + boundary sets together); the resolution is chosen as
/// the finest at which the fence needs no more than this.
pub const MAX_INDEX_CELLS: usize = 4096;
/// Finest resolution used (res 12 cells are ~300 m²).
pub const FINEST_RESOLUTION: Resolution = Resolution::Twelve;

/// Rings of like cells looked at around a fix; a fix that would need more is placed exactly.
const MAX_RINGS: u32 = 3;

/// How a point was placed relative to a fence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Whether the point is inside the fence, exactly as [`FenceGeometry::contains`] says.
    pub inside: bool,
    /// Metres from the point to the fence boundary (≥ 0). Exact, as
    /// [`FenceGeometry::distance_to_boundary_m`], unless `fast_path`: then a lower bound that is
    /// greater than the accuracy the point was placed with.
    pub distance_to_boundary_m: f64,
    /// True when the H3 index answered without the exact test (the cell is wholly inside or
    /// wholly outside).
    pub fast_path: bool,
}

/// A fence with its precomputed H3 cells.
#[derive(Debug, Clone)]
pub struct IndexedFence {
    /// The fence indexed.
    pub id: GeofenceId,
    /// What crossing it means.
    pub kind: FenceKind,
    /// Its shape. The cells were computed from it: for a new shape, build a new `IndexedFence`.
    pub geometry: FenceGeometry,
    /// None when the fence could not be tiled; every placement is then exact.
    cells: Option<CellMap>,
}

impl IndexedFence {
    /// Tiles the fence. One that cannot be tiled gets no cells and is always tested exactly.
    pub fn new(id: GeofenceId, kind: FenceKind, geometry: FenceGeometry) -> Self {
        // h3o asserts on inputs it does not expect; a fence it chokes on must still work.
        let cells = std::panic::catch_unwind(|| CellMap::build(&geometry)).unwrap_or_else(|_| {
            tracing::warn!(fence = %id, "H3 tiling panicked; the fence is tested exactly");
            None
        });
        Self {
            id,
            kind,
            geometry,
            cells,
        }
    }

    /// The fence without cells: every placement is exact. Costs no tiling, so an actor can
    /// start with it at once and take the indexed fence when it is ready.
    pub fn exact(id: GeofenceId, kind: FenceKind, geometry: FenceGeometry) -> Self {
        Self {
            id,
            kind,
            geometry,
            cells: None,
        }
    }

    /// Places `point` (x = lon, y = lat) whose fix is accurate to `acc_m` metres: `inside`
    /// always exact; the distance exact whenever it could be ≤ `acc_m`. Only when the index
    /// proves the boundary farther than `acc_m` does it skip the exact tests (`fast_path`).
    pub fn place(&self, point: Point<f64>, acc_m: f64) -> Placement {
        self.cells
            .as_ref()
            .and_then(|cells| cells.place(point, acc_m))
            .unwrap_or_else(|| Placement {
                inside: self.geometry.contains(point),
                distance_to_boundary_m: self.geometry.distance_to_boundary_m(point),
                fast_path: false,
            })
    }

    /// Resolution of the index; [`FINEST_RESOLUTION`] when the fence has no cells.
    pub fn resolution(&self) -> Resolution {
        self.cells
            .as_ref()
            .map_or(FINEST_RESOLUTION, |cells| cells.resolution)
    }

    /// Inside plus boundary cells held; 0 when the fence is always tested exactly.
    pub fn cell_count(&self) -> usize {
        self.cells.as_ref().map_or(0, |cells| cells.cell_count)
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;
    use std::time::Instant;

    use geo::{Destination, Haversine};

    use super::testing::{around_circle, around_yard, circle, fast_paths_checked, indexed};
    use super::testing::{offset, yard};
    use super::*;

    #[test]
    fn placing_random_points_agrees_with_the_exact_tests_for_a_yard_and_a_circle() {
        let cases = [
            (indexed(yard(1.0)), around_yard(1.0, 5_000)),
            (indexed(circle(300.0)), around_circle(300.0, 5_000)),
        ];
        for (fence, points) in cases {
            assert_eq!(
                fence.resolution(),
                FINEST_RESOLUTION,
                "{:?}",
                fence.geometry
            );
            for acc_m in [0.0, 10.0, 50.0] {
                fast_paths_checked(&fence, &points, acc_m);
            }
            assert!(fast_paths_checked(&fence, &points, 10.0) > points.len() / 2);
        }
    }

    #[test]
    fn the_fast_path_is_taken_only_farther_than_the_accuracy_from_the_boundary() {
        let cases = [
            (indexed(yard(1.0)), around_yard(1.0, 3_000)),
            (indexed(yard(20.0)), around_yard(20.0, 3_000)),
            (indexed(circle(300.0)), around_circle(300.0, 3_000)),
            (indexed(circle(100_000.0)), around_circle(100_000.0, 3_000)),
        ];
        for acc_m in [10.0, 50.0] {
            let fast: usize = cases
                .iter()
                .map(|(fence, points)| fast_paths_checked(fence, points, acc_m))
                .sum();
            assert!(fast > 0, "no fast path at all with acc {acc_m} m");
        }
    }

    #[test]
    fn a_point_in_the_middle_of_a_large_fence_takes_the_fast_path() {
        let fence = indexed(circle(100_000.0));
        let middle = fence.place(offset(500.0, 500.0), 10.0);
        assert!(middle.inside && middle.fast_path, "{middle:?}");
        assert!((10.0..=100_000.0).contains(&middle.distance_to_boundary_m));

        let fence = indexed(yard(1.0));
        let clear_of_every_edge = fence.place(offset(700.0, 250.0), 10.0);
        assert!(clear_of_every_edge.inside && clear_of_every_edge.fast_path);
    }

    #[test]
    fn a_point_near_the_edge_is_placed_exactly() {
        let fence = indexed(yard(1.0));
        let near_south_edge = offset(500.0, 2.0);
        let placed = fence.place(near_south_edge, 10.0);
        assert!(placed.inside && !placed.fast_path, "{placed:?}");
        let exact_m = fence.geometry.distance_to_boundary_m(near_south_edge);
        assert_eq!(placed.distance_to_boundary_m, exact_m);
        assert!((exact_m - 2.0).abs() < 0.1, "{exact_m}");

        let fence = indexed(circle(300.0));
        let outside_the_rim = Haversine.destination(offset(500.0, 500.0), 30.0, 303.0);
        let placed = fence.place(outside_the_rim, 10.0);
        assert!(!placed.inside && !placed.fast_path, "{placed:?}");
        assert_eq!(
            placed.distance_to_boundary_m,
            fence.geometry.distance_to_boundary_m(outside_the_rim)
        );
    }

    #[test]
    #[ignore = "benchmark: cargo test --release -- --ignored --nocapture"]
    fn print_the_fast_path_ratio_and_the_cost_of_a_placement() {
        const POINTS: usize = 100_000;
        const ACC_M: f64 = 10.0;
        let cases = [
            ("1 km yard", yard(1.0), around_yard(1.0, POINTS)),
            ("20 km yard", yard(20.0), around_yard(20.0, POINTS)),
            ("300 m circle", circle(300.0), around_circle(300.0, POINTS)),
            ("100 km circle", circle(1e5), around_circle(1e5, POINTS)),
        ];
        for (name, geometry, points) in cases {
            let start = Instant::now();
            let fence = indexed(geometry);
            let build = start.elapsed();

            let start = Instant::now();
            let fast = points
                .iter()
                .filter(|&&point| black_box(fence.place(point, ACC_M)).fast_path)
                .count();
            let indexed_ns = start.elapsed().as_nanos() as f64 / POINTS as f64;

            let start = Instant::now();
            for &point in &points {
                let geometry = &fence.geometry;
                black_box((
                    geometry.contains(point),
                    geometry.distance_to_boundary_m(point),
                ));
            }
            let exact_ns = start.elapsed().as_nanos() as f64 / POINTS as f64;

            println!(
                "{name}: res {res}, {cells} cells, built in {build:?}; acc {ACC_M} m: \
                 fast path {ratio:.1}%, {indexed_ns:.0} ns/placement (exact only {exact_ns:.0} ns)",
                res = fence.resolution(),
                cells = fence.cell_count(),
                ratio = 100.0 * fast as f64 / POINTS as f64,
            );
        }
    }
}
