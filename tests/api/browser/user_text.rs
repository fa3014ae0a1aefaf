//! User text on the pages is text, never markup: a pet or fence named like an HTML tag is
//! shown as those characters, in the list, on the map's tooltips and on the sitter's page.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use super::driver::Browser;
use super::WebFixture;
use crate::helpers::{expect_json, PASSWORD};

/// Markup in a name: run as HTML it would add an `img` (its handler is also stopped by the
/// page's CSP, so the test looks for the element, not for the script's effect).
const PET_NAME: &str = r#"<img src=x onerror="document.body.dataset.xss='pet'">"#;
const FENCE_NAME: &str = r#"<img src=y onerror="document.body.dataset.xss='fence'"> park"#;

/// Bangkok, where the fixture's pet walks and where its fence is drawn.
const BANGKOK: (f64, f64) = (13.756331, 100.501762);

#[actix_web::test]
async fn pet_and_fence_names_show_as_text_on_the_map() {
    let web = WebFixture::start().await;
    let (app, owner, pet_id) = (&web.app, &web.owner, &web.collar.pet_id);
    let renamed = app
        .patch(
            &format!("/v1/pets/{pet_id}"),
            owner.bearer(),
            &json!({"name": PET_NAME}),
        )
        .await;
    expect_json(renamed, StatusCode::OK).await;
    let fence = json!({"name": FENCE_NAME, "kind": "safe",
        "geometry": {"type": "Circle", "center": [BANGKOK.1, BANGKOK.0], "radius_m": 300.0}});
    let created = app
        .post(
            &format!("/v1/pets/{pet_id}/geofences"),
            owner.bearer(),
            &fence,
        )
        .await;
    expect_json(created, StatusCode::CREATED).await;
    web.move_pet(1, BANGKOK.0, BANGKOK.1, json!({})).await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.type_into("#email", &owner.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#sign-in").await;

    // The pet's permanent tooltip on its marker, once the live state has a position.
    browser
        .wait_for_text(".leaflet-tooltip", "the pet's tooltip", |text| {
            text == PET_NAME
        })
        .await;
    let pet = format!("#pets li[data-pet-id='{pet_id}'] .pet-name");
    assert_eq!(browser.text_of(&pet).await, PET_NAME);

    // The fence's tooltip opens on hover: hover every shape drawn for the selected pet.
    browser
        .click(&format!("#pets li[data-pet-id='{pet_id}']"))
        .await;
    browser.wait_for("path.leaflet-interactive").await;
    let fence_label = format!("{FENCE_NAME} (safe)");
    let hovered = browser
        .client
        .execute(
            "document.querySelectorAll('path.leaflet-interactive').forEach((shape) =>
               shape.dispatchEvent(new MouseEvent('mouseover', { bubbles: true })));",
            vec![],
        )
        .await;
    hovered.expect("the shapes can be hovered");
    browser
        .wait_for_text(
            ".leaflet-tooltip:not(.leaflet-tooltip-top)",
            "the fence's tooltip",
            |t| t == fence_label,
        )
        .await;

    let markup = browser
        .client
        .find_all(Locator::Css(
            ".leaflet-tooltip img, #pets img, #detail-name img",
        ))
        .await
        .expect("the page can be searched");
    assert!(
        markup.is_empty(),
        "a name became {} img element(s)",
        markup.len()
    );
    let xss = browser
        .client
        .execute("return document.body.dataset.xss || null", vec![]);
    assert_eq!(xss.await.expect("a script runs"), serde_json::Value::Null);
    browser.close().await;
}

#[actix_web::test]
async fn the_sitter_page_shows_a_pet_name_as_text() {
    let web = WebFixture::start().await;
    let pet_id = &web.collar.pet_id;
    let renamed = web
        .app
        .patch(
            &format!("/v1/pets/{pet_id}"),
            web.owner.bearer(),
            &json!({"name": PET_NAME}),
        )
        .await;
    expect_json(renamed, StatusCode::OK).await;
    let link = web.share_link(&["location"]).await;

    let browser = Browser::start().await;
    browser.goto(&web.page_of(&link)).await;
    browser
        .wait_for_text("#pet-name", "the pet's name", |text| text == PET_NAME)
        .await;
    let markup = browser.client.find_all(Locator::Css("#pet-name img")).await;
    assert!(markup.expect("the page can be searched").is_empty());
    browser.close().await;
}
