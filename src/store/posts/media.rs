//! A post's media object in S3, reached only through presigned URLs and metadata checks:
//! its key, the presigned PUT a client uploads with, what S3 holds under the key, and its
//! deletion (the presigned GET it is shown with is in `media_urls`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::Settings;
use crate::ids::UserId;

/// A media object: where it lives and what it must be.
#[derive(Debug, Clone)]
pub struct Media {
    pub key: String,
    pub content_type: String,
    pub size_bytes: i64,
}

/// The S3 key of a post's media: `media/{author_id}/{post_id}.{ext}`.
pub fn media_key(author: UserId, post: Uuid, extension: &str) -> String {
    format!("media/{author}/{post}.{extension}")
}

/// Where and how the client uploads a post's media.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub url: String,
    /// Exactly the headers the client must send: the ones bound into the signature.
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// A presigned PUT of the media object, valid for `upload_url_ttl_s`, with its content type
/// and length signed: S3 refuses any other type or length.
pub async fn presign_upload(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    media: &Media,
) -> anyhow::Result<UploadTicket> {
    let start = SystemTime::now();
    let ttl = Duration::from_secs(settings.upload_url_ttl_s);
    let config = PresigningConfig::builder()
        .start_time(start)
        .expires_in(ttl)
        .build()?;
    let request = s3
        .put_object()
        .bucket(&settings.s3_bucket)
        .key(&media.key)
        .content_type(&media.content_type)
        .content_length(media.size_bytes)
        .presigned(config)
        .await
        .context("presigning a media upload")?;
    let headers = request
        .headers()
        .map(|(name, value)| (header_case(name), value.to_owned()))
        .collect();
    Ok(UploadTicket {
        url: request.uri().to_owned(),
        headers,
        expires_at: DateTime::<Utc>::from(start + ttl),
    })
}

/// `content-length` → `Content-Length`: HTTP names are case-insensitive; this is for people.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// What S3 holds under a media key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredMedia {
    Missing,
    Present {
        size_bytes: Option<i64>,
        content_type: Option<String>,
    },
}

/// Looks at the object's metadata (HeadObject), without reading it.
pub async fn head_media(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    key: &str,
) -> anyhow::Result<StoredMedia> {
    let result = s3
        .head_object()
        .bucket(&settings.s3_bucket)
        .key(key)
        .send()
        .await;
    match result {
        Ok(head) => Ok(StoredMedia::Present {
            size_bytes: head.content_length(),
            content_type: head.content_type().map(str::to_owned),
        }),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|service| service.is_not_found()) =>
        {
            Ok(StoredMedia::Missing)
        }
        Err(error) => Err(anyhow::Error::new(error).context("checking a media upload")),
    }
}

/// Deletes the media object; deleting one that is not there succeeds.
pub async fn delete_media(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    key: &str,
) -> anyhow::Result<()> {
    s3.delete_object()
        .bucket(&settings.s3_bucket)
        .key(key)
        .send()
        .await
        .context("deleting a post's media")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_shown_in_their_usual_case() {
        assert_eq!(header_case("content-length"), "Content-Length");
        assert_eq!(header_case("content-type"), "Content-Type");
        assert_eq!(header_case("x-amz-acl"), "X-Amz-Acl");
    }

    #[test]
    fn a_media_key_names_the_author_and_the_post() {
        let (author, post) = (UserId::new(), Uuid::new_v4());
        assert_eq!(
            media_key(author, post, "jpg"),
            format!("media/{author}/{post}.jpg")
        );
    }
}
