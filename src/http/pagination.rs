//! Cursor pagination: `?limit=` (default 20, at most 100) and an opaque `?cursor=` that
//! points after the last item of the previous page (its creation time and id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::error::ApiError;

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;
/// The year 9999: later than any row, earlier than PostgreSQL's limit.
const FAR_FUTURE: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(at) => at,
    None => DateTime::<Utc>::UNIX_EPOCH,
};

/// The query parameters of a list route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(value_type = String, required = false)]
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: u32,
    /// Items strictly after this `(created_at, id)` key, in ascending order.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl TryFrom<PageQuery> for Page {
    type Error = ApiError;

    fn try_from(query: PageQuery) -> Result<Self, ApiError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 100"));
        }
        let after = query.cursor.as_deref().map(decode).transpose()?;
        Ok(Self { limit, after })
    }
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

fn decode(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let invalid = || ApiError::field("cursor", "is not a cursor this server issued");
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
