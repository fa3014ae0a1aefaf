//! `GET /v1/pets/{id}/track.gpx`: a pet's location history as a GPX 1.1 file, every stored
//! fix (not downsampled), hot and archived, streamed from the history reader so that memory
//! stays at one cursor batch (or one archived day) and one chunk whatever the range.
//!
//! The 100 000-point cap is decided before the first byte: the fixes in the range are
//! counted first (one indexed count in MongoDB, the manifest's counts for the archive), and
//! a range over the cap is a 422 `range_too_large`.
//! The stream itself stops at the cap too, in case fixes arrive between the count and the read.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, SecondsFormat};
use futures_util::{stream, Stream, StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use sqlx::PgPool;

use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::http::tracking::time_range;
use crate::ids::PetId;
use crate::store::history::{self, History, TrackPoint};

/// Most points one GPX file holds (the HTTP API's contract).
pub const MAX_GPX_POINTS: u64 = 100_000;
/// Points written per body chunk: about 8 KiB, so the socket gets sizeable writes while the
/// server holds little.
const POINTS_PER_CHUNK: usize = 128;
/// The media type of GPX.
pub const GPX_CONTENT_TYPE: &str = "application/gpx+xml";

const HEAD: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<gpx version="1.1" creator="PettySync" xmlns="http://www.topografix.com/GPX/1/1">"#,
    "\n<trk><trkseg>\n",
);
const TAIL: &str = "</trkseg></trk>\n</gpx>\n";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(track_gpx);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GpxQuery {
    /// Epoch ms; default 24 h before `to`; not after `to`.
    #[param(value_type = i64, required = false, minimum = 0, maximum = 253_402_300_799_999_i64)]
    pub from: Option<i64>,
    /// Epoch ms; default now.
    #[param(value_type = i64, required = false, minimum = 0, maximum = 253_402_300_799_999_i64)]
    pub to: Option<i64>,
}

/// Location history as GPX 1.1: one track of one segment, a `trkpt` per stored fix (each
/// sample once, oldest first) with its time in UTC to the millisecond.
#[utoipa::path(get, path = "/v1/pets/{id}/track.gpx", tag = "live", params(("id" = uuid::Uuid, Path, description = "The pet's id."), GpxQuery), security(("bearer" = [])),
    responses((status = 200, description = "A GPX 1.1 document", body = String, content_type = "application/gpx+xml"),
        crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound,
        (status = 422, description = "`range_too_large`: the range holds more than 100 000 fixes; or `validation_failed`: `from`/`to` outside 1970 to 9999, or `from` after `to`", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[get("/v1/pets/{id}/track.gpx")]
async fn track_gpx(
    pg: web::Data<PgPool>,
    history: web::Data<History>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<GpxQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let (from, to) = time_range(query.from, query.to)?;
    let stored = history::count_track_points(&history, pet_id, from, to)
        .await
        .map_err(anyhow::Error::from)?;
    if stored > MAX_GPX_POINTS {
        return Err(ApiError::RangeTooLarge {
            detail: format!(
                "the range holds {stored} fixes; a GPX file holds at most {MAX_GPX_POINTS}: ask for a shorter range"
            ),
        });
    }
    let points = history::track_points(&history, pet_id, from, to, MAX_GPX_POINTS as usize);
    let attachment = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(format!("pet-{pet_id}.gpx"))],
    };
    Ok(HttpResponse::Ok()
        .content_type(GPX_CONTENT_TYPE)
        .insert_header(attachment)
        .streaming(gpx_body(points)))
}

/// The document: its head, the points in chunks, its tail. A store failure mid-stream ends
/// the response early (the client sees a truncated file, never a false end) and is logged.
fn gpx_body<E>(
    points: impl Stream<Item = Result<TrackPoint, E>> + 'static,
) -> impl Stream<Item = Result<Bytes, E>> + 'static
where
    E: std::fmt::Display + 'static,
{
    let chunks = points
        .map_ok(|point| trkpt(&point))
        .try_chunks(POINTS_PER_CHUNK)
        .map(|chunk| match chunk {
            Ok(lines) => Ok(Bytes::from(lines.concat())),
            Err(error) => {
                tracing::error!(error = %error.1, "reading the track for GPX failed");
                Err(error.1)
            }
        });
    stream::once(async { Ok(Bytes::from_static(HEAD.as_bytes())) })
        .chain(chunks)
        .chain(stream::once(async {
            Ok(Bytes::from_static(TAIL.as_bytes()))
        }))
}

/// One `<trkpt>`. GPX's longitude excludes 180°, which the collar protocol allows: it is
/// the same meridian as −180°.
fn trkpt(point: &TrackPoint) -> String {
    let lon = if point.lon >= 180.0 {
        point.lon - 360.0
    } else {
        point.lon
    };
    let time = DateTime::from_timestamp_millis(point.at_ms)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default();
    // `{}` of an f64 is its shortest exact decimal, never exponent notation: xsd:decimal.
    format!(
        "<trkpt lat=\"{}\" lon=\"{}\"><time>{time}</time></trkpt>\n",
        point.lat, lon
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat: f64, lon: f64, at_ms: i64) -> TrackPoint {
        TrackPoint {
            at_ms,
            lat,
            lon,
            acc: None,
        }
    }

    #[test]
    fn a_point_has_its_position_and_its_utc_time_to_the_millisecond() {
        assert_eq!(
            trkpt(&point(13.756331, 100.501762, 1_764_151_500_007)),
            "<trkpt lat=\"13.756331\" lon=\"100.501762\"><time>2025-11-26T10:05:00.007Z</time></trkpt>\n"
        );
    }

    #[test]
    fn tiny_and_antimeridian_coordinates_stay_valid_decimals() {
        let line = trkpt(&point(-0.0000001, 180.0, 0));
        assert!(line.contains("lat=\"-0.0000001\""), "{line}");
        assert!(line.contains("lon=\"-180\""), "{line}");
        assert!(
            line.contains("<time>1970-01-01T00:00:00.000Z</time>"),
            "{line}"
        );
    }

    #[actix_web::test]
    async fn the_body_is_head_points_in_chunks_and_tail() {
        let points = (0..300).map(|i| Ok::<_, String>(point(1.0, 2.0, i)));
        let chunks: Vec<Bytes> = gpx_body(stream::iter(points)).try_collect().await.unwrap();
        assert_eq!(chunks.len(), 2 + 3, "head, 128 + 128 + 44 points, tail");
        let text: String = chunks
            .iter()
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect();
        assert!(text.starts_with(HEAD) && text.ends_with(TAIL));
        assert_eq!(text.matches("<trkpt ").count(), 300);
    }
}
