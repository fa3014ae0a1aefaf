//! A range of history as pieces: stretches that are only in MongoDB (streamed from a cursor)
//! and UTC days with archived objects (read whole and merged with what of them is hot).

use std::collections::HashSet;

use chrono::NaiveDate;
use futures_util::stream::{self, BoxStream};
use futures_util::{future, StreamExt as _, TryStreamExt as _};
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};

use super::{decode, from_archived, History, HistoryError, HISTORY_BATCH, MAX_READ_SAMPLES};
use crate::domain::sample::Sample;
use crate::ids::PetId;
use crate::migrate::TELEMETRY_COLLECTION;
use crate::store::archive::{self, Segment};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// One piece of a range, `from..=to` in epoch ms.
#[derive(Debug)]
pub(super) struct Piece {
    from: i64,
    to: i64,
    /// The archived objects of the piece's day; empty for a stretch only MongoDB holds.
    archived: Vec<Segment>,
}

/// Splits `from..=to` at the UTC days that have archived objects (`segments`, by day).
pub(super) fn plan(from: i64, to: i64, segments: Vec<Segment>) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut at = from;
    let mut segments = segments.into_iter().peekable();
    while let Some(first) = segments.next() {
        let day = first.day;
        let mut archived = vec![first];
        while let Some(next) = segments.next_if(|s| s.day == day) {
            archived.push(next);
        }
        let start = day_start(day).max(from);
        let end = (day_start(day) + DAY_MS - 1).min(to);
        if start > end || end < at {
            continue;
        }
        if at < start {
            pieces.push(hot(at, start - 1));
        }
        pieces.push(Piece {
            from: start.max(at),
            to: end,
            archived,
        });
        at = end + 1;
    }
    if at <= to {
        pieces.push(hot(at, to));
    }
    pieces
}

fn hot(from: i64, to: i64) -> Piece {
    Piece {
        from,
        to,
        archived: Vec::new(),
    }
}

fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |at| at.and_utc().timestamp_millis())
}

/// The samples of one piece, in `(ts, seq)` order, each `(serial, seq)` once.
pub(super) async fn read_piece(
    history: History,
    pet: PetId,
    piece: Piece,
    only_fixes: bool,
) -> Result<BoxStream<'static, Result<Sample, HistoryError>>, HistoryError> {
    let cursor = history
        .mongo
        .collection::<Document>(TELEMETRY_COLLECTION)
        .find(hot_filter(pet, piece.from, piece.to, only_fixes))
        .sort(doc! { "at": 1, "seq": 1 })
        .batch_size(HISTORY_BATCH)
        .await?;
    let hot = cursor
        .map_err(HistoryError::from)
        .try_filter_map(|doc| future::ready(Ok(decode(&doc))));
    if piece.archived.is_empty() {
        let mut once = OncePerSample::default();
        return Ok(hot
            .try_filter_map(move |(serial, sample)| future::ready(Ok(once.first(serial, sample))))
            .boxed());
    }
    // A day with archived objects: at most a day of this pet in all, read whole.
    let mut day: Vec<(String, Sample)> = hot.take(MAX_READ_SAMPLES + 1).try_collect().await?;
    for segment in &piece.archived {
        for line in archive::read_object(&history.s3, &history.bucket, &segment.key).await? {
            let (serial, sample) = from_archived(line);
            if (piece.from..=piece.to).contains(&sample.ts_ms)
                && (!only_fixes || sample.fix.is_some())
            {
                day.push((serial, sample));
            }
        }
        if day.len() > MAX_READ_SAMPLES {
            return Err(HistoryError::TooMany {
                from: piece.from,
                to: piece.to,
            });
        }
    }
    day.sort_by(|(a, x), (b, y)| (x.ts_ms, x.seq, a).cmp(&(y.ts_ms, y.seq, b)));
    let mut once = OncePerSample::default();
    let merged: Vec<Sample> = day
        .into_iter()
        .filter_map(|(serial, sample)| once.first(serial, sample))
        .collect();
    Ok(stream::iter(merged.into_iter().map(Ok)).boxed())
}

/// The pet's hot samples from `from` to `to`, both included.
fn hot_filter(pet: PetId, from: i64, to: i64, only_fixes: bool) -> Document {
    let mut filter = doc! {
        "meta.pet": pet.to_string(),
        "at": { "$gte": BsonDateTime::from_millis(from), "$lte": BsonDateTime::from_millis(to) },
    };
    if only_fixes {
        filter.insert("lat", doc! { "$exists": true });
    }
    filter
}

/// Lets each `(serial, seq)` through once. A repeat has the same `ts` as its first copy, so
/// in `(ts, seq)` order only the identities of the current instant need remembering.
#[derive(Default)]
pub(super) struct OncePerSample {
    at_ms: Option<i64>,
    seen: HashSet<(String, u64)>,
}

impl OncePerSample {
    pub(super) fn first(&mut self, serial: String, sample: Sample) -> Option<Sample> {
        if self.at_ms != Some(sample.ts_ms) {
            self.at_ms = Some(sample.ts_ms);
            self.seen.clear();
        }
        self.seen.insert((serial, sample.seq)).then_some(sample)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

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

    #[test]
    fn a_sample_stored_twice_is_read_once_and_only_the_current_instant_is_remembered() {
        let mut once = OncePerSample::default();
        let read: Vec<i64> = [("A", 1, 1_000), ("A", 1, 1_000), ("B", 1, 1_000)]
            .into_iter()
            .chain((2..1_000).map(|seq| ("A", seq, seq as i64 * 1_000)))
            .filter_map(|(serial, seq, at)| once.first(serial.into(), sample(seq, at)))
            .map(|s| s.ts_ms)
            .collect();
        assert_eq!(&read[..3], &[1_000, 1_000, 2_000]);
        assert_eq!(read.len(), 1_000);
        assert_eq!(once.seen.len(), 1);
    }

    fn segment(day: u32) -> Segment {
        let day = NaiveDate::from_ymd_opt(2026, 10, day).expect("a date");
        let at = DateTime::<Utc>::from_timestamp_millis(day_start(day)).expect("a time");
        Segment {
            serial: "SN-1".into(),
            pet_id: None,
            day,
            part: 0,
            key: format!("k{day}"),
            count: 1,
            first_ts: at,
            last_ts: at,
            sha256: String::new(),
            bytes: 1,
            state: "deleted".into(),
            fixes: None,
        }
    }

    #[test]
    fn a_range_is_hot_stretches_around_whole_archived_days() {
        let day = |d| day_start(NaiveDate::from_ymd_opt(2026, 10, d).expect("a date"));
        let (from, to) = (day(1) + 5, day(6) + 7);
        let mut two_parts = vec![segment(2), segment(2), segment(4)];
        two_parts[1].part = 1;
        let pieces = plan(from, to, two_parts);
        let shape: Vec<(i64, i64, usize)> = pieces
            .iter()
            .map(|p| (p.from, p.to, p.archived.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (from, day(2) - 1, 0),
                (day(2), day(3) - 1, 2),
                (day(3), day(4) - 1, 0),
                (day(4), day(5) - 1, 1),
                (day(5), to, 0),
            ]
        );
        let clipped = plan(day(2) + 10, day(2) + 20, vec![segment(2)]);
        assert_eq!((clipped[0].from, clipped[0].to), (day(2) + 10, day(2) + 20));
        assert_eq!(clipped.len(), 1);
    }
}
