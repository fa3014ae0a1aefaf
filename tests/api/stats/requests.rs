//! Who may read a pet's statistics, what a bad request gets, and one pass at a time.

use chrono::NaiveDate;
use pettysync::ids::PetId;
use pettysync::store::locks::{self, Job};
use pettysync::store::rollups;
use reqwest::StatusCode;

use super::*;
use crate::helpers::{expect_field_error, expect_problem, string_at};

const DAY: i64 = 24 * HOUR;

#[actix_web::test]
async fn a_family_member_reads_the_stats_and_a_stranger_gets_404() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let stranger = app.register_someone().await;
    let pet = string_at(&app.create_pet(&owner, "Bo").await, "/id");
    app.add_member(&owner, &pet, &member.email).await;
    let path = format!("/v1/pets/{pet}/stats?bucket=day&from=0&to={DAY}");
    let body = expect_json(app.get(&path, member.bearer()).await, StatusCode::OK).await;
    assert_eq!(body["items"], json!([]));
    expect_problem(
        app.get(&path, stranger.bearer()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        app.get(&path, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[actix_web::test]
async fn each_bad_query_is_a_422_naming_what_is_wrong() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet = string_at(&app.create_pet(&owner, "Bo").await, "/id");
    let get = |query: String| {
        let (app, owner, pet) = (&app, &owner, &pet);
        async move {
            app.get(&format!("/v1/pets/{pet}/stats?{query}"), owner.bearer())
                .await
        }
    };
    for (query, field) in [
        (format!("bucket=week&from=0&to={DAY}"), "bucket"),
        (format!("from=0&to={DAY}"), "bucket"),
        (format!("bucket=day&from=0&to={DAY}&tz=Mars/Olympus"), "tz"),
        (format!("bucket=day&to={DAY}"), "from"),
        (format!("bucket=day&from=yesterday&to={DAY}"), "from"),
        (format!("bucket=day&from=-1&to={DAY}"), "from"),
        ("bucket=day&from=0".to_string(), "to"),
        (format!("bucket=day&from={DAY}&to={DAY}"), "to"),
    ] {
        expect_field_error(get(query).await, field).await;
    }
    for query in [
        format!("bucket=hour&from=0&to={}", 31 * DAY + 1),
        format!("bucket=day&from=0&to={}", 366 * DAY + 1),
    ] {
        expect_problem(
            get(query).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "range_too_large",
        )
        .await;
    }
    for query in [
        format!("bucket=hour&from=0&to={}", 31 * DAY),
        format!("bucket=day&from=0&to={}", 366 * DAY),
    ] {
        expect_json(get(query).await, StatusCode::OK).await;
    }
}

#[actix_web::test]
async fn a_pass_while_another_node_holds_the_lock_leaves_the_marks_to_it() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Bo").await, "/id");
    let pet = PetId(pet_id.parse().expect("a pet id is a UUID"));
    let pg = app.pg().await;
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).expect("a date");
    let hour = day
        .and_hms_opt(7, 0, 0)
        .expect("a time")
        .and_utc()
        .timestamp_millis();
    rollups::mark_dirty(&pg, vec![(pet, hour)])
        .await
        .expect("marked");
    assert!(!rollups::day_settled(&pg, pet, day).await.expect("read"));

    let held = locks::try_exclusive(&pg, Job::Rollup)
        .await
        .expect("PostgreSQL answers")
        .expect("no one holds the lock yet");
    let report = pettysync::cli::rollup(&app.settings, None)
        .await
        .expect("runs");
    assert!(report.starts_with("another node"), "{report}");
    assert!(
        !rollups::day_settled(&pg, pet, day).await.expect("read"),
        "the mark stays"
    );

    held.release().await.expect("released");
    let report = pettysync::cli::rollup(&app.settings, None)
        .await
        .expect("runs");
    assert!(report.starts_with("rolled up 1 hours"), "{report}");
    assert!(rollups::day_settled(&pg, pet, day).await.expect("read"));
    let next = day.succ_opt().expect("a next day");
    assert!(rollups::day_settled(&pg, pet, next).await.expect("read"));
}
