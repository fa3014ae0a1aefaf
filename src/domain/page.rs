//! Cursor pagination, as the queries see it: a page size and the key of the last item of
//! the previous page (its creation time and id), carried between pages as an opaque cursor.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;
/// The year 9999: later than any row, earlier than PostgreSQL's limit.
const FAR_FUTURE: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(at) => at,
    None => DateTime::<Utc>::UNIX_EPOCH,
};

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: u32,
    /// Items strictly after this `(created_at, id)` key, in ascending order.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl Page {
    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Start key for SQL: rows with `(created_at, id) > (after_at, after_id)`.
    pub fn after_at(&self) -> DateTime<Utc> {
        self.after.map_or(DateTime::<Utc>::UNIX_EPOCH, |(at, _)| at)
    }

    pub fn after_id(&self) -> Uuid {
        self.after.map_or(Uuid::nil(), |(_, id)| id)
    }

    /// Start key for newest-first lists: rows with `(created_at, id) < (before_at, before_id)`.
    pub fn before_at(&self) -> DateTime<Utc> {
        // Far enough ahead for any row, and within PostgreSQL's timestamp range.
        self.after
            .map_or(DateTime::<Utc>::MAX_UTC.min(FAR_FUTURE), |(at, _)| at)
    }

    pub fn before_id(&self) -> Uuid {
        self.after.map_or(Uuid::max(), |(_, id)| id)
    }

    /// Cuts the extra row off and makes the response.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Paged<T> {
        let next_cursor = if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            rows.last().map(|row| encode(key(row)))
        } else {
            None
        };
        Paged {
            items: rows,
            next_cursor,
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// The same page with each item turned into its API view.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

fn encode((at, id): (DateTime<Utc>, Uuid)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", at.timestamp_micros(), id))
}

/// A cursor this server did not issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor this server issued")]
pub struct InvalidCursor;

/// The key a cursor points after.
pub fn decode(cursor: &str) -> Result<(DateTime<Utc>, Uuid), InvalidCursor> {
    let invalid = || InvalidCursor;
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    // Issued cursors hold row times, all within these bounds. Outside them PostgreSQL may
    // refuse the time (it stops at 4713 BC, chrono goes further): an error, not a 500.
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .filter(|at| (DateTime::<Utc>::UNIX_EPOCH..=FAR_FUTURE).contains(at))
        .ok_or_else(invalid)?;
    let id = id.parse::<Uuid>().map_err(|_| invalid())?;
    Ok((at, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_to_the_microsecond() {
        let key = (
            DateTime::from_timestamp_micros(1_764_151_500_123_456).unwrap(),
            Uuid::new_v4(),
        );
        assert_eq!(decode(&encode(key)).unwrap(), key);
    }

    #[test]
    fn a_cursor_outside_the_stored_times_is_refused() {
        let id = Uuid::new_v4();
        let cursor = |micros: i64| URL_SAFE_NO_PAD.encode(format!("{micros}:{id}"));
        // Year -251 000: chrono holds it, PostgreSQL does not.
        assert!(decode(&cursor(-8_000_000_000_000_000_000)).is_err());
        assert!(decode(&cursor(-1)).is_err());
        assert!(decode(&cursor(FAR_FUTURE.timestamp_micros() + 1)).is_err());
        assert_eq!(decode(&cursor(0)).unwrap().0, DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(
            decode(&cursor(FAR_FUTURE.timestamp_micros())).unwrap().0,
            FAR_FUTURE
        );
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        assert!(decode("not-base64!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("12:not-a-uuid")).is_err());
    }
}
