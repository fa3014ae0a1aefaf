//! One roll-up pass: under the job's advisory lock, claim the hours marked stale in bounded
//! batches, recompute each contiguous span of a pet's stale hours from its raw samples, and
//! store the quarters and clear the marks in one transaction per batch.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::domain::stats::{self, HOUR_MS, MAX_ACT_MS};
use crate::store::history::{self, History, HistoryError};
use crate::store::locks::{self, Job};
use crate::store::rollups::{self, DirtyHour, Recomputed};

/// Stale hours claimed (and stored in one transaction) at a time.
pub const MAX_CLAIM: i64 = 500;
/// Longest span of a pet's contiguous stale hours read at once: a day, so a backfill or a
/// `rollup --from --to` reads each pet-day in one go (three store queries, not twelve), and one
/// read stays under [`history::MAX_READ_SAMPLES`] at the fastest reporting interval (2 s:
/// 43 200 samples a day).
pub const MAX_SPAN_HOURS: usize = 24;

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Another node held the lock: this node did nothing.
    pub skipped: bool,
    /// Stale hours recomputed.
    pub hours: u64,
    /// Quarters stored.
    pub buckets: u64,
    /// Samples read inside the recomputed hours.
    pub samples: u64,
    /// Spans left stale because they could not be read (retried by the next pass).
    pub failed_spans: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("reading samples: {0}")]
    History(#[from] HistoryError),
}

/// Runs one pass if no other node is running one; logs and counts it.
pub async fn run_pass(history: &History) -> Result<PassReport, PassError> {
    let pg = &history.pg;
    let started = Instant::now();
    let Some(lock) = locks::try_exclusive(pg, Job::Rollup).await? else {
        tracing::debug!("another node holds the roll-up lock; no pass here");
        return Ok(PassReport {
            skipped: true,
            ..PassReport::default()
        });
    };
    let result = recompute_stale(history).await;
    if let Err(error) = lock.release().await {
        tracing::warn!(error = ?error, "releasing the roll-up lock failed; closing its session");
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("pettysync_rollup_seconds").record(seconds);
    match &result {
        Ok(report) => {
            metrics::counter!("pettysync_rollup_passes_total").increment(1);
            metrics::counter!("pettysync_rollup_buckets_total").increment(report.buckets);
            metrics::counter!("pettysync_rollup_samples_total").increment(report.samples);
            metrics::counter!("pettysync_rollup_failures_total").increment(report.failed_spans);
            tracing::info!(
                hours = report.hours,
                buckets = report.buckets,
                samples = report.samples,
                failed_spans = report.failed_spans,
                seconds,
                "roll-up pass"
            );
        }
        Err(error) => {
            metrics::counter!("pettysync_rollup_failures_total").increment(1);
            tracing::warn!(error = ?error, seconds, "roll-up pass failed; the marks stay for the next");
        }
    }
    result
}

/// Recomputes every hour marked stale before the pass began (later marks wait for the next
/// pass, so a busy ingest cannot keep a pass going for ever).
async fn recompute_stale(history: &History) -> Result<PassReport, PassError> {
    let pg = &history.pg;
    rollups::drop_orphan_marks(pg).await?;
    let (began,): (DateTime<Utc>,) = sqlx::query_as("SELECT now()").fetch_one(pg).await?;
    let mut report = PassReport::default();
    let mut after = None;
    loop {
        let claimed = rollups::claim(pg, after, began, MAX_CLAIM).await?;
        let Some(last) = claimed.last() else {
            break Ok(report);
        };
        after = Some((last.pet, last.hour_ms));
        let mut recomputed = Vec::new();
        let mut done = Vec::new();
        for span in spans(&claimed) {
            match recompute(history, span).await {
                Ok((figures, samples)) => {
                    report.hours += span.len() as u64;
                    report.samples += samples;
                    report.buckets +=
                        figures.quarters.values().filter(|f| !f.is_empty()).count() as u64;
                    recomputed.push(figures);
                    done.extend_from_slice(span);
                }
                Err(HistoryError::TooMany { from, to }) => {
                    report.failed_spans += 1;
                    tracing::error!(pet = %span[0].pet, from, to, "too many samples to roll up; left stale");
                }
                Err(error) => return Err(error.into()),
            }
        }
        rollups::store(pg, &recomputed, &done).await?;
    }
}

/// Splits claimed hours (in `(pet, hour)` order) into spans of one pet's consecutive hours,
/// each at most [`MAX_SPAN_HOURS`] long.
pub fn spans(claimed: &[DirtyHour]) -> Vec<&[DirtyHour]> {
    let mut spans = Vec::new();
    let mut start = 0;
    for i in 1..=claimed.len() {
        let ends = i == claimed.len()
            || claimed[i].pet != claimed[i - 1].pet
            || claimed[i].hour_ms != claimed[i - 1].hour_ms + HOUR_MS
            || i - start == MAX_SPAN_HOURS;
        if ends {
            spans.push(&claimed[start..i]);
            start = i;
        }
    }
    spans
}

/// The quarters of one span from the raw samples, and how many samples lie inside it.
async fn recompute(
    history: &History,
    span: &[DirtyHour],
) -> Result<(Recomputed, u64), HistoryError> {
    let pet = span[0].pet;
    let window = span[0].hour_ms..span[span.len() - 1].hour_ms + HOUR_MS;
    let lookback = window.start - MAX_ACT_MS;
    let mut samples =
        history::last_fix_before(history, pet, lookback, |s| stats::usable_fix(s).is_some())
            .await?
            .into_iter()
            .collect::<Vec<_>>();
    samples.extend(history::samples(history, pet, lookback, window.end + MAX_ACT_MS).await?);
    let inside = samples.iter().filter(|s| window.contains(&s.ts_ms)).count() as u64;
    let quarters = stats::figures(window.clone(), &samples);
    Ok((
        Recomputed {
            pet,
            span: window,
            quarters,
        },
        inside,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PetId;

    #[test]
    fn spans_break_at_a_new_pet_a_gap_and_the_longest_span() {
        let (a, b) = (PetId::new(), PetId::new());
        let (a, b) = (a.min(b), a.max(b));
        let mark = |pet, hour: i64| DirtyHour {
            pet,
            hour_ms: hour * HOUR_MS,
            version: 1,
        };
        let longest = MAX_SPAN_HOURS as i64;
        let mut claimed: Vec<DirtyHour> = (0..longest + 2).map(|h| mark(a, h)).collect();
        claimed.push(mark(a, longest + 4));
        claimed.push(mark(b, longest + 5));
        let lengths: Vec<usize> = spans(&claimed).iter().map(|s| s.len()).collect();
        assert_eq!(lengths, vec![MAX_SPAN_HOURS, 2, 1, 1]);
    }
}
