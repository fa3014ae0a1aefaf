//! What a collar actor keeps across restarts: its pet's live state and every rule's memory,
//! written to Redis only after the messages behind it are stored (see `persistence`), so a
//! restarted actor never resumes ahead of what the broker will redeliver.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::actors::events::LiveState;
use crate::actors::rules::{BatteryRule, FenceTracker, HeartRateRule, OfflineRule};
use crate::cache::Redis;
use crate::ids::{GeofenceId, PetId};

/// Ranges of `seq` a [`SeqSet`] keeps apart before it merges the closest two.
pub const MAX_SEQ_RANGES: usize = 64;

/// Everything a restarted actor needs to resume: the live state and each rule's memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// The pet the state belongs to: a snapshot of another pet is never resumed, so a
    /// re-paired collar shows its new owner nothing of the pet it was on before.
    #[serde(default)]
    pub pet_id: Option<PetId>,
    pub state: LiveState,
    /// Sample time (epoch ms) of the newest sample applied to the live state.
    pub newest_ts: i64,
    /// Day (days since epoch, UTC) that `state.activity.steps_today` counts.
    pub steps_day: i64,
    /// The `seq`s whose steps `steps_today` already counts, so a redelivered or re-sent
    /// sample is not counted twice.
    #[serde(default)]
    pub steps_counted: SeqSet,
    pub heart_rate: HeartRateRule,
    pub battery: BatteryRule,
    pub offline: OfflineRule,
    pub fences: HashMap<GeofenceId, FenceTracker>,
}

impl Snapshot {
    /// A fresh snapshot for a collar on `pet_id`.
    pub fn for_pet(pet_id: Option<PetId>) -> Self {
        Self {
            pet_id,
            ..Self::default()
        }
    }
}

/// A snapshot to write once the message that produced it is stored.
#[derive(Debug, Clone)]
pub struct SnapshotWrite {
    pub serial: String,
    pub snapshot: Snapshot,
}

/// Snapshot key of a collar.
pub fn snapshot_key(redis: &Redis, serial: &str) -> String {
    redis.key(&format!("live:{serial}"))
}

/// A set of `seq`s kept as sorted, disjoint, inclusive ranges: a collar's `seq` grows by one
/// per sample, so a day of samples is one range, and a backlog upload a few more. Past
/// [`MAX_SEQ_RANGES`] the two closest ranges are merged, which can only make a sample in
/// the gap look counted already (steps undercounted), never count one twice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeqSet {
    ranges: Vec<(u64, u64)>,
}

impl SeqSet {
    /// Adds `seq`; false when it was in the set already.
    pub fn insert(&mut self, seq: u64) -> bool {
        let at = self.ranges.partition_point(|&(_, end)| end < seq);
        if let Some(&(start, _)) = self.ranges.get(at) {
            if start <= seq {
                return false;
            }
        }
        let joins_left = at > 0 && self.ranges[at - 1].1 + 1 == seq;
        let joins_right = self
            .ranges
            .get(at)
            .is_some_and(|&(start, _)| start == seq + 1);
        match (joins_left, joins_right) {
            (true, true) => {
                self.ranges[at - 1].1 = self.ranges[at].1;
                self.ranges.remove(at);
            }
            (true, false) => self.ranges[at - 1].1 = seq,
            (false, true) => self.ranges[at].0 = seq,
            (false, false) => self.ranges.insert(at, (seq, seq)),
        }
        if self.ranges.len() > MAX_SEQ_RANGES {
            self.merge_closest();
        }
        true
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    fn merge_closest(&mut self) {
        let Some(gap) =
            (1..self.ranges.len()).min_by_key(|&i| self.ranges[i].0 - self.ranges[i - 1].1)
        else {
            return;
        };
        self.ranges[gap - 1].1 = self.ranges[gap].1;
        self.ranges.remove(gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot as servers wrote it before the live state had a `mood`.
    const BEFORE_MOODS: &str = r#"{"pet_id":"3f0c8a4e-5b7d-4f7a-9c1e-2d6b8e4f1a90",
        "state":{"online":true,"last_seen":1764151500000,"live":false,
            "location":{"lat":13.756331,"lon":100.501762,"acc":6.5,"at":1764151500000,"h3":"8b65a5ac0c0dfff"},
            "battery":{"pct":83,"at":1764151500000},"geofences":{"inside":[]}},
        "newest_ts":1764151500000,"steps_day":20417,"steps_counted":{"ranges":[[1,3]]},
        "heart_rate":{"high_run":0,"low_run":0,"alerted":false},"battery":{"armed":true},
        "offline":{"alerted":false},"fences":{}}"#;

    #[test]
    fn a_snapshot_written_before_moods_still_loads() {
        let snapshot: Snapshot = serde_json::from_str(BEFORE_MOODS).expect("it parses");
        assert_eq!(snapshot.state.mood, None);
        assert!(snapshot.state.online);
        assert_eq!(snapshot.state.battery.map(|b| b.pct), Some(83));
        assert_eq!(snapshot.newest_ts, 1_764_151_500_000);
    }

    #[test]
    fn a_snapshot_keeps_its_mood_across_a_restart() {
        let mut snapshot: Snapshot = serde_json::from_str(BEFORE_MOODS).unwrap();
        snapshot.state.mood = Some(crate::actors::events::MoodState {
            mood: crate::mood::Mood::Sad,
            confidence: 0.9,
            at: 1_764_151_600_000,
        });
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back.state.mood, snapshot.state.mood);
    }

    #[test]
    fn a_seq_is_counted_once() {
        let mut set = SeqSet::default();
        assert!(set.insert(5));
        assert!(!set.insert(5));
        assert!(set.insert(4));
        assert!(set.insert(6));
        assert!(!set.insert(4));
        assert_eq!(set.ranges, vec![(4, 6)]);
    }

    #[test]
    fn a_backlog_fills_the_gap_between_two_ranges() {
        let mut set = SeqSet::default();
        for seq in (1..=3).chain(7..=9) {
            set.insert(seq);
        }
        assert_eq!(set.ranges, vec![(1, 3), (7, 9)]);
        for seq in 4..=6 {
            assert!(set.insert(seq));
        }
        assert_eq!(set.ranges, vec![(1, 9)]);
        assert!((1..=9).all(|seq| !set.insert(seq)));
    }

    #[test]
    fn too_many_ranges_merge_the_closest_two_and_never_forget_a_seq() {
        let mut set = SeqSet::default();
        let seqs: Vec<u64> = (0..=MAX_SEQ_RANGES as u64).map(|i| i * 10).collect();
        for &seq in &seqs {
            set.insert(seq);
        }
        assert_eq!(set.ranges.len(), MAX_SEQ_RANGES);
        assert!(seqs.iter().all(|&seq| !set.insert(seq)));
    }
}
