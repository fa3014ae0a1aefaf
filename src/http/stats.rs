//! A pet's statistics (`GET /v1/pets/{id}/stats`): UTC hours or calendar days in a zone,
//! summed from the stored quarter-hour roll-ups.

use actix_web::{get, web, HttpResponse};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::domain::stats::tz::{boundaries, Grouping};
use crate::domain::stats::{hr_avg, Figures, LATEST_MS};
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::ids::PetId;
use crate::store::rollups;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Longest range of hourly buckets one request may ask for.
pub const MAX_HOUR_RANGE_MS: i64 = 31 * DAY_MS;
/// Longest range of daily buckets one request may ask for.
pub const MAX_DAY_RANGE_MS: i64 = 366 * DAY_MS;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(pet_stats);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `hour` (UTC hours) or `day` (calendar days in `tz`).
    #[param(value_type = String, required = true, pattern = "^(hour|day)$")]
    pub bucket: Option<String>,
    /// Epoch ms: the first bucket is the one holding this instant.
    #[param(value_type = i64, required = true, minimum = 0, maximum = 253_402_300_799_999_i64)]
    pub from: Option<String>,
    /// Epoch ms, after `from`: the last bucket is the one holding the millisecond before it.
    /// At most 31 days after `from` for `hour`, 366 for `day` (else 422 `range_too_large`).
    #[param(value_type = i64, required = true, minimum = 1, maximum = 253_402_300_799_999_i64)]
    pub to: Option<String>,
    /// An IANA time zone name (default `UTC`); days are calendar days there.
    #[param(value_type = String, required = false)]
    pub tz: Option<String>,
}

/// One bucket's figures.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatsItem {
    /// The bucket's first millisecond.
    pub start: i64,
    pub samples: i64,
    pub hr_min: Option<i32>,
    /// Rounded to one decimal.
    pub hr_avg: Option<f64>,
    pub hr_max: Option<i32>,
    pub steps: i64,
    /// Metres, rounded to one decimal.
    pub distance_m: f64,
    pub active_s: i64,
    pub rest_s: i64,
    pub sleep_s: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// `hour` or `day`.
    pub bucket: &'static str,
    pub tz: String,
    /// Oldest first; only buckets that hold at least one sample.
    pub items: Vec<StatsItem>,
}

/// A request's parts, checked.
struct Asked {
    grouping: Grouping,
    tz: Tz,
    from: i64,
    to: i64,
}

impl TryFrom<&StatsQuery> for Asked {
    type Error = ApiError;

    fn try_from(query: &StatsQuery) -> Result<Self, ApiError> {
        let tz: Tz = match query.tz.as_deref() {
            None => Tz::UTC,
            Some(name) => name.parse().map_err(|_| {
                ApiError::field("tz", "must be an IANA time zone name, e.g. Europe/Berlin")
            })?,
        };
        let (grouping, longest) = match query.bucket.as_deref() {
            Some("hour") => (Grouping::Hour, MAX_HOUR_RANGE_MS),
            Some("day") => (Grouping::Day(tz), MAX_DAY_RANGE_MS),
            _ => return Err(ApiError::field("bucket", "must be hour or day")),
        };
        let instant = |field: &str, raw: Option<&str>| {
            raw.and_then(|raw| raw.parse::<i64>().ok())
                .filter(|at| (0..=LATEST_MS).contains(at))
                .ok_or_else(|| {
                    ApiError::field(field, "required: epoch milliseconds from 1970 to 9999")
                })
        };
        let from = instant("from", query.from.as_deref())?;
        let to = instant("to", query.to.as_deref())?;
        if to <= from {
            return Err(ApiError::field("to", "must be after from"));
        }
        if to - from > longest {
            let days = longest / DAY_MS;
            return Err(ApiError::RangeTooLarge {
                detail: format!(
                    "at most {days} days of {} buckets at once",
                    query.bucket.as_deref().unwrap_or_default()
                ),
            });
        }
        Ok(Self {
            grouping,
            tz,
            from,
            to,
        })
    }
}

/// The pet's roll-ups per hour or per day, oldest first.
#[utoipa::path(get, path = "/v1/pets/{id}/stats", tag = "live", params(("id" = uuid::Uuid, Path, description = "The pet's id."), StatsQuery), security(("bearer" = [])),
    responses((status = 200, body = Stats), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound,
        (status = 422, description = "`validation_failed`: a bad `bucket`, `tz`, `from` or `to` (`errors` names it); `range_too_large`: more than 31 days of hours or 366 days of days", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[get("/v1/pets/{id}/stats")]
async fn pet_stats(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let asked = Asked::try_from(&*query)?;
    let edges = boundaries(asked.grouping, asked.from, asked.to);
    let buckets = rollups::buckets(&pg, pet_id, &edges).await?;
    Ok(HttpResponse::Ok().json(Stats {
        bucket: match asked.grouping {
            Grouping::Hour => "hour",
            Grouping::Day(_) => "day",
        },
        tz: asked.tz.name().to_owned(),
        items: buckets
            .into_iter()
            .map(|(start, f)| item(start, &f))
            .collect(),
    }))
}

fn item(start: i64, f: &Figures) -> StatsItem {
    let seconds = |ms: i64| (ms as f64 / 1000.0).round() as i64;
    StatsItem {
        start,
        samples: f.samples,
        hr_min: f.hr_min,
        hr_avg: hr_avg(f.hr_sum, f.hr_count),
        hr_max: f.hr_max,
        steps: f.steps,
        distance_m: (f.distance_m * 10.0).round() / 10.0,
        active_s: seconds(f.active_ms),
        rest_s: seconds(f.rest_ms),
        sleep_s: seconds(f.sleep_ms),
    }
}
