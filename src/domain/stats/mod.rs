//! A pet's statistics (the HTTP API's *Statistics*), as pure functions over its stored
//! samples: the figures of each 15-minute bucket of a window, and the hours a stored sample
//! can change.
//!
//! Buckets are quarters of an hour because every UTC offset in the time zone database since
//! 1980 is a whole number of quarters (`+05:30` Asia/Kolkata, `+05:45` Asia/Kathmandu,
//! `+12:45` Pacific/Chatham; the last odd one, `-10:40` of Pacific/Kiritimati, ended in
//! October 1979, and the `tz` module's tests check every zone), so a calendar day in any zone
//! is a whole number of quarters and its figures are sums of stored quarters, exactly.
//! (Collars report no samples older than 30 days, so older offsets never meet a sample.)
//!
//! - `tz`: day and hour boundaries of a range in a zone.

pub mod tz;

use std::collections::BTreeMap;
use std::ops::Range;

use geo::{Distance, Haversine, Point};

use super::sample::{Activity, Sample};

/// Length of a stored bucket: a quarter of an hour, in milliseconds.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;
/// An hour in milliseconds: the unit that ingest marks dirty.
pub const HOUR_MS: i64 = 3600 * 1000;
/// The collar's normal reporting interval (collar protocol: `set_interval`, 300 s).
pub const NORMAL_INTERVAL_MS: i64 = 300 * 1000;
/// Longest a sample's `act` lasts: 2 × the normal interval; a longer gap is unknown time.
pub const MAX_ACT_MS: i64 = 2 * NORMAL_INTERVAL_MS;
/// The last millisecond of the year 9999: the latest instant a range may name.
pub const LATEST_MS: i64 = 253_402_300_799_999;
/// Fixes less accurate than this (metres) take no part in distance.
pub const MAX_DISTANCE_ACC_M: f64 = 50.0;

/// The figures of one bucket, in the units they are stored in (sums, not averages, so that
/// buckets add up to hours and days).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub samples: i64,
    pub hr_min: Option<i32>,
    pub hr_max: Option<i32>,
    pub hr_sum: i64,
    pub hr_count: i64,
    pub steps: i64,
    pub distance_m: f64,
    pub active_ms: i64,
    pub rest_ms: i64,
    pub sleep_ms: i64,
}

impl Figures {
    fn add_sample(&mut self, sample: &Sample) {
        self.samples += 1;
        if let Some(hr) = sample.hr.map(i32::from) {
            self.hr_min = Some(self.hr_min.map_or(hr, |m| m.min(hr)));
            self.hr_max = Some(self.hr_max.map_or(hr, |m| m.max(hr)));
            self.hr_sum += i64::from(hr);
            self.hr_count += 1;
        }
        self.steps += sample.steps.map_or(0, i64::from);
    }

    fn add_activity(&mut self, act: Activity, ms: i64) {
        match act {
            Activity::Walk | Activity::Run | Activity::Play => self.active_ms += ms,
            Activity::Rest => self.rest_ms += ms,
            Activity::Sleep => self.sleep_ms += ms,
        }
    }

    /// True when the bucket has anything to show or store.
    pub fn is_empty(&self) -> bool {
        *self == Figures::default()
    }
}

/// The first millisecond of the bucket holding `ts_ms`.
pub fn bucket_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(BUCKET_MS) * BUCKET_MS
}

/// The first millisecond of the UTC hour holding `ts_ms`.
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// The hours whose figures a sample stored at `ts_ms` can change: its own, the one its `act`
/// can last into, and the one of the sample before it, whose `act` it may cut short.
pub fn hours_touched(ts_ms: i64) -> impl Iterator<Item = i64> {
    let (before, own, after) = (
        hour_of(ts_ms - MAX_ACT_MS),
        hour_of(ts_ms),
        hour_of(ts_ms + MAX_ACT_MS),
    );
    [
        Some(before),
        (own != before).then_some(own),
        (after != own).then_some(after),
    ]
    .into_iter()
    .flatten()
}

/// The figures of every bucket of `window` (bucket-aligned) that a sample touches, keyed by
/// the bucket's first millisecond.
///
/// `samples` are the pet's stored samples in `(ts, seq)` order, each `(serial, seq)` once:
/// those in the window, the ones up to [`MAX_ACT_MS`] before it (whose `act` may last into
/// it), the first after it (which ends the last one's `act`), and the last usable fix before
/// it (which pairs with the window's first fix). Samples outside the window are context: only
/// what they contribute inside the window counts.
pub fn figures(window: Range<i64>, samples: &[Sample]) -> BTreeMap<i64, Figures> {
    let mut buckets: BTreeMap<i64, Figures> = BTreeMap::new();
    let mut previous_fix: Option<Point<f64>> = None;
    for (i, sample) in samples.iter().enumerate() {
        if window.contains(&sample.ts_ms) {
            buckets
                .entry(bucket_of(sample.ts_ms))
                .or_default()
                .add_sample(sample);
        }
        if let Some(act) = sample.act {
            let next = samples.get(i + 1).map(|s| s.ts_ms);
            let end = next.map_or(sample.ts_ms + MAX_ACT_MS, |next| {
                next.min(sample.ts_ms + MAX_ACT_MS)
            });
            split_duration(&mut buckets, &window, sample.ts_ms..end, act);
        }
        if let Some(point) = usable_fix(sample) {
            if let Some(from) = previous_fix {
                if window.contains(&sample.ts_ms) {
                    buckets
                        .entry(bucket_of(sample.ts_ms))
                        .or_default()
                        .distance_m += Haversine.distance(from, point);
                }
            }
            previous_fix = Some(point);
        }
    }
    buckets
}

/// The sample's position when it may take part in distance (accuracy absent or ≤ 50 m).
pub fn usable_fix(sample: &Sample) -> Option<Point<f64>> {
    let fix = sample.fix?;
    fix.acc
        .is_none_or(|acc| acc <= MAX_DISTANCE_ACC_M)
        .then(|| Point::new(fix.lon, fix.lat))
}

/// Adds `span` of `act`, clipped to the window, to each bucket it crosses, so that every
/// bucket's milliseconds are exact.
fn split_duration(
    buckets: &mut BTreeMap<i64, Figures>,
    window: &Range<i64>,
    span: Range<i64>,
    act: Activity,
) {
    let mut at = span.start.max(window.start);
    let end = span.end.min(window.end);
    while at < end {
        let bucket = bucket_of(at);
        let until = (bucket + BUCKET_MS).min(end);
        buckets
            .entry(bucket)
            .or_default()
            .add_activity(act, until - at);
        at = until;
    }
}

/// `hr_sum / hr_count` rounded to one decimal; `None` without heart-rate samples.
pub fn hr_avg(hr_sum: i64, hr_count: i64) -> Option<f64> {
    (hr_count > 0).then(|| (hr_sum as f64 / hr_count as f64 * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests;
