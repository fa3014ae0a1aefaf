//! Geofences: safe zones (alert on exit) and keep-out zones (alert on entry), at most
//! [`MAX_FENCES_PER_PET`] per pet.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use utoipa::openapi::schema::{
    ArrayBuilder, ArrayItems, ObjectBuilder, OneOfBuilder, Schema, Type,
};

use crate::actors::Actors;
use crate::geofence::{
    FenceGeometry, FenceKind, MAX_NAME_CHARS, MAX_RADIUS_M, MAX_VERTICES, MIN_RADIUS_M,
};
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::{GeofenceId, PetId};
use crate::store::geofences::{self, FenceFields, FenceRow};
use crate::store::millis;
use crate::validation::{FieldError, Violations};

/// Fences one pet may have. Every sample of the pet is tested against each of them, and
/// every change reloads them all into the collar's actor: the cap bounds both.
pub const MAX_FENCES_PER_PET: i64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_fence)
        .service(list_fences)
        .service(patch_fence)
        .service(delete_fence);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateFence {
    /// 1 to 100 characters; surrounding whitespace is dropped.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    pub kind: FenceKind,
    /// A GeoJSON `Polygon` (closed rings that do not cross themselves, at most 1000 positions
    /// in all), or `{"type":"Circle","center":[lon,lat],"radius_m":r}`.
    #[schema(schema_with = geometry)]
    pub geometry: serde_json::Value,
}

/// Any subset of a fence's fields.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatchFence {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    pub kind: Option<FenceKind>,
    #[schema(schema_with = geometry_or_null)]
    pub geometry: Option<serde_json::Value>,
}

/// The shapes [`FenceGeometry::parse`] reads, as far as a schema can tell them: a ring's
/// closure, self-intersection and area are checked by the server alone.
fn geometry() -> Schema {
    Schema::OneOf(geometry_schema().build())
}

fn geometry_or_null() -> Schema {
    let null = ObjectBuilder::new().schema_type(Type::Null);
    Schema::OneOf(geometry_schema().item(null).build())
}

fn geometry_schema() -> OneOfBuilder {
    let number = |min: f64, max: f64| {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(min))
            .maximum(Some(max))
    };
    let position = || {
        ArrayBuilder::new()
            .prefix_items([number(-180.0, 180.0).build(), number(-90.0, 90.0).build()])
            .items(ArrayItems::False)
            .min_items(Some(2))
            .description(Some("[lon, lat] (WGS 84)"))
    };
    let ring = ArrayBuilder::new()
        .items(position())
        .min_items(Some(4))
        .max_items(Some(MAX_VERTICES))
        .description(Some("closed: the last position repeats the first"));
    let rings = ArrayBuilder::new()
        .items(ring)
        .min_items(Some(1))
        .description(Some("the outer ring, then any holes"));
    let polygon = ObjectBuilder::new()
        .property("type", crate::http::docs::one_of(&["Polygon"]))
        .property("coordinates", rings)
        .required("type")
        .required("coordinates");
    let circle = ObjectBuilder::new()
        .property("type", crate::http::docs::one_of(&["Circle"]))
        .property("center", position())
        .property("radius_m", number(MIN_RADIUS_M, MAX_RADIUS_M))
        .required("type")
        .required("center")
        .required("radius_m");
    OneOfBuilder::new().item(polygon).item(circle)
}

/// A geofence as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FenceView {
    pub id: GeofenceId,
    pub pet_id: PetId,
    pub name: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<FenceRow> for FenceView {
    fn from(row: FenceRow) -> Self {
        Self {
            id: row.id,
            pet_id: row.pet_id,
            name: row.name,
            kind: row.kind,
            geometry: row.geometry.0,
            created_at: millis(row.created_at),
            updated_at: millis(row.updated_at),
        }
    }
}

/// Validates the fields and normalises the geometry (rings closed, shape as the server writes it).
fn fence_fields(
    name: &str,
    kind: FenceKind,
    geometry: &serde_json::Value,
) -> Result<FenceFields, ApiError> {
    let mut v = Violations::new();
    let name = name.trim();
    v.check(
        (1..=MAX_NAME_CHARS).contains(&name.chars().count()),
        "name",
        "must be 1 to 100 characters",
    );
    let parsed = FenceGeometry::parse(geometry).map_err(|errors: Vec<FieldError>| v.extend(errors));
    v.finish()?;
    let geometry = parsed.map_err(|()| ApiError::field("geometry", "is invalid"))?;
    Ok(FenceFields {
        name: name.to_owned(),
        kind: kind.as_str().to_owned(),
        geometry: geometry.to_json(),
    })
}

