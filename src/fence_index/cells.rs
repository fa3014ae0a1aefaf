//! The tiled fence: the zone of every cell in and near it, sorted for binary search, and the
//! placement of a fix that its cell settles (well inside, or well clear of the fence).

use std::fmt;

use geo::Point;
use h3o::{CellIndex, LatLng, Resolution};

use super::{Placement, MAX_RINGS};

/// What the index knows about one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zone {
    /// Wholly inside, and so is every cell within `clearance` rings.
    Inside { clearance: u32 },
    /// Crosses the fence's edge: only the exact test can tell.
    Boundary,
    /// Wholly outside, and no cell within `clearance` rings touches the fence.
    Outside { clearance: u32 },
}

/// The tiled fence.
#[derive(Clone)]
pub(super) struct CellMap {
    pub(super) resolution: Resolution,
    /// Inside and boundary cells, and outside cells within [`MAX_RINGS`] of the boundary,
    /// sorted by cell; any other cell is outside with full clearance.
    pub(super) zones: Vec<(CellIndex, Zone)>,
    /// Inside plus boundary cells.
    pub(super) cell_count: usize,
    /// Metres each ring of clearance beyond the first is sure to add.
    pub(super) ring_m: f64,
    /// Metres the great-circle edges that distances are measured to may stray from the
    /// straight lon/lat edges that were tiled.
    pub(super) bulge_m: f64,
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
    /// The placement of a fix whose cell settles it, or None when the exact tests must decide.
    pub(super) fn place(&self, point: Point<f64>, acc_m: f64) -> Option<Placement> {
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
