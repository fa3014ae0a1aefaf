//! The alert rules a collar actor applies to each new sample, as plain state machines with
//! no I/O, so each rule is unit-tested on its own. Their state is serialisable: it is part of
//! the snapshot a restarted actor resumes from.

use serde::{Deserialize, Serialize};

use super::events::AlertKind;

/// Readings in a row outside the heart-rate band before an alert.
pub const HR_READINGS_TO_ALERT: u8 = 3;
/// Battery percentage at or under which `battery_low` fires.
pub const BATTERY_LOW_PCT: u8 = 15;
/// Battery percentage at or over which the low-battery alert is armed again (a charge).
pub const BATTERY_REARM_PCT: u8 = 50;
/// Consecutive fixes on the other side of a fence edge that confirm a crossing even when
/// each one is within its accuracy of the edge.
pub const FIXES_TO_CONFIRM_CROSSING: u8 = 2;

/// Default heart-rate bands (beats per minute) by species, for pets without their own.
pub fn default_hr_band(species: &str) -> (u16, u16) {
    match species {
        "dog" => (50, 180),
        "cat" => (100, 240),
        _ => (40, 250),
    }
}

/// Heart rate: alert after three readings in a row above (or below) the band; again only
/// after a reading back inside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateRule {
    high_run: u8,
    low_run: u8,
    alerted: bool,
}

impl HeartRateRule {
    pub fn observe(&mut self, hr: u16, (min, max): (u16, u16)) -> Option<AlertKind> {
        if (min..=max).contains(&hr) {
            *self = Self::default();
            return None;
        }
        let (run, other, kind) = if hr > max {
            (
                &mut self.high_run,
                &mut self.low_run,
                AlertKind::HeartRateHigh,
            )
        } else {
            (
                &mut self.low_run,
                &mut self.high_run,
                AlertKind::HeartRateLow,
            )
        };
        *other = 0;
        *run = run.saturating_add(1);
        if *run >= HR_READINGS_TO_ALERT && !self.alerted {
            self.alerted = true;
            return Some(kind);
        }
        None
    }
}

/// Battery: one alert per discharge, re-armed by a charge to 50 % or more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatteryRule {
    armed: bool,
}

impl Default for BatteryRule {
    fn default() -> Self {
        Self { armed: true }
    }
}

impl BatteryRule {
    pub fn observe(&mut self, pct: u8) -> Option<AlertKind> {
        if pct >= BATTERY_REARM_PCT {
            self.armed = true;
        } else if pct <= BATTERY_LOW_PCT && self.armed {
            self.armed = false;
            return Some(AlertKind::BatteryLow);
        }
        None
    }
}

/// Offline: the Last Will or a silence raises one alert; any message clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfflineRule {
    alerted: bool,
}

impl OfflineRule {
    /// The collar went away (Last Will or silence); `Some` the first time.
    pub fn went_offline(&mut self) -> Option<AlertKind> {
        (!std::mem::replace(&mut self.alerted, true)).then_some(AlertKind::CollarOffline)
    }

    /// The collar spoke again.
    pub fn came_back(&mut self) {
        self.alerted = false;
    }

    pub fn is_offline(&self) -> bool {
        self.alerted
    }
}

/// Where one fix lies relative to one fence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixPlacement {
    pub inside: bool,
    pub distance_to_boundary_m: f64,
    /// The fix's accuracy radius (0 when the collar gave none).
    pub acc_m: f64,
}

/// One fence's membership with hysteresis: a crossing counts when the fix is on the other
/// side by more than its accuracy, or when two fixes in a row are on the other side. GPS
/// drift along the edge therefore never flaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FenceTracker {
    /// `None` until the first fix: the first position sets membership without an alert.
    inside: Option<bool>,
    pending: u8,
}

/// A confirmed crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    Entered,
    Exited,
}

impl FenceTracker {
    pub fn is_inside(&self) -> bool {
        self.inside.unwrap_or(false)
    }

