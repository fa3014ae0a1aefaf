//! The social graph: follows, likes and comments.
//!
//! Follow and like are idempotent and answer 204 whether or not they changed anything (first
//! follow, repeated follow, unfollow of someone not followed alike); only a real change
//! notifies. Nobody is notified of their own doing: liking your own post notifies nobody.
//!
//! A (un)follow also corrects the caller's feed timeline in Redis, every time and not only on
//! a change: if that fails the answer is 500 with the follow already stored, and the retry
//! the client makes corrects the timeline then. Likes, unlikes and comments drop the feed
//! caches they change (the post's card, the caller's liked set; see `store::posts::cards`)
//! the same way: after PostgreSQL, every time, a failure answering 500.

use actix::Recipient;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::events::{SocialEvent, SocialKind};
use crate::cache::Redis;
use crate::http::authz::AuthUser;
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::UserId;
use crate::store::posts::{self, AuthorView, PostRow};
use crate::store::social::{self, CommentRow};
use crate::store::{accounts, feed, millis};

/// Shortest and longest comment, in characters (after trimming).
pub const COMMENT_CHARS: std::ops::RangeInclusive<usize> = 1..=1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(follow)
        .service(unfollow)
        .service(like)
        .service(unlike)
        .service(create_comment)
        .service(list_comments);
}

/// The user the caller wants to (un)follow: 422 for the caller themselves, 404 when unknown.
async fn followee(pg: &PgPool, caller: UserId, user: UserId) -> Result<UserId, ApiError> {
    if user == caller {
        return Err(ApiError::field("id", "you cannot follow yourself"));
    }
    let user = accounts::user_by_id(pg, user)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(user.id)
}

/// Tells `recipient` what `actor` did, unless they are the same person. `data` gains `by`.
async fn notify(
    pg: &PgPool,
    events: &Recipient<SocialEvent>,
    kind: SocialKind,
    actor: UserId,
    recipient: UserId,
    mut data: Map<String, Value>,
) -> Result<(), ApiError> {
    if actor == recipient {
        return Ok(());
    }
    // A valid token whose account was deleted since: the caller no longer exists.
    let by = accounts::user_by_id(pg, actor)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    data.insert(
        "by".to_owned(),
        json!({"id": actor, "display_name": by.display_name}),
    );
    events.do_send(SocialEvent {
        kind,
        actor,
        recipient,
        data: Value::Object(data),
    });
    Ok(())
}

