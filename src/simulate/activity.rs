//! What a pet does through its day: the activities, how each shows in the sensors, and
//! which follows which at night, at walk times and in between. Pure: the model draws from it.

use rand::seq::SliceRandom as _;
use rand::Rng;
use serde::Serialize;

/// What the pet is doing; serialized as the protocol's `act`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Activity {
    Sleep,
    Rest,
    Walk,
    Run,
    Play,
}

/// How an activity shows in the sensors.
pub(super) struct Profile {
    pub(super) speed_mps: f64,
    pub(super) hr_bpm: f64,
    pub(super) steps_per_s: f64,
    pub(super) temp_delta: f64,
    pub(super) dwell_s: (f64, f64),
}

impl Activity {
    pub(super) fn profile(self) -> Profile {
        let (speed_mps, hr_bpm, steps_per_s, temp_delta, dwell_s) = match self {
            Activity::Sleep => (0.0, 60.0, 0.0, -0.3, (1_200.0, 5_400.0)),
            Activity::Rest => (0.0, 80.0, 0.05, 0.0, (300.0, 1_800.0)),
            Activity::Walk => (1.2, 100.0, 2.0, 0.2, (120.0, 900.0)),
            Activity::Run => (4.0, 150.0, 3.5, 0.7, (30.0, 180.0)),
            Activity::Play => (1.5, 130.0, 2.5, 0.5, (60.0, 600.0)),
        };
        Profile {
            speed_mps,
            hr_bpm,
            steps_per_s,
            temp_delta,
            dwell_s,
        }
    }

    /// Weighted by the part of the day: pets sleep through the night, go for walks in the
    /// morning and the evening, and in between mostly rest, sometimes play or run.
    pub(super) fn next(self, part: DayPart, rng: &mut impl Rng) -> Activity {
        use Activity::*;
        let choices: &[(Activity, u32)] = match (part, self) {
            (DayPart::Night, Sleep | Rest) => &[(Sleep, 12), (Rest, 1)],
            (DayPart::Night, _) => &[(Rest, 1)],
            (DayPart::WalkTime, Sleep) => &[(Rest, 1), (Walk, 3)],
            (DayPart::WalkTime, Rest) => &[(Walk, 5), (Play, 1), (Rest, 1)],
            (DayPart::WalkTime, Walk) => &[(Walk, 4), (Run, 2), (Play, 1), (Rest, 1)],
            (DayPart::WalkTime, Run) => &[(Walk, 3), (Rest, 1)],
            (DayPart::WalkTime, Play) => &[(Walk, 2), (Run, 1), (Rest, 1)],
            (DayPart::Day, Sleep) => &[(Rest, 1)],
            (DayPart::Day, Rest) => &[(Sleep, 3), (Walk, 4), (Play, 2)],
            (DayPart::Day, Walk) => &[(Rest, 4), (Run, 2), (Play, 2)],
            (DayPart::Day, Run) => &[(Walk, 3), (Rest, 1)],
            (DayPart::Day, Play) => &[(Rest, 3), (Walk, 2), (Run, 1)],
        };
        let (next, _) = choices
            .choose_weighted(rng, |choice| choice.1)
            .expect("every list above is non-empty with positive weights");
        *next
    }
}

/// The part of a pet's day, by local solar time at its home.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DayPart {
    /// 22:00 to 06:00.
    Night,
    /// 06:30 to 08:00 and 17:30 to 19:00: walks.
    WalkTime,
    Day,
}

impl DayPart {
    /// Solar time (the longitude's share of the day) is close enough to a zone's clock and
    /// needs no time-zone database.
    pub(super) fn at(ts_ms: i64, lon: f64) -> DayPart {
        let hour = (ts_ms as f64 / 3_600_000.0 + lon / 15.0).rem_euclid(24.0);
        if !(6.0..22.0).contains(&hour) {
            DayPart::Night
        } else if (6.5..8.0).contains(&hour) || (17.5..19.0).contains(&hour) {
            DayPart::WalkTime
        } else {
            DayPart::Day
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_of_the_day_follows_the_sun_at_home() {
        // 2025-11-26 00:00 UTC is 06:42 solar time in Bangkok (100.5° E).
        let midnight_utc = 1_764_115_200_000_i64;
        assert_eq!(DayPart::at(midnight_utc, 100.5), DayPart::WalkTime);
        assert_eq!(DayPart::at(midnight_utc, 0.0), DayPart::Night);
        assert_eq!(
            DayPart::at(midnight_utc + 12 * 3_600_000, 0.0),
            DayPart::Day
        );
    }
}
