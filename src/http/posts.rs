//! `/v1/posts` and `/v1/users/{id}/posts`: posts with one photo or video each.
//!
//! The media never passes through this server. Creating a post declares the media (type and
//! size) and answers a presigned S3 PUT that binds both into its signature; the phone uploads
//! straight to S3; publishing checks the stored object (HeadObject) against the declaration
//! before the post goes live. A post that is not published is seen by its author only.
//!
//! Publishing fails with 409 `upload_missing` while nothing is stored under the post's key
//! (upload, then publish again), and with 409 `upload_mismatch` when the stored object's size
//! or type differs from the declaration: the post stays pending and is never published
//! (delete it and create a new one).

use std::collections::BTreeMap;

use actix::Addr;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::feed::{FeedFanout, Nudge};
use crate::cache::Redis;
use crate::config::Settings;
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::{PetId, UserId};
use crate::store::posts::{self, Media, MediaUrls, NewPost, PostRow, PostView, StoredMedia};
use crate::store::{accounts, millis};
use crate::validation::Violations;

/// Longest caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 2000;
/// The media a post may carry: content type, file extension of its S3 key, and its kind.
const MEDIA_TYPES: [(&str, &str, MediaKind); 4] = [
    ("image/jpeg", "jpg", MediaKind::Image),
    ("image/png", "png", MediaKind::Image),
    ("image/webp", "webp", MediaKind::Image),
    ("video/mp4", "mp4", MediaKind::Video),
];
/// The only method of an upload URL.
const UPLOAD_METHOD: &str = "PUT";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_post)
        .service(publish_post)
        .service(get_post)
        .service(delete_post)
        .service(user_posts);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaKind {
    Image,
    Video,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreatePost {
    /// The pet the post is about; the caller must be able to see it.
    pub pet_id: Option<PetId>,
    /// Up to 2000 characters.
    #[schema(max_length = 2000)]
    pub caption: String,
    pub media: DeclaredMedia,
}

/// The media the client is about to upload.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeclaredMedia {
    /// `image/jpeg`, `image/png`, `image/webp` or `video/mp4`.
    #[schema(schema_with = media_type)]
    pub content_type: String,
    /// Exact size of the file; images and videos each have a largest size (413 above it).
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub size_bytes: i64,
}

fn media_type() -> utoipa::openapi::schema::Object {
    crate::http::docs::one_of(&MEDIA_TYPES.map(|(name, _, _)| name))
}

/// A new post and where to upload its media.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedPost {
    pub post: PostView,
    pub upload: UploadView,
}

/// A presigned S3 upload: send the file with exactly `headers` before `expires_at`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadView {
    pub url: String,
    /// Always `PUT`.
    pub method: &'static str,
    /// The headers bound into the signature (`Content-Type`, `Content-Length`).
    pub headers: BTreeMap<String, String>,
    pub expires_at: i64,
}

/// A post as declared, checked against the rules and the settings' size limits.
struct Declared {
    pet_id: Option<PetId>,
    caption: String,
    content_type: &'static str,
    extension: &'static str,
    size_bytes: i64,
}