    pub fn observe(&mut self, fix: FixPlacement) -> Option<Crossing> {
        let Some(inside) = self.inside else {
            self.inside = Some(fix.inside);
            return None;
        };
        if fix.inside == inside {
            self.pending = 0;
            return None;
        }
        self.pending = self.pending.saturating_add(1);
        let clear = fix.distance_to_boundary_m > fix.acc_m;
        if !clear && self.pending < FIXES_TO_CONFIRM_CROSSING {
            return None;
        }
        self.inside = Some(fix.inside);
        self.pending = 0;
        Some(if fix.inside {
            Crossing::Entered
        } else {
            Crossing::Exited
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAND: (u16, u16) = (50, 180);

    #[test]
    fn heart_rate_alerts_after_three_high_readings_and_once_until_back_in_band() {
        let mut rule = HeartRateRule::default();
        assert_eq!(rule.observe(200, BAND), None);
        assert_eq!(rule.observe(200, BAND), None);
        assert_eq!(rule.observe(200, BAND), Some(AlertKind::HeartRateHigh));
        assert_eq!(rule.observe(210, BAND), None);
        assert_eq!(rule.observe(90, BAND), None);
        for _ in 0..2 {
            assert_eq!(rule.observe(30, BAND), None);
        }
        assert_eq!(rule.observe(30, BAND), Some(AlertKind::HeartRateLow));
    }

    #[test]
    fn a_reading_in_band_resets_the_run() {
        let mut rule = HeartRateRule::default();
        rule.observe(200, BAND);
        rule.observe(200, BAND);
        rule.observe(100, BAND);
        assert_eq!(rule.observe(200, BAND), None);
        assert_eq!(rule.observe(200, BAND), None);
        assert_eq!(rule.observe(200, BAND), Some(AlertKind::HeartRateHigh));
    }

    #[test]
    fn battery_alerts_once_per_discharge() {
        let mut rule = BatteryRule::default();
        assert_eq!(rule.observe(16), None);
        assert_eq!(rule.observe(15), Some(AlertKind::BatteryLow));
        assert_eq!(rule.observe(10), None);
        assert_eq!(rule.observe(40), None);
        assert_eq!(rule.observe(12), None);
        assert_eq!(rule.observe(50), None);
        assert_eq!(rule.observe(14), Some(AlertKind::BatteryLow));
    }

    #[test]
    fn offline_alerts_once_until_the_collar_speaks() {
        let mut rule = OfflineRule::default();
        assert_eq!(rule.went_offline(), Some(AlertKind::CollarOffline));
        assert_eq!(rule.went_offline(), None);
        rule.came_back();
        assert_eq!(rule.went_offline(), Some(AlertKind::CollarOffline));
    }

    fn fix(inside: bool, distance: f64, acc: f64) -> FixPlacement {
        FixPlacement {
            inside,
            distance_to_boundary_m: distance,
            acc_m: acc,
        }
    }

    #[test]
    fn the_first_fix_sets_membership_without_a_crossing() {
        let mut fence = FenceTracker::default();
        assert_eq!(fence.observe(fix(false, 500.0, 5.0)), None);
        assert!(!fence.is_inside());
    }

    #[test]
    fn a_fix_clearly_outside_exits_at_once() {
        let mut fence = FenceTracker::default();
        fence.observe(fix(true, 100.0, 5.0));
        assert_eq!(fence.observe(fix(false, 30.0, 5.0)), Some(Crossing::Exited));
        assert_eq!(fence.observe(fix(false, 60.0, 5.0)), None);
    }

    #[test]
    fn jitter_within_accuracy_does_not_flap() {
        let mut fence = FenceTracker::default();
        fence.observe(fix(true, 100.0, 5.0));
        for _ in 0..10 {
            assert_eq!(fence.observe(fix(false, 4.0, 10.0)), None);
            assert_eq!(fence.observe(fix(true, 3.0, 10.0)), None);
        }
        assert!(fence.is_inside());
    }

    #[test]
    fn two_fixes_in_a_row_outside_confirm_an_exit_within_accuracy() {
        let mut fence = FenceTracker::default();
        fence.observe(fix(true, 100.0, 5.0));
        assert_eq!(fence.observe(fix(false, 4.0, 10.0)), None);
        assert_eq!(fence.observe(fix(false, 6.0, 10.0)), Some(Crossing::Exited));
        assert_eq!(fence.observe(fix(true, 2.0, 10.0)), None);
        assert_eq!(fence.observe(fix(true, 3.0, 10.0)), Some(Crossing::Entered));
    }
}
