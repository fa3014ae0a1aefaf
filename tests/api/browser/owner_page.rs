//! The owner's page: signing in, the pet with its live state, and creating a share link.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::driver::Browser;
use super::{is_coordinate, WebFixture};
use crate::helpers::{expect_json, PASSWORD};

#[actix_web::test]
async fn the_owner_page_signs_in_shows_the_pet_and_creates_a_share_link() {
    let web = WebFixture::start().await;
    let browser = Browser::start().await;
    browser.goto(&web.app.url("/")).await;

    browser
        .wait_for("#email")
        .await
        .send_keys(&web.owner.email)
        .await
        .expect("the email can be typed");
    browser
        .wait_for("#password")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("the password can be typed");
    browser.click("#sign-in").await;

    let pet = format!("#pets li[data-pet-id='{}']", web.collar.pet_id);
    let item = browser.text_of(&pet).await;
    assert!(item.contains(&web.pet_name), "the pet is listed: {item}");

    // Its live state reaches the list through the page's WebSocket.
    browser
        .wait_for_attr("body", "data-socket", "the live socket to open", |v| {
            v == "open"
        })
        .await;
    web.move_pet(1, 13.756331, 100.501762, json!({"bat": 77}))
        .await;
    browser
        .wait_for_attr(&pet, "data-lat", "the pet's live position", |v| {
            is_coordinate(v, 13.756331)
        })
        .await;

    browser.click(&pet).await;
    browser.click("#share-scopes input[value='vitals']").await;
    browser.click("#share-create").await;
    let url = browser
        .wait_for_attr("#share-url", "href", "the new link's URL", |v| {
            v.contains("/s/")
        })
        .await;
    let public = web.app.settings.public_url.trim_end_matches('/');
    assert!(url.starts_with(&format!("{public}/s/")), "link URL {url}");
    assert_eq!(browser.text_of("#share-url").await, url);

    let listed = web
        .app
        .get(
            &format!("/v1/pets/{}/share-links", web.collar.pet_id),
            web.owner.bearer(),
        )
        .await;
    let listed = expect_json(listed, StatusCode::OK).await;
    let links = listed["items"].as_array().expect("a list has items");
    assert_eq!(links.len(), 1, "{listed}");
    let scopes: Vec<&str> = links[0]["scopes"]
        .as_array()
        .expect("a link has scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"location") && scopes.contains(&"vitals"),
        "{scopes:?}"
    );
    let row = format!(
        "#share-list li[data-link-id='{}']",
        links[0]["id"].as_str().unwrap_or_default()
    );
    browser.wait_for(&row).await;
    browser.close().await;
}
