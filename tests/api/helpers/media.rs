//! Posts and their media: pretend images, uploads straight to S3, published posts.

use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;

/// The bytes of a pretend JPEG of `len` bytes (a JPEG start marker, then filler that differs
/// from call to call), for media uploads.
pub fn fake_jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF];
    bytes.extend(random_string(len).into_bytes());
    bytes.truncate(len);
    bytes
}

/// PUTs `bytes` to an upload as `POST /v1/posts` answered it, with exactly its headers,
/// the way a phone uploads straight to S3.
pub async fn upload_media(client: &reqwest::Client, upload: &Value, bytes: Vec<u8>) -> Response {
    assert_eq!(upload["method"], "PUT", "{upload}");
    let mut request = client.put(string_at(upload, "/url")).body(bytes);
    let headers = upload["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("an upload has headers: {upload}"));
    for (name, value) in headers {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("{name} is a string"));
        request = request.header(name.as_str(), value);
    }
    request.send().await.expect("S3 answers")
}

impl TestApp {
    /// An S3 client for the server's bucket with the server's credentials, to look at (or
    /// plant) objects behind the server's back.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let settings = &self.settings;
        let credentials = aws_sdk_s3::config::Credentials::new(
            settings.aws_access_key_id.clone().unwrap_or_default(),
            settings
                .aws_secret_access_key
                .as_ref()
                .map(|secret| secret.expose_secret().to_owned())
                .unwrap_or_default(),
            None,
            None,
            "pettysync-tests",
        );
        let mut config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(
                settings
                    .aws_region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".to_owned()),
            ))
            .credentials_provider(credentials);
        if let Some(endpoint) = &settings.s3_endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }

    /// The server's own PostgreSQL database, for rows the API does not show.
    pub async fn pg(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(self.settings.database_url.expose_secret())
            .await
            .expect("the test database is reachable")
    }

    /// `POST /v1/posts` declaring `size_bytes` of `content_type`; the raw response.
    pub async fn declare_post(
        &self,
        user: &TestUser,
        content_type: &str,
        size_bytes: usize,
    ) -> Response {
        let body = json!({
            "caption": "a walk in the park",
            "media": {"content_type": content_type, "size_bytes": size_bytes},
        });
        self.post("/v1/posts", user.bearer(), &body).await
    }

    /// Declares an image post of `bytes`, uploads them and publishes it; the published post.
    pub async fn publish_image(&self, user: &TestUser, bytes: Vec<u8>) -> Value {
        let created = expect_json(
            self.declare_post(user, "image/jpeg", bytes.len()).await,
            StatusCode::CREATED,
        )
        .await;
        let uploaded = upload_media(&self.client, &created["upload"], bytes).await;
        assert!(
            uploaded.status().is_success(),
            "S3 took the upload: {uploaded:?}"
        );
        let path = format!("/v1/posts/{}/publish", string_at(&created, "/post/id"));
        let published = self.post(&path, user.bearer(), &json!({})).await;
        expect_json(published, StatusCode::OK).await
    }
}

/// Publishes a post by `author` the way `POST /v1/posts/{id}/publish` does: the published
/// post and its feed outbox row in one transaction (no media is uploaded: rendering a post
/// only presigns its key). Returns the post's id.
pub async fn publish_post_directly(app: &TestApp, author: &TestUser) -> Uuid {
    let pg = app.pg().await;
    let author: Uuid = author.id.parse().expect("a user id is a UUID");
    let post = publish_post_on(&pg, author).await;
    pg.close().await;
    post
}

/// [`publish_post_directly`] on a pool, for a test that has no server yet.
pub async fn publish_post_on(pg: &sqlx::PgPool, author: Uuid) -> Uuid {
    let post = Uuid::new_v4();
    let mut tx = pg.begin().await.expect("a transaction begins");
    sqlx::query(
        "INSERT INTO posts (id, author_id, caption, media_key, media_content_type,
                            media_size_bytes, status, published_at)
         VALUES ($1, $2, 'a walk in the park', $3, 'image/jpeg', 1000, 'published', now())",
    )
    .bind(post)
    .bind(author)
    .bind(format!("media/{author}/{post}.jpg"))
    .execute(&mut *tx)
    .await
    .expect("the post is inserted");
    sqlx::query("INSERT INTO feed_outbox (post_id, author_id) VALUES ($1, $2)")
        .bind(post)
        .bind(author)
        .execute(&mut *tx)
        .await
        .expect("the outbox row is inserted");
    tx.commit().await.expect("the publish commits");
    post
}