/// Follows the user; the followee hears of a new follow.
#[utoipa::path(post, path = "/v1/users/{id}/follow", tag = "social", params(("id" = uuid::Uuid, Path, description = "The user's id.")), security(("bearer" = [])),
    responses((status = 204, description = "following (also when already following)"),
        crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound, (status = 422, description = "`validation_failed`: the caller cannot follow themselves", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/users/{id}/follow")]
async fn follow(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    events: web::Data<Recipient<SocialEvent>>,
    caller: AuthUser,
    path: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let followee = followee(&pg, caller.id, path.into_inner()).await?;
    if social::follow(&pg, caller.id, followee).await? {
        notify(
            &pg,
            &events,
            SocialKind::Follow,
            caller.id,
            followee,
            Map::new(),
        )
        .await?;
    }
    // Rebuilt on the next read, with the followee's older posts in it.
    feed::invalidate_timeline(&redis, caller.id).await?;
    feed::forget_follows(&redis, caller.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stops following the user.
#[utoipa::path(delete, path = "/v1/users/{id}/follow", tag = "social", params(("id" = uuid::Uuid, Path, description = "The user's id.")), security(("bearer" = [])),
    responses((status = 204, description = "not following (also when not following before)"),
        crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound, (status = 422, description = "`validation_failed`: the caller cannot follow themselves", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[delete("/v1/users/{id}/follow")]
async fn unfollow(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    caller: AuthUser,
    path: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let followee = followee(&pg, caller.id, path.into_inner()).await?;
    social::unfollow(&pg, caller.id, followee).await?;
    feed::remove_author_from_timeline(&pg, &redis, caller.id, followee).await?;
    feed::forget_follows(&redis, caller.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The post, if the caller may see it (published, or their own).
async fn visible_post(pg: &PgPool, caller: UserId, post: Uuid) -> Result<PostRow, ApiError> {
    posts::get(pg, caller, post)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Likes the post; its author hears of a new like.
#[utoipa::path(post, path = "/v1/posts/{id}/like", tag = "social", params(("id" = uuid::Uuid, Path, description = "The post's id.")), security(("bearer" = [])),
    responses((status = 204, description = "liked (also when liked before)"), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[post("/v1/posts/{id}/like")]
async fn like(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    events: web::Data<Recipient<SocialEvent>>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let post = visible_post(&pg, caller.id, path.into_inner()).await?;
    if social::like(&pg, post.id, caller.id).await? {
        let data = Map::from_iter([("post_id".to_owned(), json!(post.id))]);
        notify(
            &pg,
            &events,
            SocialKind::Like,
            caller.id,
            post.author_id,
            data,
        )
        .await?;
    }
    stale_after_write(
        posts::forget_like(&redis, post.id, caller.id).await,
        "a like",
    );
    Ok(HttpResponse::NoContent().finish())
}

/// Takes the caller's like back.
#[utoipa::path(delete, path = "/v1/posts/{id}/like", tag = "social", params(("id" = uuid::Uuid, Path, description = "The post's id.")), security(("bearer" = [])),
    responses((status = 204, description = "not liked (also when not liked before)"), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[delete("/v1/posts/{id}/like")]
async fn unlike(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let post = visible_post(&pg, caller.id, path.into_inner()).await?;
    social::unlike(&pg, post.id, caller.id).await?;
    stale_after_write(
        posts::forget_like(&redis, post.id, caller.id).await,
        "an unlike",
    );
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateComment {
    /// 1 to 1000 characters; surrounding whitespace is dropped.
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub text: String,
}

/// A comment as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CommentView {
    pub id: Uuid,
    pub post_id: Uuid,
    pub author: AuthorView,
    pub text: String,
    pub created_at: i64,
}

impl From<CommentRow> for CommentView {
    fn from(row: CommentRow) -> Self {
        Self {
            id: row.id,
            post_id: row.post_id,
            author: AuthorView {
                id: row.author_id,
                display_name: row.author_name,
            },
            text: row.text,
            created_at: millis(row.created_at),
        }
    }
}

/// A comment's text, trimmed and within [`COMMENT_CHARS`].
struct CommentText(String);

impl TryFrom<CreateComment> for CommentText {
    type Error = ApiError;

    fn try_from(body: CreateComment) -> Result<Self, ApiError> {
        let text = body.text.trim();
        if !COMMENT_CHARS.contains(&text.chars().count()) {
            return Err(ApiError::field("text", "must be 1 to 1000 characters"));
        }
        Ok(Self(text.to_owned()))
    }
}

/// Comments on the post; its author hears of it.
#[utoipa::path(post, path = "/v1/posts/{id}/comments", tag = "social", params(("id" = uuid::Uuid, Path, description = "The post's id.")), request_body = CreateComment, security(("bearer" = [])),
    responses((status = 201, body = CommentView), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::NotFound))]
#[post("/v1/posts/{id}/comments")]
async fn create_comment(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    events: web::Data<Recipient<SocialEvent>>,
    caller: AuthUser,
    path: web::Path<Uuid>,
    body: ApiJson<CreateComment>,
) -> Result<HttpResponse, ApiError> {
    let text = CommentText::try_from(body.into_inner())?;
    let post = visible_post(&pg, caller.id, path.into_inner()).await?;
    let comment = social::add_comment(&pg, post.id, caller.id, &text.0).await?;
    // Its comment count changed.
    stale_after_write(posts::forget_card(&redis, post.id).await, "a comment");
    let data = Map::from_iter([
        ("post_id".to_owned(), json!(post.id)),
        ("comment_id".to_owned(), json!(comment.id)),
    ]);
    notify(
        &pg,
        &events,
        SocialKind::Comment,
        caller.id,
        post.author_id,
        data,
    )
    .await?;
    Ok(HttpResponse::Created().json(CommentView::from(comment)))
}

/// The post's comments, oldest first.
#[utoipa::path(get, path = "/v1/posts/{id}/comments", tag = "social", params(("id" = uuid::Uuid, Path, description = "The post's id."), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<CommentView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/posts/{id}/comments")]
async fn list_comments(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let post = visible_post(&pg, caller.id, path.into_inner()).await?;
    let page = Page::try_from(query.into_inner())?;
    let rows = social::list_comments(&pg, post.id, &page).await?;
    let paged = page.finish(rows, |row| (row.created_at, row.id));
    Ok(HttpResponse::Ok().json(Paged {
        items: paged.items.into_iter().map(CommentView::from).collect(),
        next_cursor: paged.next_cursor,
    }))
}

/// A cache entry that could not be dropped after its PostgreSQL write committed. The write
/// stands (answering 500 now would make the client repeat a comment); the entry shows the old
/// count or like for at most its TTL (`store::posts::cards`), and the failure is counted.
fn stale_after_write<E: std::fmt::Debug>(result: Result<(), E>, what: &str) {
    if let Err(error) = result {
        metrics::counter!("pettysync_feed_cache_invalidation_failures_total").increment(1);
        tracing::warn!(error = ?error, "after {what}, the feed cache could not be updated; it shows the old entry until it expires");
    }
}
