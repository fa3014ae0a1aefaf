//! The web live view: the owner's page at `/`, the sitter's page at `/s/{token}`, their
//! scripts and styles under `/static/`, and `/web-config.json` (the map's tile URL).
//!
//! The files of `static/` are compiled into the binary, so a deployed server needs nothing
//! beside it and serves exactly the pages it was built with. Every response carries a
//! Content-Security-Policy that allows only this server, plus the tile server for images.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::config::Settings;
use crate::http::error::ApiError;

/// One file of `static/`, compiled in.
struct Asset {
    /// Path under `static/` (and under `/static/` in URLs).
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the pages use. A file added to `static/` must be added here too.
static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("share.html", HTML),
    asset!("app.js", JS),
    asset!("share.js", JS),
    asset!("common.js", JS),
    asset!("week.js", JS),
    asset!("moods.js", JS),
    asset!("style.css", CSS),
    asset!("vendor/leaflet/leaflet.js", JS),
    asset!("vendor/leaflet/leaflet.css", CSS),
    asset!("vendor/leaflet/LICENSE", "text/plain; charset=utf-8"),
    asset!("vendor/leaflet/images/layers.png", "image/png"),
    asset!("vendor/leaflet/images/layers-2x.png", "image/png"),
    asset!("vendor/leaflet/images/marker-icon.png", "image/png"),
    asset!("vendor/leaflet/images/marker-icon-2x.png", "image/png"),
    asset!("vendor/leaflet/images/marker-shadow.png", "image/png"),
];

/// Vendored files change only with the binary's Leaflet version: a day in caches is fine.
const VENDOR_CACHE: &str = "public, max-age=86400";
/// The project's own files are revalidated on every use (cheap: an ETag and a 304).
const OWN_CACHE: &str = "no-cache";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(owner_page)
        .service(share_page)
        .service(web_config)
        .service(static_file);
}

/// The owner's page: sign in, pets, map, tracks, fences, alerts, share links.
#[get("/")]
async fn owner_page(req: HttpRequest, settings: web::Data<Settings>) -> HttpResponse {
    serve(
        &req,
        &settings,
        find("index.html").expect("index.html is in ASSETS"),
    )
}

/// The sitter's page; one page for every token, which it reads from its own URL.
#[get("/s/{token}")]
async fn share_page(req: HttpRequest, settings: web::Data<Settings>) -> HttpResponse {
    let mut response = serve(
        &req,
        &settings,
        find("share.html").expect("share.html is in ASSETS"),
    );
    // The token is in this page's URL: no request made from it may carry it elsewhere.
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// What the pages need to know about this server: the map's tile URL template ("" for none).
#[get("/web-config.json")]
async fn web_config(settings: web::Data<Settings>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, OWN_CACHE))
        .json(json!({ "tile_url": settings.map_tile_url }))
}

#[get("/static/{path:.*}")]
async fn static_file(
    req: HttpRequest,
    path: web::Path<String>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ApiError> {
    let asset = find(&path).ok_or(ApiError::NotFound)?;
    Ok(serve(&req, &settings, asset))
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// The asset, or a 304 when the client's copy is current.
fn serve(req: &HttpRequest, settings: &Settings, asset: &Asset) -> HttpResponse {
    let etag = etag(asset);
    let cache = if asset.path.starts_with("vendor/") {
        VENDOR_CACHE
    } else {
        OWN_CACHE
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp(settings)));
    if fresh {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.bytes)
}

/// A strong ETag from the file's bytes; the same for the life of the binary.
fn etag(asset: &Asset) -> String {
    let mut hasher = DefaultHasher::new();
    asset.bytes.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// Scripts, styles and data from this server only; images also from the tile server.
/// `connect-src 'self'` covers this server's own `ws:`/`wss:` (CSP Level 3), and no other
/// host's: a page cannot be made to stream a pet's live state elsewhere.
fn csp(settings: &Settings) -> String {
    let tiles = tile_origin(&settings.map_tile_url)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data:{tiles}; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// `scheme://host[:port]` of a tile URL template, with a `{s}` subdomain as `*`; `None` for
/// an empty template or one that cannot be written into a policy.
fn tile_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    let authority = rest.split('/').next()?.replace("{s}", "*");
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*');
    let scheme_ok = matches!(scheme, "http" | "https");
    (scheme_ok && !authority.is_empty() && authority.chars().all(allowed))
        .then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tile_origin_is_scheme_and_host_of_the_template() {
        assert_eq!(
            tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://tile.openstreetmap.org")
        );
        assert_eq!(
            tile_origin("http://{s}.tiles.example:8080/{z}/{x}/{y}.png").as_deref(),
            Some("http://*.tiles.example:8080")
        );
    }

    #[test]
    fn a_missing_or_odd_tile_url_adds_no_origin() {
        assert_eq!(tile_origin(""), None);
        assert_eq!(tile_origin("javascript:alert(1)"), None);
        assert_eq!(tile_origin("https://a.example; script-src *"), None);
    }

    #[test]
    fn every_asset_has_a_content_type() {
        for asset in ASSETS {
            assert!(!asset.content_type.is_empty(), "{}", asset.path);
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.path);
        }
    }
}
