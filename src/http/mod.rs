//! The HTTP API: one module per resource, each with its own `configure`.

pub mod accounts;
pub mod authz;
pub mod client_addr;
pub mod cluster;
pub mod collars;
pub mod docs;
pub mod error;
pub mod feed;
pub mod geofences;
pub mod health;
pub mod invitations;
pub mod json;
pub mod live;
pub mod members;
pub mod middleware;
pub mod mood;
pub mod moods;
pub mod notifications;
pub mod pages;
pub mod pagination;
pub mod pets;
pub mod posts;
pub mod share;
pub mod shared;
pub mod social;
pub mod stats;
pub mod track_gpx;
pub mod tracking;

use std::sync::OnceLock;

use actix_web::{web, HttpRequest};
use utoipa::OpenApi;

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
    .configure(invitations::configure)
    .configure(collars::configure)
    .configure(geofences::configure)
    .configure(tracking::configure)
    .configure(track_gpx::configure)
    .configure(stats::configure)
    .configure(live::configure)
    .configure(posts::configure)
    .configure(social::configure)
    .configure(feed::configure)
    .configure(notifications::configure)
    .configure(share::configure)
    .configure(shared::configure)
    .configure(pages::configure)
    .configure(mood::configure)
    .configure(moods::configure)
    .configure(cluster::configure)
    .default_service(web::to(not_found));
}

/// No route took the request: 405 with `Allow` when the path is one of the API's and only the
/// method is wrong, else 404.
async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, error::ApiError> {
    match allowed_methods(req.path()) {
        Some(allow) => Err(error::ApiError::MethodNotAllowed { allow }),
        None => Err(error::ApiError::NotFound),
    }
}

/// The path templates of the OpenAPI document, each with the methods it takes.
type Routes = Vec<(Vec<String>, Vec<&'static str>)>;

/// The methods the path takes (`GET, DELETE`), if it matches a path of the document.
fn allowed_methods(path: &str) -> Option<String> {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let document = docs::ApiDoc::openapi();
        document
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let segments = template.split('/').map(str::to_owned).collect();
                let methods = methods.into_iter().filter(|(_, has)| *has);
                (segments, methods.map(|(method, _)| method).collect())
            })
            .collect()
    });
    let segments: Vec<&str> = path.split('/').collect();
    routes
        .iter()
        .find(|(template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(expected, given)| {
                    expected == given || (expected.starts_with('{') && !given.is_empty())
                })
        })
        .map(|(_, methods)| methods.join(", "))
}
