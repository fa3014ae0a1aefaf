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

use std::collections::{HashMap, HashSet};
use std::f64::consts::PI;
use std::fmt;

use geo::{
    ChamberlainDuquetteArea, Closest, Coord, Destination, Distance, Haversine,
    HaversineClosestPoint, Length, Line, LineString, Point, Polygon,
};
use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, LatLng, Resolution};

use crate::geofence::{FenceGeometry, FenceKind};
use crate::ids::GeofenceId;

/// Most cells an index may hold (inside + boundary sets together); the resolution is chosen as
/// the finest at which the fence needs no more than this.
pub const MAX_INDEX_CELLS: usize = 4096;
/// Finest resolution used (res 12 cells are ~300 m²).
pub const FINEST_RESOLUTION: Resolution = Resolution::Twelve;

/// Rings of like cells looked at around a fix; a fix that would need more is placed exactly.
const MAX_RINGS: u32 = 3;
/// Coarsest resolution indexed. Below [`MAX_INDEXED_LAT`] its cells stay clear of the poles;
/// a fence that does not fit at it (millions of km²) is not a pet's fence anyway.
const COARSEST_RESOLUTION: Resolution = Resolution::Four;
/// Fences reaching nearer a pole are not indexed: there the straight lon/lat outlines the tiler
/// draws for H3 cells no longer match the cells.
const MAX_INDEXED_LAT: f64 = 85.0;
/// Sides of the polygons standing in for a circle.
const CIRCLE_SIDES: u32 = 64;
/// Relative gap kept between a circle and its stand-in polygons; over one side of a 100 km
/// circle a straight lon/lat edge strays from the sphere by metres, this leaves hundreds.
const CIRCLE_MARGIN: f64 = 0.005;
/// Cells whose edges are measured to learn the local cell size.
const EDGE_SAMPLE: usize = 32;
/// Share of the shortest sampled edge relied on, for H3's distortion between nearby cells.
const EDGE_SAFETY: f64 = 0.9;

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

/// What the index knows about one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// Wholly inside, and so is every cell within `clearance` rings.
    Inside { clearance: u32 },
    /// Crosses the fence's edge: only the exact test can tell.
    Boundary,
    /// Wholly outside, and no cell within `clearance` rings touches the fence.
    Outside { clearance: u32 },
}

/// The tiled fence.
#[derive(Clone)]
struct CellMap {
    resolution: Resolution,
    /// Inside and boundary cells, and outside cells within [`MAX_RINGS`] of the boundary,
    /// sorted by cell; any other cell is outside with full clearance.
    zones: Vec<(CellIndex, Zone)>,
    /// Inside plus boundary cells.
    cell_count: usize,
    /// Metres each ring of clearance beyond the first is sure to add.
    ring_m: f64,
    /// Metres the great-circle edges that distances are measured to may stray from the
    /// straight lon/lat edges that were tiled.
    bulge_m: f64,
}

impl fmt::Debug for CellMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Thousands of cells would drown a log line.
        f.debug_struct("CellMap")
            .field("resolution", &self.resolution)
            .field("cell_count", &self.cell_count)
            .field("listed_cells", &self.zones.len())
            .field("ring_m", &self.ring_m)
            .field("bulge_m", &self.bulge_m)
            .finish_non_exhaustive()
    }
}

impl CellMap {
    fn build(geometry: &FenceGeometry) -> Option<Self> {
        let shapes = Shapes::of(geometry)?;
        let (resolution, covering) = finest_covering(&shapes.outer)?;
        let inside = tile(
            &shapes.inner,
            resolution,
            ContainmentMode::ContainsBoundary,
            MAX_INDEX_CELLS,
        )?;
        let zones = zones(&covering, &settled_inside(inside, &covering));
        // Pentagons (all at sea) distort their neighbourhood beyond what the edge sample
        // assumes; a fence over one is tested exactly.
        if zones.iter().any(|(cell, _)| cell.is_pentagon()) {
            return None;
        }
        Some(Self {
            resolution,
            ring_m: shortest_edge_m(&zones)? * EDGE_SAFETY,
            zones,
            cell_count: covering.len(),
            bulge_m: shapes.bulge_m,
        })
    }

    /// The placement of a fix whose cell settles it, or None when the exact tests must decide.
    fn place(&self, point: Point<f64>, acc_m: f64) -> Option<Placement> {
        // Out of range, H3 would wrap the point onto a cell the straight-edged test does not
        // see it in.
        if point.x().abs() > 180.0 || point.y().abs() > 90.0 {
            return None;
        }
        let cell = LatLng::new(point.y(), point.x())
            .ok()?
            .to_cell(self.resolution);
        let (inside, clearance) = match self.zone(cell) {
            Zone::Inside { clearance } => (true, clearance),
            Zone::Outside { clearance } => (false, clearance),
            Zone::Boundary => return None,
        };
        // The first ring is not counted: it absorbs the difference between H3's cells and the
        // straight-edged outlines the tiler tested. Every further ring is at least an edge wide.
        let proven_m = f64::from(clearance.saturating_sub(1)) * self.ring_m - self.bulge_m;
        // At zero accuracy this still demands a counted ring, hence a settled neighbourhood.
        (proven_m > acc_m.max(0.0)).then_some(Placement {
            inside,
            distance_to_boundary_m: proven_m,
            fast_path: true,
        })
    }

