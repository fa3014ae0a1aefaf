//! The OpenAPI 3.1 document, generated from the handlers' annotations, served at
//! `/openapi.json` and rendered at `/docs` by a Swagger UI compiled into the binary (no CDN).

use actix_web::{get, web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{
    accounts, collars, error, feed, geofences, health, live, members, notifications, pets, posts,
    share, social, tracking,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "PettySync API", version = "1", description = "Pets, collars, live state, alerts and the social feed."),
    paths(
        health::healthz, health::readyz, health::metrics,
        accounts::register, accounts::login, accounts::refresh, accounts::logout, accounts::me,
        pets::create_pet, pets::list_pets, pets::get_pet, pets::patch_pet, pets::delete_pet,
        members::add_member, members::list_members, members::remove_member,
        members::withdraw_invitation,
        collars::provision, collars::pair, collars::unpair,
        geofences::create_fence, geofences::list_fences, geofences::patch_fence, geofences::delete_fence,
        tracking::state, tracking::track, tracking::list_alerts, tracking::ack_alert,
        tracking::send_command, tracking::get_command,
        live::create_ticket, live::connect,
        notifications::register_device, notifications::list_devices, notifications::delete_device,
        notifications::list_notifications, notifications::read_notification,
        posts::create_post, posts::publish_post, posts::get_post, posts::delete_post, posts::user_posts,
        social::follow, social::unfollow, social::like, social::unlike,
        social::create_comment, social::list_comments,
        feed::get_feed,
        share::create_link, share::list_links, share::revoke_link, share::view, share::connect,
    ),
    components(schemas(error::Problem, crate::validation::FieldError)),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme("admin", bearer());
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(docs_redirect)
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
}

#[get("/docs")]
async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}
