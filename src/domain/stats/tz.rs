//! Bucket boundaries of a range: UTC hours, or calendar days in an IANA zone (23 or 25 hours
//! long on a daylight-saving change, and starting at whatever instant the zone's clocks first
//! show that date when midnight is skipped).

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::HOUR_MS;

/// How figures are grouped for a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// UTC hours.
    Hour,
    /// Calendar days in the zone.
    Day(Tz),
}

/// The boundaries of every bucket that overlaps `from..to` (epoch ms, `from < to`): the first
/// millisecond of each, then the end of the last. Hours and days are whole, not clipped.
pub fn boundaries(grouping: Grouping, from: i64, to: i64) -> Vec<i64> {
    match grouping {
        Grouping::Hour => {
            let first = from.div_euclid(HOUR_MS) * HOUR_MS;
            let mut edges: Vec<i64> = (0..)
                .map(|h| first + h * HOUR_MS)
                .take_while(|&e| e < to)
                .collect();
            edges.push(edges.last().map_or(first, |&e| e) + HOUR_MS);
            edges
        }
        Grouping::Day(zone) => {
            let mut date = local_date(zone, from);
            let mut edges = vec![day_start(zone, date)];
            loop {
                date = date + Days::new(1);
                let next = day_start(zone, date);
                edges.push(next);
                if next >= to {
                    break edges;
                }
            }
        }
    }
}

/// The calendar date in `zone` at the instant `ms`.
fn local_date(zone: Tz, ms: i64) -> NaiveDate {
    let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    utc.with_timezone(&zone).date_naive()
}

/// The first instant (epoch ms) whose local date in `zone` is `date`: local midnight, or the
/// first time after it that exists when the clocks skip midnight.
pub fn day_start(zone: Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_time(NaiveTime::MIN);
    // Clocks never skip more than a few hours; a quarter-hour step finds the first local time.
    (0..=4 * 24)
        .map(|q| midnight + chrono::Duration::minutes(15 * q))
        .find_map(|local| zone.from_local_datetime(&local).earliest())
        .map_or_else(
            || midnight.and_utc().timestamp_millis(),
            |at| at.timestamp_millis(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn a_berlin_spring_forward_day_has_23_hours_and_an_autumn_one_25() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let spring = boundaries(
            Grouping::Day(berlin),
            ms("2026-03-29T00:30:00+01:00"),
            ms("2026-03-29T12:00:00+02:00"),
        );
        assert_eq!(
            spring,
            vec![
                ms("2026-03-29T00:00:00+01:00"),
                ms("2026-03-30T00:00:00+02:00")
            ]
        );
        assert_eq!(spring[1] - spring[0], 23 * HOUR_MS);
        let autumn = boundaries(
            Grouping::Day(berlin),
            ms("2026-10-25T10:00:00+01:00"),
            ms("2026-10-25T11:00:00+01:00"),
        );
        assert_eq!(autumn[1] - autumn[0], 25 * HOUR_MS);
    }

    #[test]
    fn a_kolkata_day_starts_at_half_past_six_the_evening_before_in_utc() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let days = boundaries(
            Grouping::Day(kolkata),
            ms("2026-06-01T00:00:00Z"),
            ms("2026-06-02T00:00:00Z"),
        );
        assert_eq!(days[0], ms("2026-05-31T18:30:00Z"));
        assert_eq!(
            days.len(),
            3,
            "two local days overlap one UTC day: {days:?}"
        );
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_one_oclock() {
        // Chile springs forward at 24:00 on the first Saturday of September.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(day_start(santiago, date), ms("2026-09-06T01:00:00-03:00"));
    }

    #[test]
    fn hours_cover_the_range_whole() {
        let edges = boundaries(Grouping::Hour, 90 * 60_000, 3 * HOUR_MS);
        assert_eq!(edges, vec![HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS]);
    }

    /// The claim the quarter-hour buckets rest on: every zone's offset, sampled every 3 days
    /// from 1980 to 2040, is a whole number of quarter hours (an offset that lasted less than
    /// three days could slip through; none is known to).
    #[test]
    fn every_zone_offset_since_1980_is_a_whole_number_of_quarter_hours() {
        use chrono::Offset;
        let (start, end) = (ms("1980-01-01T00:00:00Z"), ms("2040-01-01T00:00:00Z"));
        for zone in chrono_tz::TZ_VARIANTS {
            let mut at = start;
            while at < end {
                let utc = DateTime::<Utc>::from_timestamp_millis(at).unwrap();
                let offset = zone
                    .offset_from_utc_datetime(&utc.naive_utc())
                    .fix()
                    .local_minus_utc();
                assert_eq!(offset % (15 * 60), 0, "{zone} at {utc}: offset {offset} s");
                at += 72 * HOUR_MS;
            }
        }
    }
}
