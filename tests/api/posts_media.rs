//! Posts with media on S3: presigned uploads that S3 itself checks (expiry, signature, the
//! signed type and length), publishing only what was uploaded as declared, the outbox row,
//! visibility of pending posts, limits, and deletion of the object with the post.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, fake_jpeg, spawn_app,
    spawn_app_with, string_at, upload_media, TestApp, TestUser,
};

const JPEG: &str = "image/jpeg";

/// Declares a JPEG post of `len` bytes; the 201 body `{post, upload}`.
async fn declared(app: &TestApp, user: &TestUser, len: usize) -> Value {
    expect_json(app.declare_post(user, JPEG, len).await, StatusCode::CREATED).await
}

async fn publish(app: &TestApp, user: &TestUser, post_id: &str) -> reqwest::Response {
    let path = format!("/v1/posts/{post_id}/publish");
    app.post(&path, user.bearer(), &json!({})).await
}

/// The S3 key the server gives a JPEG post.
fn jpeg_key(author: &TestUser, post_id: &str) -> String {
    format!("media/{}/{post_id}.jpg", author.id)
}

async fn outbox_rows(app: &TestApp, post_id: &str) -> i64 {
    let post_id: uuid::Uuid = post_id.parse().expect("post ids are UUIDs");
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM feed_outbox WHERE post_id = $1 AND author_id = (SELECT author_id FROM posts WHERE id = $1)")
            .bind(post_id)
            .fetch_one(&app.pg().await)
            .await
            .expect("feed_outbox can be read");
    count
}

#[actix_web::test]
async fn an_uploaded_post_is_published_and_its_media_downloads() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    let stranger = app.register_someone().await;
    let bytes = fake_jpeg(4321);

    let created = declared(&app, &author, bytes.len()).await;
    let post_id = string_at(&created, "/post/id");
    assert_eq!(created["post"]["status"], "pending", "{created}");
    assert_eq!(created["post"]["author"]["id"], author.id.as_str());
    assert_eq!(created["post"]["media"]["size_bytes"], 4321);
    let upload = &created["upload"];
    assert_eq!(
        upload["headers"],
        json!({"Content-Type": JPEG, "Content-Length": "4321"}),
        "exactly the signed headers: {upload}"
    );
    let now_ms = chrono::Utc::now().timestamp_millis();
    let expires_at = upload["expires_at"]
        .as_i64()
        .expect("expires_at is epoch ms");
    let ttl_ms = app.settings.upload_url_ttl_s as i64 * 1000;
    assert!((expires_at - now_ms - ttl_ms).abs() < 60_000, "{upload}");

    let uploaded = upload_media(&app.client, upload, bytes.clone()).await;
    expect_status(uploaded, StatusCode::OK).await;
    let published = expect_json(publish(&app, &author, &post_id).await, StatusCode::OK).await;
    assert_eq!(published["status"], "published", "{published}");
    assert!(published["published_at"].is_i64(), "{published}");

    let seen = app
        .get(&format!("/v1/posts/{post_id}"), stranger.bearer())
        .await;
    let seen = expect_json(seen, StatusCode::OK).await;
    assert_eq!(seen["status"], "published");
    assert_eq!(seen["liked_by_me"], false);
    let media = app
        .client
        .get(string_at(&seen, "/media/url"))
        .send()
        .await
        .expect("S3 answers");
    assert_eq!(media.status(), StatusCode::OK);
    assert_eq!(media.bytes().await.expect("media body").as_ref(), bytes);
}

#[actix_web::test]
async fn publishing_writes_one_outbox_row_even_when_repeated() {
    let app = spawn_app().await;
    let author = app.register_someone().await;

    let post = app.publish_image(&author, fake_jpeg(100)).await;
    let post_id = string_at(&post, "/id");
    assert_eq!(outbox_rows(&app, &post_id).await, 1);

    let again = expect_json(publish(&app, &author, &post_id).await, StatusCode::OK).await;
    assert_eq!(again["published_at"], post["published_at"]);
    assert_eq!(outbox_rows(&app, &post_id).await, 1);
}

