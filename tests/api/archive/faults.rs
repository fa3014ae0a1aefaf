//! S3 down during a pass, two passes at once, and a deleted pet's archive.

use pettysync::actors::archival::{run_locked, Outcome};
use pettysync::store::locks::{try_exclusive, Job};

use super::*;
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{spawn_app, spawn_app_with, string_at, unique_serial};

#[actix_web::test]
async fn with_s3_down_a_pass_fails_cleanly_and_the_next_one_archives() {
    let base = pettysync::config::Settings::load().expect("settings load");
    let endpoint = base
        .s3_endpoint
        .clone()
        .expect("PETTYSYNC_S3_ENDPOINT is set");
    let (switch, proxied) = TcpSwitch::in_front_of(&endpoint).await;
    let app = spawn_app_with(|s| s.s3_endpoint = Some(proxied.trim_end_matches('/').into())).await;
    let serial = unique_serial();
    let day = old_day(0);
    insert(
        &app,
        (1..=4)
            .map(|seq| sample(&serial, None, seq, at(day, seq)).1)
            .collect(),
    )
    .await;
    let stores = stores(&app).await;

    switch.set(false);
    let error = pass(&stores, &options(&app))
        .await
        .expect_err("no S3, no pass");
    assert!(matches!(error, archive::ArchiveError::S3(_)), "{error}");
    assert_eq!(hot_count(&app, &serial).await, 4, "nothing deleted");
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM archive_segments")
        .fetch_one(&stores.pg)
        .await
        .expect("the manifest reads");
    assert_eq!(rows, 0, "nothing recorded");

    switch.set(true);
    let report = pass(&stores, &options(&app)).await.expect("S3 is back");
    assert_eq!(report.samples, 4);
    assert_eq!(hot_count(&app, &serial).await, 0);
}

#[actix_web::test]
async fn a_pass_waits_while_another_holds_the_lock() {
    let app = spawn_app().await;
    let serial = unique_serial();
    insert(&app, vec![sample(&serial, None, 1, at(old_day(0), 1)).1]).await;
    let stores = stores(&app).await;
    let held = try_exclusive(&stores.pg, Job::Archival)
        .await
        .expect("PostgreSQL answers")
        .expect("the lock is free");
    let outcome = run_locked(&stores, &RollupsSettled(stores.pg.clone()), &options(&app))
        .await
        .expect("no error");
    assert!(matches!(outcome, Outcome::Busy), "{outcome:?}");
    assert_eq!(
        hot_count(&app, &serial).await,
        1,
        "the second pass did nothing"
    );
    held.release().await.expect("released");
    let outcome = run_locked(&stores, &RollupsSettled(stores.pg.clone()), &options(&app))
        .await
        .expect("no error");
    assert!(
        matches!(outcome, Outcome::Ran(ref r) if r.samples == 1),
        "{outcome:?}"
    );
}

#[actix_web::test]
async fn deleting_a_pet_deletes_its_archive_objects_and_manifest_rows() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet = string_at(&app.create_pet(&owner, "Ada").await, "/id");
    let other = string_at(&app.create_pet(&owner, "Bix").await, "/id");
    let (serial, kept_serial) = (unique_serial(), unique_serial());
    let day = old_day(0);
    insert(
        &app,
        vec![
            sample(&serial, Some(&pet), 1, at(day, 1)).1,
            sample(&kept_serial, Some(&other), 1, at(day, 1)).1,
        ],
    )
    .await;
    let stores = stores(&app).await;
    pass(&stores, &options(&app))
        .await
        .expect("the pass succeeds");
    let key = object_key(&serial, day, 0);
    assert!(object_lines(&app, &key).await.is_some());

    let response = app.delete(&format!("/v1/pets/{pet}"), owner.bearer()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        object_lines(&app, &key).await.is_none(),
        "the pet's object is gone"
    );
    let rows: Vec<(String,)> = sqlx::query_as("SELECT serial FROM archive_segments")
        .fetch_all(&stores.pg)
        .await
        .expect("the manifest reads");
    assert_eq!(
        rows,
        vec![(kept_serial.clone(),)],
        "only the other pet's row stays"
    );
    let (orphans,): (i64,) = sqlx::query_as("SELECT count(*) FROM archive_orphans")
        .fetch_one(&stores.pg)
        .await
        .expect("reads");
    assert_eq!(orphans, 0);
    assert!(object_lines(&app, &object_key(&kept_serial, day, 0))
        .await
        .is_some());
}

/// A day whose roll-ups are not complete stays in MongoDB: its figures must be computed
/// from the raw samples before they leave. Once the roll-up pass ran, the day moves.
#[actix_web::test]
async fn a_day_waits_for_its_roll_ups_before_it_is_archived() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet = string_at(&app.create_pet(&owner, "Ada").await, "/id");
    let serial = unique_serial();
    let ts = at(old_day(0), 1);
    insert(&app, vec![sample(&serial, Some(&pet), 1, ts).1]).await;
    let stores = stores(&app).await;
    let pet_id = pettysync::ids::PetId(pet.parse().expect("a pet id"));
    let hour = ts - ts.rem_euclid(3_600_000);
    pettysync::store::rollups::mark_dirty(&stores.pg, vec![(pet_id, hour)])
        .await
        .expect("marked");

    let report = pass(&stores, &options(&app)).await.expect("a pass");
    assert_eq!((report.objects, report.days_waiting), (0, 1), "{report:?}");
    assert_eq!(hot_count(&app, &serial).await, 1, "still in MongoDB");

    pettysync::actors::rollup::run_pass(&history(&app, &stores))
        .await
        .expect("a roll-up pass");
    let report = pass(&stores, &options(&app)).await.expect("a pass");
    assert_eq!(report.objects, 1, "{report:?}");
    assert_eq!(hot_count(&app, &serial).await, 0, "archived once rolled up");
}
