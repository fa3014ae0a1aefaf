//! The HTTP API: one module per resource, each with its own `configure`.

pub mod accounts;
pub mod authz;
pub mod client_addr;
pub mod collars;
pub mod docs;
pub mod error;
pub mod feed;
pub mod geofences;
pub mod health;
pub mod json;
pub mod live;
pub mod members;
pub mod middleware;
pub mod notifications;
pub mod pages;
pub mod pagination;
pub mod pets;
pub mod posts;
pub mod share;
pub mod social;
pub mod tracking;

use actix_web::web;

/// Largest JSON body accepted: a 1000-vertex geofence is about 40 KiB.
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// Registers every route and the extractor settings that shape client errors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BODY)
            .error_handler(error::json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .configure(health::configure)
    .configure(docs::configure)
    .configure(accounts::configure)
    .configure(pets::configure)
    .configure(members::configure)
    .configure(collars::configure)
    .configure(geofences::configure)
    .configure(tracking::configure)
    .configure(live::configure)
    .configure(posts::configure)
    .configure(social::configure)
    .configure(feed::configure)
    .configure(notifications::configure)
    .configure(share::configure)
    .configure(pages::configure)
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound)
}