#[actix_web::test]
async fn an_expired_upload_url_is_refused_by_s3() {
    let app = spawn_app_with(|s| s.upload_url_ttl_s = 1).await;
    let author = app.register_someone().await;
    let created = declared(&app, &author, 64).await;

    // The expiry is judged by S3's clock, not ours: a paused tokio clock cannot move it, so
    // this test really waits past the one-second lifetime.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let uploaded = upload_media(&app.client, &created["upload"], fake_jpeg(64)).await;
    expect_status(uploaded, StatusCode::FORBIDDEN).await;
}

#[actix_web::test]
async fn a_tampered_upload_is_refused_by_s3() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    let created = declared(&app, &author, 64).await;
    let upload = &created["upload"];

    let mut forged = upload.clone();
    forged["url"] = json!(with_signature_changed(&string_at(upload, "/url")));
    let response = upload_media(&app.client, &forged, fake_jpeg(64)).await;
    expect_status(response, StatusCode::FORBIDDEN).await;

    let mut other_type = upload.clone();
    other_type["headers"]["Content-Type"] = json!("image/png");
    let response = upload_media(&app.client, &other_type, fake_jpeg(64)).await;
    expect_status(response, StatusCode::FORBIDDEN).await;

    let mut other_length = upload.clone();
    other_length["headers"]["Content-Length"] = json!("65");
    let response = upload_media(&app.client, &other_length, fake_jpeg(65)).await;
    expect_status(response, StatusCode::FORBIDDEN).await;

    let post_id = string_at(&created, "/post/id");
    let refused = publish(&app, &author, &post_id).await;
    expect_problem(refused, StatusCode::CONFLICT, "upload_missing").await;
}

/// The URL with the last hex digit of `X-Amz-Signature` changed.
fn with_signature_changed(url: &str) -> String {
    let start = url
        .find("X-Amz-Signature=")
        .expect("a presigned URL is signed")
        + 16;
    let end = url[start..].find('&').map_or(url.len(), |at| start + at);
    let last = url[..end]
        .chars()
        .last()
        .expect("the signature is not empty");
    let replacement = if last == '0' { '1' } else { '0' };
    format!("{}{replacement}{}", &url[..end - 1], &url[end..])
}

