//! Hand-computed fixtures: one degree of longitude on the equator is
//! 6 371 008.8 m × π / 180 = 111 195.08 m (geo's Haversine, mean Earth radius).

use super::*;
use crate::domain::sample::Fix;

const METRES_PER_MILLIDEGREE: f64 = 111.195_08;

fn sample(seq: u64, ts_ms: i64) -> Sample {
    Sample {
        seq,
        ts_ms,
        fix: None,
        hr: None,
        steps: None,
        act: None,
        bat: None,
        temp: None,
    }
}

fn at(mut s: Sample, lon: f64, acc: Option<f64>) -> Sample {
    s.fix = Some(Fix { lat: 0.0, lon, acc });
    s
}

fn doing(mut s: Sample, act: Activity) -> Sample {
    s.act = Some(act);
    s
}

const MIN: i64 = 60_000;

/// Four samples in the first hour: a fix with a bad accuracy, a gap longer than 2 × the
/// interval, and a last sample with nothing after it.
fn first_hour() -> Vec<Sample> {
    let mut one = doing(at(sample(1, 0), 0.0, Some(5.0)), Activity::Walk);
    one.hr = Some(80);
    one.steps = Some(10);
    let mut two = doing(at(sample(2, 5 * MIN), 0.001, Some(10.0)), Activity::Rest);
    two.hr = Some(100);
    two.steps = Some(20);
    let three = doing(at(sample(3, 10 * MIN), 0.002, Some(200.0)), Activity::Sleep);
    let four = doing(at(sample(4, 40 * MIN), 0.003, None), Activity::Play);
    vec![one, two, three, four]
}

#[test]
fn heart_rate_steps_and_samples_are_summed_per_quarter() {
    let buckets = figures(0..HOUR_MS, &first_hour());
    let first = &buckets[&0];
    assert_eq!(first.samples, 3);
    assert_eq!((first.hr_min, first.hr_max), (Some(80), Some(100)));
    assert_eq!((first.hr_sum, first.hr_count), (180, 2));
    assert_eq!(first.steps, 30);
    assert_eq!(buckets[&(30 * MIN)].samples, 1);
    assert_eq!(buckets[&(30 * MIN)].hr_min, None);
}

#[test]
fn distance_skips_inaccurate_fixes_and_counts_a_pair_in_its_later_fixs_bucket() {
    let buckets = figures(0..HOUR_MS, &first_hour());
    assert!((buckets[&0].distance_m - METRES_PER_MILLIDEGREE).abs() < 0.01);
    // 0.001 → 0.003: the 200 m fix between them is left out.
    assert!((buckets[&(30 * MIN)].distance_m - 2.0 * METRES_PER_MILLIDEGREE).abs() < 0.01);
    assert_eq!(buckets[&(15 * MIN)].distance_m, 0.0);
}

#[test]
fn an_activity_lasts_until_the_next_sample_at_most_ten_minutes_split_at_quarter_boundaries() {
    let buckets = figures(0..HOUR_MS, &first_hour());
    let first = &buckets[&0];
    assert_eq!(
        (first.active_ms, first.rest_ms, first.sleep_ms),
        (5 * MIN, 5 * MIN, 5 * MIN)
    );
    // Sleep from 10:00 is cut at 20:00 (next sample at 40:00): 5 minutes in each quarter.
    assert_eq!(buckets[&(15 * MIN)].sleep_ms, 5 * MIN);
    assert_eq!(buckets[&(15 * MIN)].samples, 0);
    // Play from 40:00 with nothing after: 10 minutes, over two quarters.
    assert_eq!(buckets[&(30 * MIN)].active_ms, 5 * MIN);
    assert_eq!(buckets[&(45 * MIN)].active_ms, 5 * MIN);
    let total: i64 = buckets
        .values()
        .map(|b| b.active_ms + b.rest_ms + b.sleep_ms)
        .sum();
    assert_eq!(total, 5 * MIN + 5 * MIN + 10 * MIN + 10 * MIN);
}

#[test]
fn context_outside_the_window_contributes_only_what_falls_inside_it() {
    let window = HOUR_MS..2 * HOUR_MS;
    let old_fix = at(sample(1, 0), 0.0, None);
    let before = doing(sample(2, HOUR_MS - 8 * MIN), Activity::Rest);
    let mut inside = doing(at(sample(3, HOUR_MS + 2 * MIN), 0.001, None), Activity::Run);
    inside.steps = Some(7);
    let mut last = doing(sample(4, 2 * HOUR_MS - MIN), Activity::Walk);
    last.hr = Some(90);
    let after = sample(5, 2 * HOUR_MS + 3 * MIN);
    let buckets = figures(window, &[old_fix, before, inside, last, after]);
    let first = &buckets[&HOUR_MS];
    assert_eq!(first.samples, 1, "context samples are not counted");
    assert_eq!(
        first.rest_ms,
        2 * MIN,
        "the rest before the window lasts into it"
    );
    assert_eq!(first.steps, 7);
    assert!(
        (first.distance_m - METRES_PER_MILLIDEGREE).abs() < 0.01,
        "pairs with the fix before"
    );
    // The walk at 59:00 ends at the window's end, not at the next sample.
    let last_quarter = &buckets[&(HOUR_MS + 45 * MIN)];
    assert_eq!((last_quarter.active_ms, last_quarter.samples), (MIN, 1));
    assert_eq!(buckets.keys().filter(|&&b| b >= 2 * HOUR_MS).count(), 0);
}

#[test]
fn two_samples_at_the_same_instant_give_the_first_no_time() {
    let one = doing(sample(1, 0), Activity::Sleep);
    let two = doing(sample(2, 0), Activity::Walk);
    let buckets = figures(0..HOUR_MS, &[one, two]);
    assert_eq!((buckets[&0].sleep_ms, buckets[&0].active_ms), (0, 10 * MIN));
}

#[test]
fn a_sample_touches_its_hour_and_those_within_ten_minutes() {
    let touched: Vec<i64> = hours_touched(HOUR_MS + MIN).collect();
    assert_eq!(touched, vec![0, HOUR_MS]);
    let touched: Vec<i64> = hours_touched(HOUR_MS + 30 * MIN).collect();
    assert_eq!(touched, vec![HOUR_MS]);
    let touched: Vec<i64> = hours_touched(2 * HOUR_MS - MIN).collect();
    assert_eq!(touched, vec![HOUR_MS, 2 * HOUR_MS]);
}

#[test]
fn the_heart_rate_average_is_rounded_to_one_decimal() {
    assert_eq!(hr_avg(180, 2), Some(90.0));
    assert_eq!(hr_avg(251, 3), Some(83.7));
    assert_eq!(hr_avg(0, 0), None);
}
