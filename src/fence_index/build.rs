//! Building a fence's cells: the finest resolution whose covering fits [`MAX_INDEX_CELLS`],
//! the inside cells, the zone (and clearance in rings) of every cell near the boundary, and
//! the local cell size that turns rings into metres.

use std::collections::{HashMap, HashSet};

use geo::{ChamberlainDuquetteArea, Haversine, Length, Polygon};
use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, Resolution};

use super::cells::{CellMap, Zone};
use super::shapes::{rings, Shapes};
use super::{FINEST_RESOLUTION, MAX_INDEX_CELLS, MAX_RINGS};
use crate::geofence::FenceGeometry;

/// Coarsest resolution indexed. Below [`MAX_INDEXED_LAT`] its cells stay clear of the poles;
/// a fence that does not fit at it (millions of km²) is not a pet's fence anyway.
const COARSEST_RESOLUTION: Resolution = Resolution::Four;

/// Cells whose edges are measured to learn the local cell size.
const EDGE_SAMPLE: usize = 32;
/// Share of the shortest sampled edge relied on, for H3's distortion between nearby cells.
const EDGE_SAFETY: f64 = 0.9;

impl CellMap {
    pub(super) fn build(geometry: &FenceGeometry) -> Option<Self> {
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
    use super::super::testing::{circle, indexed, yard};
    use super::*;

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
}