#[actix_web::test]
async fn publishing_before_the_upload_is_refused_and_the_post_stays_pending() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    let stranger = app.register_someone().await;
    let created = declared(&app, &author, 64).await;
    let post_id = string_at(&created, "/post/id");
    let path = format!("/v1/posts/{post_id}");

    let refused = publish(&app, &author, &post_id).await;
    expect_problem(refused, StatusCode::CONFLICT, "upload_missing").await;
    let post = expect_json(app.get(&path, author.bearer()).await, StatusCode::OK).await;
    assert_eq!(post["status"], "pending");
    assert!(post["published_at"].is_null(), "{post}");
    assert_eq!(outbox_rows(&app, &post_id).await, 0);

    expect_problem(
        app.get(&path, stranger.bearer()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let not_theirs = publish(&app, &stranger, &post_id).await;
    expect_problem(not_theirs, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn an_object_of_another_size_or_type_is_never_published() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    let s3 = app.s3();

    for (len, content_type) in [(65, JPEG), (64, "image/png")] {
        let created = declared(&app, &author, 64).await;
        let post_id = string_at(&created, "/post/id");
        // Not through the signed URL (S3 would refuse): planted beside the server, as a
        // client with other credentials could.
        s3.put_object()
            .bucket(&app.settings.s3_bucket)
            .key(jpeg_key(&author, &post_id))
            .content_type(content_type)
            .body(fake_jpeg(len).into())
            .send()
            .await
            .expect("the object is stored");

        let refused = publish(&app, &author, &post_id).await;
        expect_problem(refused, StatusCode::CONFLICT, "upload_mismatch").await;
        let post = app
            .get(&format!("/v1/posts/{post_id}"), author.bearer())
            .await;
        assert_eq!(expect_json(post, StatusCode::OK).await["status"], "pending");
        assert_eq!(outbox_rows(&app, &post_id).await, 0);
    }
}

#[actix_web::test]
async fn a_media_type_not_allowed_or_a_long_caption_is_refused() {
    let app = spawn_app().await;
    let author = app.register_someone().await;

    expect_field_error(
        app.declare_post(&author, "image/gif", 64).await,
        "media.content_type",
    )
    .await;
    expect_field_error(app.declare_post(&author, JPEG, 0).await, "media.size_bytes").await;
    let long = json!({
        "caption": "x".repeat(2001),
        "media": {"content_type": JPEG, "size_bytes": 64},
    });
    expect_field_error(
        app.post("/v1/posts", author.bearer(), &long).await,
        "caption",
    )
    .await;
    let longest = json!({
        "caption": "é".repeat(2000),
        "media": {"content_type": "image/webp", "size_bytes": 64},
    });
    let created = expect_json(
        app.post("/v1/posts", author.bearer(), &longest).await,
        StatusCode::CREATED,
    )
    .await;
    assert!(
        string_at(&created, "/upload/url").contains(".webp?"),
        "{created}"
    );
}

#[actix_web::test]
async fn media_over_its_size_limit_is_refused() {
    let app = spawn_app_with(|s| {
        s.max_image_bytes = 1000;
        s.max_video_bytes = 5000;
    })
    .await;
    let author = app.register_someone().await;

    let too_big = app.declare_post(&author, JPEG, 1001).await;
    expect_problem(too_big, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    expect_status(
        app.declare_post(&author, JPEG, 1000).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.declare_post(&author, "video/mp4", 5000).await,
        StatusCode::CREATED,
    )
    .await;
    let too_long = app.declare_post(&author, "video/mp4", 5001).await;
    expect_problem(too_long, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[actix_web::test]
async fn a_post_about_a_pet_needs_a_pet_the_author_can_see() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    let stranger = app.register_someone().await;
    let own = string_at(&app.create_pet(&author, "Rex").await, "/id");
    let other = string_at(&app.create_pet(&stranger, "Tom").await, "/id");

    let declare = |pet: &str| json!({"pet_id": pet, "caption": "", "media": {"content_type": JPEG, "size_bytes": 8}});
    let created = app.post("/v1/posts", author.bearer(), &declare(&own)).await;
    let created = expect_json(created, StatusCode::CREATED).await;
    assert_eq!(created["post"]["pet_id"], own.as_str());
    let refused = app
        .post("/v1/posts", author.bearer(), &declare(&other))
        .await;
    expect_problem(refused, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn deleting_a_post_deletes_its_object() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    let stranger = app.register_someone().await;
    let post = app.publish_image(&author, fake_jpeg(256)).await;
    let post_id = string_at(&post, "/id");
    let path = format!("/v1/posts/{post_id}");
    let head = || {
        app.s3()
            .head_object()
            .bucket(&app.settings.s3_bucket)
            .key(jpeg_key(&author, &post_id))
            .send()
    };
    head().await.expect("the object is there before");

    let not_theirs = app.delete(&path, stranger.bearer()).await;
    expect_problem(not_theirs, StatusCode::NOT_FOUND, "not_found").await;
    head().await.expect("a stranger's delete leaves the object");

    expect_status(
        app.delete(&path, author.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let gone = head().await.expect_err("the object is deleted");
    assert!(
        gone.as_service_error().is_some_and(|e| e.is_not_found()),
        "HeadObject says 404: {gone:?}"
    );
    expect_problem(
        app.get(&path, author.bearer()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn the_openapi_document_describes_posts_and_the_social_routes() {
    let app = spawn_app().await;
    let document = expect_json(app.get("/openapi.json", None).await, StatusCode::OK).await;
    for path in [
        "/v1/posts",
        "/v1/posts/{id}/publish",
        "/v1/posts/{id}",
        "/v1/users/{id}/posts",
        "/v1/users/{id}/follow",
        "/v1/posts/{id}/like",
        "/v1/posts/{id}/comments",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    for schema in [
        "CreatePost",
        "CreatedPost",
        "PostView",
        "MediaView",
        "CommentView",
    ] {
        assert!(
            document["components"]["schemas"][schema].is_object(),
            "{schema} is documented"
        );
    }
}
