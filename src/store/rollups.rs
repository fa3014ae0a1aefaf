//! Roll-ups in PostgreSQL: a pet's figures per quarter hour (`pet_stats_quarter`, read hourly
//! through the `pet_stats_hourly` view), and the hours marked for recomputation
//! (`rollup_dirty`).

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::stats::{Figures, HOUR_MS};
use crate::ids::PetId;

/// An hour marked for recomputation, with the mark's version when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyHour {
    pub pet: PetId,
    /// The hour's first millisecond.
    pub hour_ms: i64,
    pub version: i64,
}

/// The recomputed quarters of one pet over a span of whole dirty hours.
pub struct Recomputed {
    pub pet: PetId,
    /// Every quarter in it is replaced: those absent from `quarters` are deleted.
    pub span: Range<i64>,
    pub quarters: BTreeMap<i64, Figures>,
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Marks `(pet, hour)` pairs (hour in epoch ms) stale, in one statement; a mark that exists
/// already gets a new version, so a pass that read the old one leaves it set. Marks are
/// written in key order, so concurrent batches never wait on each other in a cycle.
pub async fn mark_dirty(pg: &PgPool, mut marks: Vec<(PetId, i64)>) -> Result<(), sqlx::Error> {
    marks.sort_unstable();
    marks.dedup();
    if marks.is_empty() {
        return Ok(());
    }
    let pets: Vec<Uuid> = marks.iter().map(|(p, _)| p.0).collect();
    let hours: Vec<DateTime<Utc>> = marks.iter().map(|(_, h)| instant(*h)).collect();
    sqlx::query(
        "INSERT INTO rollup_dirty (pet_id, hour) SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[])
         ON CONFLICT (pet_id, hour) DO UPDATE
         SET version = rollup_dirty.version + 1, marked_at = now()",
    )
    .bind(pets)
    .bind(hours)
    .execute(pg)
    .await?;
    Ok(())
}

/// Marks every hour of `from..to` stale for each of `pets`.
pub async fn mark_range_dirty(
    pg: &PgPool,
    pets: &[PetId],
    from: i64,
    to: i64,
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = pets.iter().map(|p| p.0).collect();
    let first = from.div_euclid(HOUR_MS) * HOUR_MS;
    sqlx::query(
        "INSERT INTO rollup_dirty (pet_id, hour)
         SELECT p, h FROM UNNEST($1::uuid[]) p,
              generate_series($2::timestamptz, $3::timestamptz - interval '1 millisecond', interval '1 hour') h
         ON CONFLICT (pet_id, hour) DO UPDATE
         SET version = rollup_dirty.version + 1, marked_at = now()",
    )
    .bind(ids)
    .bind(instant(first))
    .bind(instant(to))
    .execute(pg)
    .await?;
    Ok(())
}

/// Drops the marks of pets that no longer exist; returns how many.
pub async fn drop_orphan_marks(pg: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM rollup_dirty d WHERE NOT EXISTS (SELECT 1 FROM pets p WHERE p.id = d.pet_id)",
    )
    .execute(pg)
    .await?;
    Ok(done.rows_affected())
}

/// Up to `limit` marks set before `marked_before`, in `(pet, hour)` order after `after`.
pub async fn claim(
    pg: &PgPool,
    after: Option<(PetId, i64)>,
    marked_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DirtyHour>, sqlx::Error> {
    // No mark is older than 1970 (collars send epoch milliseconds, never negative).
    let (pet, hour) = after.map_or((Uuid::nil(), instant(-1)), |(p, h)| (p.0, instant(h)));
    let rows: Vec<(Uuid, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT pet_id, hour, version FROM rollup_dirty
         WHERE marked_at <= $1 AND (pet_id, hour) > ($2, $3)
         ORDER BY pet_id, hour LIMIT $4",
    )
    .bind(marked_before)
    .bind(pet)
    .bind(hour)
    .bind(limit)
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(pet, hour, version)| DirtyHour {
            pet: PetId(pet),
            hour_ms: hour.timestamp_millis(),
            version,
        })
        .collect())
}

