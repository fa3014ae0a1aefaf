//! A pet's live data over HTTP: its live state, location history, alerts, and commands to
//! its collar.

use actix::Recipient;
use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use futures_util::{Stream, TryStreamExt as _};
use mongodb::bson::doc;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::commands::{CollarCommand, Commands};
use crate::actors::events::{Alert, GetPetState, LiveState};
use crate::actors::Actors;
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::PetId;
use crate::store::history::{self, History, HistoryError};
use crate::store::{alerts, collars};

/// Points a track answers with when the client does not say.
pub const DEFAULT_TRACK_POINTS: u32 = 1000;
/// Most points a track may ask for.
pub const MAX_TRACK_POINTS: u32 = 10_000;
/// Most stored fixes one track reads before downsampling: 30 days at a 3 s interval
/// (864 000), with room. A longer range is answered from its first this-many fixes.
pub const MAX_TRACK_SCAN: usize = 1_000_000;
/// Default span of a track without `from`: the last day.
const DEFAULT_TRACK_SPAN_MS: i64 = 24 * 3600 * 1000;
/// The last millisecond of the year 9999: later `from` and `to` are refused, as are times
/// before 1970, so that no arithmetic on them overflows and every store can hold them.
pub const LATEST_MS: i64 = 253_402_300_799_999;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(state)
        .service(track)
        .service(list_alerts)
        .service(ack_alert)
        .service(send_command)
        .service(get_command);
}