/// The fence, if the caller may do `action` on its pet; a fence of an invisible pet is 404.
async fn fence_access(
    pg: &PgPool,
    caller: AuthUser,
    id: GeofenceId,
    action: Action,
) -> Result<FenceRow, ApiError> {
    let fence = geofences::get(pg, id).await?.ok_or(ApiError::NotFound)?;
    pet_access(pg, caller.id, fence.pet_id, action).await?;
    Ok(fence)
}

/// Adds a fence to the pet (owner or family). A pet with 50 fences already gets 409
/// `too_many_geofences`: the request is valid, but the pet's
/// current fences refuse it (after a delete the same request succeeds).
#[utoipa::path(post, path = "/v1/pets/{id}/geofences", tag = "geofences", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), request_body = CreateFence, security(("bearer" = [])),
    responses((status = 201, body = FenceView), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::NotFound,
        (status = 409, description = "`too_many_geofences`: the pet has 50 geofences already", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/pets/{id}/geofences")]
async fn create_fence(
    pg: web::Data<PgPool>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<PetId>,
    body: ApiJson<CreateFence>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::ManageGeofences).await?;
    let fields = fence_fields(&body.name, body.kind, &body.geometry)?;
    let fence = geofences::create(&pg, pet_id, &fields, MAX_FENCES_PER_PET)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "too_many_geofences",
                "the pet has 50 geofences already; delete one to add another",
            )
        })?;
    actors.setup_changed(pet_id);
    Ok(HttpResponse::Created().json(FenceView::from(fence)))
}

/// The pet's fences.
#[utoipa::path(get, path = "/v1/pets/{id}/geofences", tag = "geofences", params(("id" = uuid::Uuid, Path, description = "The pet's id."), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<FenceView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/geofences")]
async fn list_fences(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let page = Page::try_from(query.into_inner())?;
    let rows = geofences::list(&pg, pet_id, &page).await?;
    let paged = page.finish(rows, |row| (row.created_at, row.id.0));
    Ok(HttpResponse::Ok().json(paged.map(FenceView::from)))
}

/// Changes a fence (owner or family).
#[utoipa::path(patch, path = "/v1/geofences/{id}", tag = "geofences", params(("id" = uuid::Uuid, Path, description = "The geofence's id.")), request_body = PatchFence, security(("bearer" = [])),
    responses((status = 200, body = FenceView), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::NotFound))]
#[patch("/v1/geofences/{id}")]
async fn patch_fence(
    pg: web::Data<PgPool>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<GeofenceId>,
    body: ApiJson<PatchFence>,
) -> Result<HttpResponse, ApiError> {
    let fence = fence_access(&pg, caller, path.into_inner(), Action::ManageGeofences).await?;
    let kind = body
        .kind
        .or_else(|| FenceKind::parse(&fence.kind))
        .ok_or_else(|| anyhow::anyhow!("stored fence kind {:?} is unknown", fence.kind))?;
    let name = body.name.as_deref().unwrap_or(&fence.name);
    let geometry = body.geometry.as_ref().unwrap_or(&fence.geometry.0);
    let fields = fence_fields(name, kind, geometry)?;
    let updated = geofences::update(&pg, fence.id, &fields).await?;
    actors.setup_changed(fence.pet_id);
    Ok(HttpResponse::Ok().json(FenceView::from(updated)))
}

/// Deletes a fence (owner or family).
#[utoipa::path(delete, path = "/v1/geofences/{id}", tag = "geofences", params(("id" = uuid::Uuid, Path, description = "The geofence's id.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[delete("/v1/geofences/{id}")]
async fn delete_fence(
    pg: web::Data<PgPool>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<GeofenceId>,
) -> Result<HttpResponse, ApiError> {
    let fence = fence_access(&pg, caller, path.into_inner(), Action::ManageGeofences).await?;
    geofences::delete(&pg, fence.id).await?;
    actors.setup_changed(fence.pet_id);
    Ok(HttpResponse::NoContent().finish())
}
