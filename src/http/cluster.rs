//! The cluster as one node sees it: which collar actors run here (admin token). Operators
//! use it to see how collars spread; the cluster tests use it to check that every collar
//! has exactly one owner.

use actix_web::{get, web, HttpResponse};

use crate::actors::registry::{ListActors, RunningActors};
use crate::actors::Actors;
use crate::http::authz::Admin;
use crate::http::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_actors);
}

/// The collar actors running on this node (admin token).
#[utoipa::path(get, path = "/v1/admin/cluster/actors", tag = "operations", security(("admin" = [])),
    responses((status = 200, body = RunningActors), crate::http::error::doc::Admin))]
#[get("/v1/admin/cluster/actors")]
async fn list_actors(actors: web::Data<Actors>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let running = actors
        .registry
        .send(ListActors)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(HttpResponse::Ok().json(running))
}