/// Checks the declaration: 422 for a bad field, 413 for media over its kind's limit.
fn declare(body: CreatePost, settings: &Settings) -> Result<Declared, ApiError> {
    let wanted = body.media.content_type.trim().to_ascii_lowercase();
    let media_type = MEDIA_TYPES.iter().find(|(name, _, _)| *name == wanted);
    let mut v = Violations::new();
    v.check(
        body.caption.chars().count() <= MAX_CAPTION_CHARS,
        "caption",
        "must be at most 2000 characters",
    );
    v.check(
        media_type.is_some(),
        "media.content_type",
        "must be image/jpeg, image/png, image/webp or video/mp4",
    );
    v.check(
        body.media.size_bytes > 0,
        "media.size_bytes",
        "must be more than 0",
    );
    v.finish()?;
    let Some(&(content_type, extension, kind)) = media_type else {
        return Err(ApiError::field("media.content_type", "is not supported"));
    };
    let limit = match kind {
        MediaKind::Image => settings.max_image_bytes,
        MediaKind::Video => settings.max_video_bytes,
    };
    if u64::try_from(body.media.size_bytes).is_ok_and(|size| size > limit) {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(Declared {
        pet_id: body.pet_id,
        caption: body.caption,
        content_type,
        extension,
        size_bytes: body.media.size_bytes,
    })
}

/// Declares a post and its media; answers a presigned upload. The post stays pending (seen by
/// its author only) until published.
#[utoipa::path(post, path = "/v1/posts", tag = "posts", request_body = CreatePost, security(("bearer" = [])),
    responses((status = 201, body = CreatedPost),
        crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody,
        (status = 404, description = "`not_found`: `pet_id` names a pet the caller cannot see", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body, or the declared media over its kind's size limit", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/posts")]
async fn create_post(
    pg: web::Data<PgPool>,
    s3: web::Data<aws_sdk_s3::Client>,
    urls: web::Data<MediaUrls>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    body: ApiJson<CreatePost>,
) -> Result<HttpResponse, ApiError> {
    let declared = declare(body.into_inner(), &settings)?;
    if let Some(pet) = declared.pet_id {
        pet_access(&pg, caller.id, pet, Action::View).await?;
    }
    let post = new_post(caller.id, declared);
    posts::create(&pg, &post).await?;
    let ticket = posts::presign_upload(&s3, &settings, &post.media).await?;
    let row = posts::get_own(&pg, caller.id, post.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Created().json(CreatedPost {
        post: posts::render(&urls, row).await?,
        upload: UploadView {
            url: ticket.url,
            method: UPLOAD_METHOD,
            headers: ticket.headers,
            expires_at: millis(ticket.expires_at),
        },
    }))
}

fn new_post(author: UserId, declared: Declared) -> NewPost {
    let id = Uuid::new_v4();
    NewPost {
        id,
        author,
        pet_id: declared.pet_id,
        caption: declared.caption,
        media: Media {
            key: posts::media_key(author, id, declared.extension),
            content_type: declared.content_type.to_owned(),
            size_bytes: declared.size_bytes,
        },
    }
}

/// Publishes the post once its media is in S3 as declared (author only). Publishing a
/// published post changes nothing and answers it again.
#[utoipa::path(post, path = "/v1/posts/{id}/publish", tag = "posts", params(("id" = uuid::Uuid, Path, description = "The post's id.")), security(("bearer" = [])),
    responses((status = 200, body = PostView), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound,
        (status = 409, description = "`upload_missing`: nothing uploaded yet; `upload_mismatch`: the upload's size or type differs from the declaration", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/posts/{id}/publish")]
async fn publish_post(
    pg: web::Data<PgPool>,
    s3: web::Data<aws_sdk_s3::Client>,
    urls: web::Data<MediaUrls>,
    settings: web::Data<Settings>,
    feed: web::Data<Addr<FeedFanout>>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let row = posts::get_own(&pg, caller.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if row.status == posts::PENDING {
        check_upload(&s3, &settings, &row).await?;
        if posts::publish(&pg, id, caller.id).await? {
            // The outbox row is committed; the fan-out drains it now instead of at its next tick.
            feed.do_send(Nudge);
        }
    }
    let row = posts::get_own(&pg, caller.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(posts::render(&urls, row).await?))
}

/// The stored object must exist with exactly the declared size and type.
async fn check_upload(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    row: &PostRow,
) -> Result<(), ApiError> {
    match posts::head_media(s3, settings, &row.media_key).await? {
        StoredMedia::Missing => Err(ApiError::conflict(
            "upload_missing",
            "the media has not been uploaded yet",
        )),
        StoredMedia::Present {
            size_bytes,
            content_type,
        } if size_bytes != Some(row.media_size_bytes)
            || content_type.as_deref() != Some(row.media_content_type.as_str()) =>
        {
            Err(ApiError::conflict(
                "upload_mismatch",
                "the uploaded media differs from the declared size or type",
            ))
        }
        StoredMedia::Present { .. } => Ok(()),
    }
}

/// One post: published ones to anyone signed in, pending ones to their author only.
#[utoipa::path(get, path = "/v1/posts/{id}", tag = "posts", params(("id" = uuid::Uuid, Path, description = "The post's id.")), security(("bearer" = [])),
    responses((status = 200, body = PostView), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[get("/v1/posts/{id}")]
async fn get_post(
    pg: web::Data<PgPool>,
    urls: web::Data<MediaUrls>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = posts::get(&pg, caller.id, path.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(posts::render(&urls, row).await?))
}

/// Deletes the post, its media object, likes and comments (author only; 404 for others).
#[utoipa::path(delete, path = "/v1/posts/{id}", tag = "posts", params(("id" = uuid::Uuid, Path, description = "The post's id.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[delete("/v1/posts/{id}")]
async fn delete_post(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    s3: web::Data<aws_sdk_s3::Client>,
    urls: web::Data<MediaUrls>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = posts::get_own(&pg, caller.id, path.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    // The object first: if the row's deletion then fails, a retry finds the row and deletes
    // the (already absent) object again, so nothing is left behind either way.
    posts::delete_media(&s3, &settings, &row.media_key).await?;
    // The cached card goes first: from here on no feed shows the post, whatever happens next.
    posts::bury_card(&redis, row.id).await?;
    if let Err(error) = posts::delete(&pg, row.id).await {
        // The post stays: let the feeds show it again (if this fails too, until the retry).
        let _ = posts::forget_card(&redis, row.id).await;
        return Err(error.into());
    }
    urls.forget(&row.media_key);
    Ok(HttpResponse::NoContent().finish())
}

/// One user's published posts, newest first.
#[utoipa::path(get, path = "/v1/users/{id}/posts", tag = "posts", params(("id" = uuid::Uuid, Path, description = "The user's id."), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<PostView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/users/{id}/posts")]
async fn user_posts(
    pg: web::Data<PgPool>,
    urls: web::Data<MediaUrls>,
    caller: AuthUser,
    path: web::Path<UserId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let author = path.into_inner();
    let page = Page::try_from(query.into_inner())?;
    accounts::user_by_id(&pg, author)
        .await?
        .ok_or(ApiError::NotFound)?;
    let rows = posts::list_by_author(&pg, caller.id, author, &page).await?;
    // Listed posts are published, so `published_at` is always there.
    let paged = page.finish(rows, |row| {
        (row.published_at.unwrap_or(row.created_at), row.id)
    });
    let mut items = Vec::with_capacity(paged.items.len());
    for row in paged.items {
        items.push(posts::render(&urls, row).await?);
    }
    Ok(HttpResponse::Ok().json(Paged {
        items,
        next_cursor: paged.next_cursor,
    }))
}
