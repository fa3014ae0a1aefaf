//! Which pet a collar was on when: a sample is stored under the pet the collar was on at
//! the sample's time, and only samples of the current pet reach the live state, so a
//! backlog uploaded after a re-pairing never shows the new owner the old pet.
//!
//! A sample from before the collar's first known pairing belongs to that first pet (a new
//! collar is often worn before it is paired in the app, and no other pet had it then); a
//! sample from between two pairings (the collar changing hands) belongs to no pet, and so
//! does one from a pairing whose pet was deleted since.

use crate::ids::PetId;
use crate::store::collars::PairingSpan;

/// A collar's recent pairings and its current pet.
#[derive(Debug, Clone, Default)]
pub struct Pairings {
    current: Option<PetId>,
    spans: Vec<PairingSpan>,
}

impl Pairings {
    pub fn new(current: Option<PetId>, spans: Vec<PairingSpan>) -> Self {
        Self { current, spans }
    }

    /// The pet the collar was on at `ts_ms`. A collar paired before pairings were recorded
    /// has no spans at all: its current pet takes every sample.
    pub fn pet_at(&self, ts_ms: i64) -> Option<PetId> {
        let Some(first) = self.spans.first() else {
            return self.current;
        };
        if ts_ms < first.from_ms {
            return first.pet_id;
        }
        self.spans
            .iter()
            .find(|span| span.from_ms <= ts_ms && span.to_ms.is_none_or(|to| ts_ms < to))
            .and_then(|span| span.pet_id)
    }

    /// True when a sample of `ts_ms` belongs to the current pet (or the collar is free): only
    /// those move the live state and raise alerts.
    pub fn is_current(&self, ts_ms: i64) -> bool {
        match self.current {
            None => true,
            Some(_) if self.spans.is_empty() => true,
            Some(pet) => self.pet_at(ts_ms) == Some(pet),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(pet: PetId, from_ms: i64, to_ms: Option<i64>) -> PairingSpan {
        PairingSpan {
            pet_id: Some(pet),
            from_ms,
            to_ms,
        }
    }

    #[test]
    fn a_sample_belongs_to_the_pet_of_its_time() {
        let (old, new) = (PetId::new(), PetId::new());
        let pairings = Pairings::new(
            Some(new),
            vec![span(old, 100, Some(200)), span(new, 300, None)],
        );
        assert_eq!(
            pairings.pet_at(50),
            Some(old),
            "worn before its first pairing"
        );
        assert_eq!(pairings.pet_at(150), Some(old));
        assert_eq!(pairings.pet_at(250), None, "between pairings");
        assert_eq!(pairings.pet_at(300), Some(new));
        assert!(
            !pairings.is_current(150),
            "the old pet's backlog is not live"
        );
        assert!(pairings.is_current(400));
    }

    #[test]
    fn a_collar_without_recorded_pairings_gives_every_sample_to_its_pet() {
        let pet = PetId::new();
        let pairings = Pairings::new(Some(pet), Vec::new());
        assert_eq!(pairings.pet_at(1), Some(pet));
        assert!(pairings.is_current(1));
    }

    #[test]
    fn a_span_whose_pet_was_deleted_gives_its_samples_to_no_pet() {
        let new = PetId::new();
        let deleted = PairingSpan {
            pet_id: None,
            from_ms: 100,
            to_ms: Some(200),
        };
        let pairings = Pairings::new(Some(new), vec![deleted, span(new, 300, None)]);
        assert_eq!(
            pairings.pet_at(50),
            None,
            "before the deleted pet's pairing"
        );
        assert_eq!(pairings.pet_at(150), None, "on the deleted pet");
        assert_eq!(pairings.pet_at(300), Some(new));
    }
}
