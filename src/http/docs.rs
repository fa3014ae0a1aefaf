//! The OpenAPI 3.1 document, generated from the handlers' annotations, served at
//! `/openapi.json` and rendered at `/docs` by a Swagger UI compiled into the binary (no CDN).

use actix_web::{get, web, HttpResponse};
use serde_json::{json, Map, Value};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{
    accounts, cluster, collars, error, feed, geofences, health, invitations, live, members, mood,
    moods, notifications, pets, posts, share, shared, social, stats, track_gpx, tracking,
};

/// What holds for every operation.
const DESCRIPTION: &str = "Pets, collars, live state, alerts and the social feed.\n\n\
    Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`; \
    every response carries `X-Request-Id`. Times are epoch milliseconds. A request body is a \
    JSON object whose strings do not contain U+0000 (else 422). Lists are cursor-paginated: \
    `limit` (1 to 100) and the previous page's `next_cursor`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "PettySync API", version = "1", description = DESCRIPTION),
    paths(
        health::healthz, health::readyz, health::metrics,
        accounts::register, accounts::login, accounts::refresh, accounts::logout, accounts::me,
        pets::create_pet, pets::list_pets, pets::get_pet, pets::patch_pet, pets::delete_pet,
        members::add_member, members::list_members, members::remove_member,
        members::withdraw_invitation, invitations::claim_invitation,
        collars::provision, collars::pair, collars::unpair,
        geofences::create_fence, geofences::list_fences, geofences::patch_fence, geofences::delete_fence,
        tracking::state, tracking::track, tracking::list_alerts, tracking::ack_alert,
        tracking::send_command, tracking::get_command, track_gpx::track_gpx,
        stats::pet_stats,
        live::create_ticket, live::connect,
        notifications::register_device, notifications::list_devices, notifications::delete_device,
        notifications::list_notifications, notifications::read_notification,
        posts::create_post, posts::publish_post, posts::get_post, posts::delete_post, posts::user_posts,
        social::follow, social::unfollow, social::like, social::unlike,
        social::create_comment, social::list_comments,
        feed::get_feed,
        share::create_link, share::list_links, share::revoke_link, shared::view, shared::connect,
        mood::list_models, moods::list_moods, moods::correct_mood,
        cluster::list_actors,
    ),
    components(schemas(error::Problem, crate::validation::FieldError)),
    modifiers(&Security, &Problems, &Links),
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

/// The problem responses that every route's error sets refer to.
struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.responses.extend(error::problem_responses());
    }
}

/// A string that takes one of `values`, for `#[schema(schema_with = ...)]` on request fields
/// that the handlers read as plain strings (so that they phrase the error themselves).
pub fn one_of(values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// [`one_of`] or `null`: a field of a patch, where `null` leaves the value as it is.
pub fn one_of_or_null(values: &[&str]) -> Object {
    let values = values.iter().map(|&value| Value::from(value));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values.chain([Value::Null])))
        .build()
}

/// An OpenAPI link, for client generators and schemathesis' stateful phase: the operation
/// and status it starts from, the operation it leads to, and that operation's parameters as
/// runtime expressions.
struct Link(
    &'static str,
    &'static str,
    &'static str,
    &'static [Parameter],
);

/// A parameter of a link's target and the runtime expression of its value.
type Parameter = (&'static str, &'static str);

const ID: &[Parameter] = &[("id", "$response.body#/id")];
const POST_ID: &[Parameter] = &[("id", "$response.body#/post/id")];
const USER_ID: &[Parameter] = &[("id", "$response.body#/user/id")];
const MEMBER: &[Parameter] = &[
    ("id", "$request.path.id"),
    ("user_id", "$response.body#/user_id"),
];
const COMMAND: &[Parameter] = &[
    ("id", "$request.path.id"),
    ("command_id", "$response.body#/id"),
];
const TOKEN: &[Parameter] = &[("token", "$response.body#/token")];
const FIRST_ITEM: &[Parameter] = &[("id", "$response.body#/items/0/id")];

/// From what a create answers to the operations on what it created, and from a list to its
/// first item.
const LINKS: &[Link] = &[
    Link("register", "201", "user_posts", USER_ID),
    Link("create_pet", "201", "get_pet", ID),
    Link("create_pet", "201", "patch_pet", ID),
    Link("create_pet", "201", "delete_pet", ID),
    Link("create_pet", "201", "state", ID),
    Link("create_pet", "201", "track", ID),
    Link("create_pet", "201", "track_gpx", ID),
    Link("create_pet", "201", "list_alerts", ID),
    Link("create_pet", "201", "list_members", ID),
    Link("create_pet", "201", "add_member", ID),
    Link("create_pet", "201", "create_fence", ID),
    Link("create_pet", "201", "list_fences", ID),
    Link("create_pet", "201", "create_link", ID),
    Link("create_pet", "201", "list_links", ID),
    Link("create_pet", "201", "pair", ID),
    Link("create_pet", "201", "unpair", ID),
    Link("create_pet", "201", "send_command", ID),
    Link("add_member", "201", "remove_member", MEMBER),
    Link("create_fence", "201", "patch_fence", ID),
    Link("create_fence", "201", "delete_fence", ID),
    Link("send_command", "202", "get_command", COMMAND),
    Link("create_link", "201", "view_share", TOKEN),
    Link("create_link", "201", "revoke_link", ID),
    Link("create_post", "201", "get_post", POST_ID),
    Link("create_post", "201", "publish_post", POST_ID),
    Link("create_post", "201", "delete_post", POST_ID),
    Link("create_post", "201", "like", POST_ID),
    Link("create_post", "201", "create_comment", POST_ID),
    Link("create_post", "201", "list_comments", POST_ID),
    Link("register_device", "201", "delete_device", ID),
    Link("list_pets", "200", "get_pet", FIRST_ITEM),
    Link("list_fences", "200", "patch_fence", FIRST_ITEM),
    Link("list_links", "200", "revoke_link", FIRST_ITEM),
    Link("list_alerts", "200", "ack_alert", FIRST_ITEM),
    Link("list_devices", "200", "delete_device", FIRST_ITEM),
    Link("list_notifications", "200", "read_notification", FIRST_ITEM),
    Link("get_feed", "200", "get_post", FIRST_ITEM),
    Link(
        "list_comments",
        "200",
        "get_post",
        &[("id", "$response.body#/items/0/post_id")],
    ),
];

/// Writes [`LINKS`] into `components.links` and refers to them from the responses. (utoipa 5's
/// own `Link` serializes `operation_id` in snake case, which OpenAPI readers do not know, so the
/// link objects are written as JSON.)
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut links = Map::new();
        for &Link(from, status, to, parameters) in LINKS {
            let name = format!("{from}.{to}");
            let parameters: Map<String, Value> = parameters
                .iter()
                .map(|&(parameter, expression)| (parameter.to_owned(), json!(expression)))
                .collect();
            links.insert(
                name.clone(),
                json!({"operationId": to, "parameters": parameters}),
            );
            let response = operations(openapi)
                .find(|operation| operation.operation_id.as_deref() == Some(from))
                .and_then(|operation| operation.responses.responses.get_mut(status));
            if let Some(RefOr::T(response)) = response {
                let reference = Ref::new(format!("#/components/links/{name}"));
                response.links.insert(to.to_owned(), RefOr::Ref(reference));
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        let links = Extensions::from_iter([("links", Value::Object(links))]);
        match &mut components.extensions {
            Some(extensions) => extensions.merge(links),
            None => components.extensions = Some(links),
        }
    }
}

/// Every operation of the document.
fn operations(openapi: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    })
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
