//! Which pet a collar was on when, for a node that stores a collar's messages without running
//! its actor (another node owns it): the collar's pairings, read from PostgreSQL and kept
//! per serial for a short while, so a burst of messages costs one lookup. A pairing changed
//! meanwhile is seen after [`PAIRINGS_TTL`] at the latest.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::actors::collar::Pairings;
use crate::store::collars;

/// Serials whose pairings are kept; past this the oldest half is dropped.
pub const PAIRINGS_CACHE_MAX: usize = 10_000;
/// How long a collar's pairings are trusted before they are read again.
pub const PAIRINGS_TTL: Duration = Duration::from_secs(10);

/// Pairings per serial (`None`: never provisioned), with when they were read.
pub struct PairingCache {
    pg: PgPool,
    entries: HashMap<String, (Instant, Option<Pairings>)>,
}

impl PairingCache {
    pub fn new(pg: PgPool) -> Self {
        Self {
            pg,
            entries: HashMap::new(),
        }
    }

    /// The collar's pairings; `Ok(None)` when the serial was never provisioned, `Err` when
    /// PostgreSQL could not say.
    pub async fn get(&mut self, serial: &str) -> Result<Option<Pairings>, sqlx::Error> {
        if let Some((read_at, pairings)) = self.entries.get(serial) {
            if read_at.elapsed() < PAIRINGS_TTL {
                return Ok(pairings.clone());
            }
        }
        let pairings = collars::load_setup(&self.pg, serial)
            .await?
            .map(|setup| Pairings::new(setup.pet_id, setup.pairings));
        if self.entries.len() >= PAIRINGS_CACHE_MAX {
            self.evict();
        }
        self.entries
            .insert(serial.to_owned(), (Instant::now(), pairings.clone()));
        Ok(pairings)
    }

    /// Drops the stale entries, and the older half if that is not enough.
    fn evict(&mut self) {
        self.entries
            .retain(|_, (read_at, _)| read_at.elapsed() < PAIRINGS_TTL);
        if self.entries.len() >= PAIRINGS_CACHE_MAX / 2 {
            let mut ages: Vec<Instant> = self.entries.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.entries.retain(|_, (read_at, _)| *read_at > cut);
        }
    }
}