    fn zone(&self, cell: CellIndex) -> Zone {
        match self.zones.binary_search_by_key(&cell, |&(cell, _)| cell) {
            Ok(found) => self.zones[found].1,
            Err(_) => Zone::Outside {
                clearance: MAX_RINGS,
            },
        }
    }
}

/// The polygons tiled for a fence: a cell wholly inside `inner` is wholly inside the fence, and
/// a cell that touches the fence touches `outer`.
struct Shapes {
    inner: Polygon<f64>,
    outer: Polygon<f64>,
    bulge_m: f64,
}

impl Shapes {
    /// None when the fence cannot be tiled faithfully.
    fn of(geometry: &FenceGeometry) -> Option<Self> {
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

fn rings(polygon: &Polygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    std::iter::once(polygon.exterior()).chain(polygon.interiors())
}

/// The finest resolution whose covering of `outer` fits the cap, with that covering.
fn finest_covering(outer: &Polygon<f64>) -> Option<(Resolution, HashSet<CellIndex>)> {
    let area_m2 = outer.chamberlain_duquette_unsigned_area();
    let perimeter_m: f64 = rings(outer).map(|ring| Haversine.length(ring)).sum();
    Resolution::range(COARSEST_RESOLUTION, FINEST_RESOLUTION)
        .rev()
        .filter(|&resolution| may_fit(area_m2, perimeter_m, resolution))
        .find_map(|resolution| {
            let covering = tile(outer, resolution, ContainmentMode::Covers, MAX_INDEX_CELLS)?;
            Some((resolution, covering))
        })
}

/// False when a covering clearly needs more cells than the cap, so tiling is not even tried:
/// its cells hold the whole area (no hexagon is twice the average), and a cell traces at most
/// about three average edges of a smooth outline.
fn may_fit(area_m2: f64, perimeter_m: f64, resolution: Resolution) -> bool {
    let by_area = area_m2 / (2.0 * resolution.area_m2());
    let by_outline = perimeter_m / (3.0 * resolution.edge_length_m());
    by_area.max(by_outline) <= MAX_INDEX_CELLS as f64
}

/// The distinct cells `mode` selects for `polygon`; None when the tiler refuses the polygon or
/// they are more than `limit` (the tiler streams, so a hopeless resolution stops early).
fn tile(
    polygon: &Polygon<f64>,
    resolution: Resolution,
    mode: ContainmentMode,
    limit: usize,
) -> Option<HashSet<CellIndex>> {
    // Fences have straight lon/lat edges even across the antimeridian; the tiler's heuristic
    // would split such a polygon instead.
    let mut tiler = TilerBuilder::new(resolution)
        .containment_mode(mode)
        .disable_transmeridian_heuristic()
        .build();
    tiler.add(polygon.clone()).ok()?;
    let mut cells = HashSet::new();
    for cell in tiler.into_coverage() {
        cells.insert(cell);
        if cells.len() > limit {
            return None;
        }
    }
    Some(cells)
}

/// The inside cells all of whose neighbours are in the covering. Geometrically that always
/// holds (a neighbour shares an edge with a cell inside the fence); dropping any cell that
/// breaks it keeps true what [`zones`] relies on: an outside cell's nearest covering cell is a
/// boundary cell.
fn settled_inside(inside: HashSet<CellIndex>, covering: &HashSet<CellIndex>) -> HashSet<CellIndex> {
    inside
        .into_iter()
        .filter(|cell| {
            let disk: Vec<CellIndex> = cell.grid_disk(1);
            disk.iter().all(|near| covering.contains(near))
        })
        .collect()
}

/// The zones of the covering cells and of the outside cells near the boundary, sorted by cell;
/// clearances are counted in rings to the nearest boundary cell.
fn zones(covering: &HashSet<CellIndex>, inside: &HashSet<CellIndex>) -> Vec<(CellIndex, Zone)> {
    let mut rings_to_boundary: HashMap<CellIndex, u32> = HashMap::new();
    for boundary in covering.difference(inside) {
        let disk: Vec<(CellIndex, u32)> = boundary.grid_disk_distances(MAX_RINGS);
        for (cell, rings) in disk {
            let nearest = rings_to_boundary.entry(cell).or_insert(rings);
            *nearest = (*nearest).min(rings);
        }
    }
    // A cell farther than MAX_RINGS from the boundary is not in the map: full clearance.
    let clearance_of = |cell: &CellIndex| {
        rings_to_boundary
            .get(cell)
            .map_or(MAX_RINGS, |rings| rings.saturating_sub(1))
    };
    let fenced = covering.iter().map(|&cell| {
        let clearance = clearance_of(&cell);
        let zone = if inside.contains(&cell) {
            Zone::Inside { clearance }
        } else {
            Zone::Boundary
        };
        (cell, zone)
    });
    let near_outside = rings_to_boundary
        .keys()
        .filter(|cell| !covering.contains(cell))
        .map(|&cell| {
            let clearance = clearance_of(&cell);
            (cell, Zone::Outside { clearance })
        });
    let mut zones: Vec<_> = fenced.chain(near_outside).collect();
    zones.sort_unstable_by_key(|&(cell, _)| cell);
    zones
}

/// The shortest edge, in metres, of a sample of cells spread over the index.
fn shortest_edge_m(zones: &[(CellIndex, Zone)]) -> Option<f64> {
    let step = (zones.len() / EDGE_SAMPLE).max(1);
    zones
        .iter()
        .step_by(step)
        .flat_map(|(cell, _)| cell.edges())
        .map(|edge| edge.length_m())
        .reduce(f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::json;
    use std::hint::black_box;
    use std::time::Instant;

    // Test fences near Munich.
    const LAT: f64 = 48.137;
    const LON: f64 = 11.575;
    const METRES_PER_DEGREE: f64 = 111_195.08;

    /// The point `east_m` east and `north_m` north of the reference corner; flat-Earth offsets,
    /// close enough for placing test shapes.
    fn offset(east_m: f64, north_m: f64) -> Point<f64> {
        let lon_scale = METRES_PER_DEGREE * LAT.to_radians().cos();
        Point::new(LON + east_m / lon_scale, LAT + north_m / METRES_PER_DEGREE)
    }

    /// A concave polygon about `scale` km across, with a hole, validated like client input.
    fn yard(scale: f64) -> FenceGeometry {
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

    fn circle(radius_m: f64) -> FenceGeometry {
        FenceGeometry::Circle {
            center: offset(500.0, 500.0),
            radius_m,
        }
    }

    fn indexed(geometry: FenceGeometry) -> IndexedFence {
        IndexedFence::new(GeofenceId::new(), FenceKind::Safe, geometry)
    }

    /// `count` points spread uniformly over a square of `half_side_m` around `center`.
    fn points_around(center: Point<f64>, half_side_m: f64, count: usize) -> Vec<Point<f64>> {
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
    fn around_yard(scale: f64, count: usize) -> Vec<Point<f64>> {
        points_around(offset(500.0 * scale, 500.0 * scale), 900.0 * scale, count)
    }

    fn around_circle(radius_m: f64, count: usize) -> Vec<Point<f64>> {
        points_around(offset(500.0, 500.0), 1.5 * radius_m, count)
    }

    /// Places every point, checks it against the exact tests, and counts fast paths.
    fn fast_paths_checked(fence: &IndexedFence, points: &[Point<f64>], acc_m: f64) -> usize {
        let mut fast = 0;
        for &point in points {
            let placed = fence.place(point, acc_m);
            let exact_m = fence.geometry.distance_to_boundary_m(point);
            assert_eq!(placed.inside, fence.geometry.contains(point), "{point:?}");
            if placed.fast_path {
                fast += 1;
                assert!(
                    acc_m < placed.distance_to_boundary_m
                        && placed.distance_to_boundary_m <= exact_m,
                    "{point:?}: fast path gave {placed:?}, exactly {exact_m} m, acc {acc_m} m"
                );
            } else {
                assert_eq!(placed.distance_to_boundary_m, exact_m, "{point:?}");
            }
        }
        fast
    }

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
    fn a_100_km_circle_is_indexed_within_the_cell_cap() {
        let fence = indexed(circle(100_000.0));
        assert!((1..=MAX_INDEX_CELLS).contains(&fence.cell_count()));
        assert!(fence.resolution() < FINEST_RESOLUTION);
    }

    #[test]
    fn no_index_holds_more_cells_than_the_cap_and_each_uses_the_finest_resolution_that_fits() {
        let circles = [10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5].map(circle);
        let yards = [0.05, 0.3, 1.0, 5.0, 20.0, 100.0].map(yard);
        for geometry in circles.into_iter().chain(yards) {
            let fence = indexed(geometry);
            assert!(
                (1..=MAX_INDEX_CELLS).contains(&fence.cell_count()),
                "{:?}",
                fence.geometry
            );
            let Some(finer) = fence
                .resolution()
                .succ()
                .filter(|r| *r <= FINEST_RESOLUTION)
            else {
                continue;
            };
            let outer = Shapes::of(&fence.geometry).expect("it was tiled").outer;
            let covering = tile(&outer, finer, ContainmentMode::Covers, MAX_INDEX_CELLS);
            assert!(covering.is_none(), "{:?} fits at {finer}", fence.geometry);
        }
    }

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
