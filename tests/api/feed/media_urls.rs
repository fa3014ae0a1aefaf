//! Presigned media URLs in feed pages: one signing per object, reused while at least half
//! of its lifetime is left, then signed afresh.

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use reqwest::StatusCode;

use crate::helpers::{expect_json, poll_until, publish_post_directly, spawn_app, spawn_app_with};

/// The media URL of the newest post in the user's feed.
async fn first_media_url(app: &crate::helpers::TestApp, user: &crate::helpers::TestUser) -> String {
    let page = expect_json(app.get("/v1/feed", user.bearer()).await, StatusCode::OK).await;
    page["items"][0]["media"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a feed item has a media URL: {page}"))
        .to_owned()
}

/// When the URL was signed (its `X-Amz-Date`), in Unix seconds.
fn signed_at(url: &str) -> i64 {
    let parsed = url::Url::parse(url).expect("a media URL parses");
    let date = parsed
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-Date")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("a presigned URL has X-Amz-Date: {url}"));
    NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ")
        .expect("X-Amz-Date is a SigV4 date")
        .and_utc()
        .timestamp()
}

#[actix_web::test]
async fn a_media_url_is_reused_while_it_is_fresh() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    publish_post_directly(&app, &author).await;
    let first = first_media_url(&app, &author).await;

    // Signed afresh, a URL would now carry a later X-Amz-Date.
    let signed = signed_at(&first);
    poll_until(
        "the clock to pass the signing second",
        Duration::from_secs(3),
        || async {
            if Utc::now().timestamp() > signed {
                Ok(())
            } else {
                Err("same second".to_owned())
            }
        },
    )
    .await;

    assert_eq!(first_media_url(&app, &author).await, first);
}

#[actix_web::test]
async fn a_media_url_is_signed_afresh_once_half_its_lifetime_is_spent() {
    let app = spawn_app_with(|settings| settings.media_url_ttl_s = 4).await;
    let author = app.register_someone().await;
    publish_post_directly(&app, &author).await;
    let first = first_media_url(&app, &author).await;

    let renewed = poll_until("a renewed URL", Duration::from_secs(10), || async {
        let url = first_media_url(&app, &author).await;
        if url == first {
            Err("still the first URL".to_owned())
        } else {
            Ok(url)
        }
    })
    .await;
    // Reused for half of the four seconds, so never renewed within the first two.
    assert!(
        signed_at(&renewed) >= signed_at(&first) + 2,
        "{first} then {renewed}"
    );
    assert!(renewed.contains("X-Amz-Expires=4"), "{renewed}");
}