/// The pet's live state (the live protocol's `state` object).
#[utoipa::path(get, path = "/v1/pets/{id}/state", tag = "live", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), security(("bearer" = [])),
    responses((status = 200, body = LiveState), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/state")]
async fn state(
    pg: web::Data<PgPool>,
    states: web::Data<Recipient<GetPetState>>,
    caller: AuthUser,
    path: web::Path<PetId>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let state = states
        .send(GetPetState { pet_id })
        .await
        .map_err(|e| anyhow::anyhow!("collar registry: {e}"))?;
    Ok(HttpResponse::Ok().json(state))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrackQuery {
    /// Epoch ms; default 24 h before `to`; not after `to`.
    #[param(value_type = i64, required = false, minimum = 0, maximum = 253_402_300_799_999_i64)]
    pub from: Option<i64>,
    /// Epoch ms; default now.
    #[param(value_type = i64, required = false, minimum = 0, maximum = 253_402_300_799_999_i64)]
    pub to: Option<i64>,
    /// At most this many points (default 1000, 2 to 10 000).
    #[param(value_type = u32, required = false, minimum = 2, maximum = 10_000)]
    pub max_points: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrackPoint {
    pub at: i64,
    pub lat: f64,
    pub lon: f64,
    pub acc: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Track {
    pub points: Vec<TrackPoint>,
}

/// Location history, oldest first, each stored sample once, evenly downsampled.
#[utoipa::path(get, path = "/v1/pets/{id}/track", tag = "live", params(("id" = uuid::Uuid, Path, description = "The pet's id."), TrackQuery), security(("bearer" = [])),
    responses((status = 200, body = Track), crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/track")]
async fn track(
    pg: web::Data<PgPool>,
    history: web::Data<History>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let (from, to) = time_range(query.from, query.to)?;
    let max_points = query.max_points.unwrap_or(DEFAULT_TRACK_POINTS);
    if !(2..=MAX_TRACK_POINTS).contains(&max_points) {
        return Err(ApiError::field("max_points", "must be between 2 and 10000"));
    }
    let stored = history::count_track_points(&history, pet_id, from, to)
        .await
        .map_err(anyhow::Error::from)?;
    let points = history::track_points(&history, pet_id, from, to, MAX_TRACK_SCAN);
    let points = downsample(
        points,
        stored.min(MAX_TRACK_SCAN as u64),
        max_points as usize,
    )
    .await
    .map_err(anyhow::Error::from)?;
    Ok(HttpResponse::Ok().json(Track { points }))
}

/// The range a track asks for: `to` defaults to now and `from` to a day before `to`; both
/// within 1970 to 9999, `from` not after `to`.
pub(super) fn time_range(from: Option<i64>, to: Option<i64>) -> Result<(i64, i64), ApiError> {
    for (field, at) in [("from", from), ("to", to)] {
        if at.is_some_and(|at| !(0..=LATEST_MS).contains(&at)) {
            return Err(ApiError::field(
                field,
                "must be epoch milliseconds from 1970 to 9999",
            ));
        }
    }
    let to = to.unwrap_or_else(|| Utc::now().timestamp_millis());
    let from = from.unwrap_or(to - DEFAULT_TRACK_SPAN_MS);
    if from > to {
        return Err(ApiError::field("from", "must not be after to"));
    }
    Ok((from, to))
}

/// Keeps `max` of the streamed points, spread evenly over the `expected` ones (counted
/// before the read; an upper bound), the first and the last included (also when fewer
/// arrive); holds `max` points, never the track.
async fn downsample(
    points: impl Stream<Item = Result<history::TrackPoint, HistoryError>>,
    expected: u64,
    max: usize,
) -> Result<Vec<TrackPoint>, HistoryError> {
    let (n, max_u) = (expected.max(2), max.max(2) as u64);
    let mut kept = Vec::with_capacity(max);
    let (mut last, mut next, mut i) = (None, 0u64, 0u64);
    futures_util::pin_mut!(points);
    while let Some(point) = points.try_next().await? {
        let point = TrackPoint {
            at: point.at_ms,
            lat: point.lat,
            lon: point.lon,
            acc: point.acc,
        };
        // Point k of `max` is the stored point number k·(n−1)/(max−1).
        if kept.len() < max && (n <= max_u || i >= next * (n - 1) / (max_u - 1)) {
            kept.push(point);
            next += 1;
            last = None;
        } else {
            last = Some(point);
        }
        i += 1;
    }
    if let Some(point) = last {
        if kept.len() == max {
            kept.pop();
        }
        kept.push(point);
    }
    Ok(kept)
}

/// The pet's alerts, newest first.
#[utoipa::path(get, path = "/v1/pets/{id}/alerts", tag = "live", params(("id" = uuid::Uuid, Path, description = "The pet's id."), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<Alert>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/alerts")]
async fn list_alerts(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let page = Page::try_from(query.into_inner())?;
    let rows = alerts::list(&pg, pet_id, &page).await?;
    let paged = page.finish(rows, |row| (row.created_at, row.id));
    Ok(HttpResponse::Ok().json(Paged {
        items: paged
            .items
            .into_iter()
            .filter_map(alerts::AlertRow::into_alert)
            .collect::<Vec<_>>(),
        next_cursor: paged.next_cursor,
    }))
}

/// Marks an alert seen (owner or family of its pet).
#[utoipa::path(post, path = "/v1/alerts/{id}/ack", tag = "live", params(("id" = uuid::Uuid, Path, description = "The alert's id.")), security(("bearer" = [])),
    responses((status = 200, body = Alert), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[post("/v1/alerts/{id}/ack")]
async fn ack_alert(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let alert = alerts::get(&pg, path.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    pet_access(&pg, caller.id, alert.pet_id, Action::View).await?;
    let acked = alerts::acknowledge(&pg, alert.id, caller.id).await?;
    let alert = acked.into_alert().ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(alert))
}

/// A command sent to a collar and what the collar answered.
#[derive(Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct CommandView {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub command: sqlx::types::Json<serde_json::Value>,
    #[serde(serialize_with = "as_millis")]
    #[schema(value_type = i64)]
    pub sent_at: chrono::DateTime<Utc>,
    #[serde(serialize_with = "as_opt_millis")]
    #[schema(value_type = Option<i64>)]
    pub acked_at: Option<chrono::DateTime<Utc>>,
    /// The collar's answer: null until it answers.
    pub ok: Option<bool>,
    pub error: Option<String>,
}

fn as_millis<S: serde::Serializer>(at: &chrono::DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(at.timestamp_millis())
}

fn as_opt_millis<S: serde::Serializer>(
    at: &Option<chrono::DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_i64(at.timestamp_millis()),
        None => s.serialize_none(),
    }
}

/// Sends a command to the pet's collar: `{"cmd":"find_me"}`, `{"cmd":"lost_mode","on":true}`
/// or `{"cmd":"set_interval","interval_s":60}` (owner or family).
#[utoipa::path(post, path = "/v1/pets/{id}/collar/commands", tag = "collars", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), request_body = CollarCommand, security(("bearer" = [])),
    responses((status = 202, body = CommandView), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody,
        (status = 404, description = "`not_found`: no such pet, or it wears no collar", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/pets/{id}/collar/commands")]
async fn send_command(
    pg: web::Data<PgPool>,
    commands: web::Data<Commands>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<PetId>,
    body: ApiJson<CollarCommand>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Command).await?;
    let command = body.into_inner();
    command
        .validate()
        .map_err(|message| ApiError::field("interval_s", message))?;
    let serial = collars::serial_of_pet(&pg, pet_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let interval = match command {
        // The collar's own interval from now on: what it returns to after live mode, and
        // what its silence is measured against.
        CollarCommand::SetInterval { interval_s } => {
            collars::set_interval(&pg, &serial, interval_s).await?;
            Some(interval_s)
        }
        _ => None,
    };
    let id = commands
        .send(&serial, Some(pet_id), Some(caller.id), command)
        .await?;
    if interval.is_some() {
        actors.interval_set(pet_id);
    }
    let view = command_view(&pg, pet_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Accepted().json(view))
}

/// One command and the collar's answer, if any yet.
#[utoipa::path(get, path = "/v1/pets/{id}/collar/commands/{command_id}", tag = "collars",
    params(("id" = uuid::Uuid, Path, description = "The pet's id."), ("command_id" = uuid::Uuid, Path, description = "The command's id.")), security(("bearer" = [])),
    responses((status = 200, body = CommandView), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/collar/commands/{command_id}")]
async fn get_command(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<(PetId, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (pet_id, id) = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let view = command_view(&pg, pet_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view))
}

async fn command_view(
    pg: &PgPool,
    pet: PetId,
    id: Uuid,
) -> Result<Option<CommandView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, command, sent_at, acked_at, ok, error FROM collar_commands WHERE id = $1 AND pet_id = $2",
    )
    .bind(id)
    .bind(pet)
    .fetch_optional(pg)
    .await
}

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;

    /// The `at` of what `downsample` keeps of `n` points of which `counted` were announced.
    async fn kept(n: i64, counted: u64, max: usize) -> Vec<i64> {
        let points = (0..n).map(|at_ms| {
            Ok(history::TrackPoint {
                at_ms,
                lat: 0.0,
                lon: 0.0,
                acc: None,
            })
        });
        downsample(stream::iter(points), counted, max)
            .await
            .expect("no store error")
            .iter()
            .map(|p| p.at)
            .collect()
    }

    #[actix_web::test]
    async fn downsampling_keeps_the_ends_and_the_count() {
        let kept = kept(10_000, 10_000, 1000).await;
        assert_eq!(kept.len(), 1000);
        assert_eq!(kept.first(), Some(&0));
        assert_eq!(kept.last(), Some(&9_999));
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
    }

    #[actix_web::test]
    async fn a_short_track_is_not_downsampled() {
        assert_eq!(kept(3, 3, 1000).await, vec![0, 1, 2]);
    }

    #[actix_web::test]
    async fn fewer_or_more_points_than_counted_still_end_with_the_last_and_keep_at_most_max() {
        let fewer = kept(900, 1_000, 10).await;
        assert_eq!(
            (fewer.len(), fewer.first(), fewer.last()),
            (10, Some(&0), Some(&899))
        );
        let more = kept(30, 5, 10).await;
        assert_eq!((more.len(), more.last()), (10, Some(&29)));
    }
}