/// In one transaction: replaces the quarters of each recomputed span and clears the marks
/// `done`, each only if no one marked it again since it was claimed.
pub async fn store(
    pg: &PgPool,
    recomputed: &[Recomputed],
    done: &[DirtyHour],
) -> Result<(), sqlx::Error> {
    let mut tx = pg.begin().await?;
    let pets: Vec<Uuid> = recomputed.iter().map(|r| r.pet.0).collect();
    let starts: Vec<DateTime<Utc>> = recomputed.iter().map(|r| instant(r.span.start)).collect();
    let ends: Vec<DateTime<Utc>> = recomputed.iter().map(|r| instant(r.span.end)).collect();
    sqlx::query(
        "DELETE FROM pet_stats_quarter q USING UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[]) r(p, s, e)
         WHERE q.pet_id = r.p AND q.start_at >= r.s AND q.start_at < r.e",
    )
    .bind(pets)
    .bind(starts)
    .bind(ends)
    .execute(&mut *tx)
    .await?;
    insert_quarters(&mut tx, recomputed).await?;
    let pets: Vec<Uuid> = done.iter().map(|d| d.pet.0).collect();
    let hours: Vec<DateTime<Utc>> = done.iter().map(|d| instant(d.hour_ms)).collect();
    let versions: Vec<i64> = done.iter().map(|d| d.version).collect();
    sqlx::query(
        "DELETE FROM rollup_dirty d USING UNNEST($1::uuid[], $2::timestamptz[], $3::bigint[]) c(p, h, v)
         WHERE d.pet_id = c.p AND d.hour = c.h AND d.version = c.v",
    )
    .bind(pets)
    .bind(hours)
    .bind(versions)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

async fn insert_quarters(
    tx: &mut sqlx::PgConnection,
    recomputed: &[Recomputed],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(Uuid, i64, &Figures)> = recomputed
        .iter()
        .flat_map(|r| {
            r.quarters
                .iter()
                .map(move |(start, f)| (r.pet.0, *start, f))
        })
        .filter(|(_, _, f)| !f.is_empty())
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let column = |get: fn(&Figures) -> i64| rows.iter().map(|r| get(r.2)).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO pet_stats_quarter (pet_id, start_at, samples, hr_min, hr_max, hr_sum, hr_count,
                                        steps, distance_m, active_ms, rest_ms, sleep_ms)
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::bigint[], $4::int[], $5::int[],
                              $6::bigint[], $7::bigint[], $8::bigint[], $9::float8[], $10::bigint[],
                              $11::bigint[], $12::bigint[]) AS u(pet, s, n, hmin, hmax, hsum, hcount, st, d, a, r, sl)
         WHERE EXISTS (SELECT 1 FROM pets WHERE pets.id = u.pet)",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| instant(r.1)).collect::<Vec<_>>())
    .bind(column(|f| f.samples))
    .bind(rows.iter().map(|r| r.2.hr_min).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.hr_max).collect::<Vec<_>>())
    .bind(column(|f| f.hr_sum))
    .bind(column(|f| f.hr_count))
    .bind(column(|f| f.steps))
    .bind(rows.iter().map(|r| r.2.distance_m).collect::<Vec<_>>())
    .bind(column(|f| f.active_ms))
    .bind(column(|f| f.rest_ms))
    .bind(column(|f| f.sleep_ms))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// True when no hour of the UTC day `day` waits for recomputation: its roll-ups are complete,
/// so its raw samples may leave the hot store.
pub async fn day_settled(pg: &PgPool, pet: PetId, day: NaiveDate) -> Result<bool, sqlx::Error> {
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let (dirty,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM rollup_dirty
                        WHERE pet_id = $1 AND hour >= $2 AND hour < $2 + interval '1 day')",
    )
    .bind(pet.0)
    .bind(start)
    .fetch_one(pg)
    .await?;
    Ok(!dirty)
}

/// The pet's figures summed between consecutive `edges` (epoch ms, ascending), for each span
/// that holds at least one sample: `(span's first millisecond, figures)`, oldest first.
pub async fn buckets(
    pg: &PgPool,
    pet: PetId,
    edges: &[i64],
) -> Result<Vec<(i64, Figures)>, sqlx::Error> {
    let (Some(&first), Some(&last)) = (edges.first(), edges.last()) else {
        return Ok(Vec::new());
    };
    type Row = (
        i32,
        i64,
        Option<i32>,
        Option<i32>,
        i64,
        i64,
        i64,
        f64,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT width_bucket(start_at, $2::timestamptz[]), sum(samples)::bigint, min(hr_min),
                max(hr_max), sum(hr_sum)::bigint, sum(hr_count)::bigint, sum(steps)::bigint,
                sum(distance_m), sum(active_ms)::bigint, sum(rest_ms)::bigint, sum(sleep_ms)::bigint
         FROM pet_stats_quarter
         WHERE pet_id = $1 AND start_at >= $3 AND start_at < $4
         GROUP BY 1 HAVING sum(samples) > 0 ORDER BY 1",
    )
    .bind(pet.0)
    .bind(edges.iter().map(|&e| instant(e)).collect::<Vec<_>>())
    .bind(instant(first))
    .bind(instant(last))
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let start = *edges.get(usize::try_from(r.0).ok()?.checked_sub(1)?)?;
            let figures = Figures {
                samples: r.1,
                hr_min: r.2,
                hr_max: r.3,
                hr_sum: r.4,
                hr_count: r.5,
                steps: r.6,
                distance_m: r.7,
                active_ms: r.8,
                rest_ms: r.9,
                sleep_ms: r.10,
            };
            Some((start, figures))
        })
        .collect())
}
