//! Every history reader spans the archive: `track.gpx` and `stats` answer the same before
//! and after a pass, and a late sample for an archived hour is rolled up together with the
//! archived samples of that hour (not alone, from what is left in MongoDB).

use pettysync::ids::PetId;

use super::*;
use crate::helpers::{spawn_app_with, string_at, unique_serial};

/// `track.gpx` over the test's days as text.
async fn gpx(app: &TestApp, user: &TestUser, pet: &str) -> String {
    let (from, to) = (at(old_day(0), 0), at(old_day(5), 0));
    let response = app
        .get(
            &format!("/v1/pets/{pet}/track.gpx?from={from}&to={to}"),
            user.bearer(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("a GPX body")
}

/// The pet's hourly figures over the test's days.
async fn hourly(app: &TestApp, user: &TestUser, pet: &str) -> Value {
    let (from, to) = (at(old_day(0), 0), at(old_day(5), 0));
    let path = format!("/v1/pets/{pet}/stats?bucket=hour&from={from}&to={to}");
    expect_json(app.get(&path, user.bearer()).await, StatusCode::OK).await
}

/// Marks the test's days stale for the pet and runs one roll-up pass.
async fn roll_up(app: &TestApp, stores: &ArchiveStores, pet: PetId) {
    let (from, to) = (at(old_day(0), 0), at(old_day(5), 0));
    pettysync::store::rollups::mark_range_dirty(&stores.pg, &[pet], from, to)
        .await
        .expect("marked");
    let report = pettysync::actors::rollup::run_pass(&history(app, stores))
        .await
        .expect("a roll-up pass");
    assert!(!report.skipped && report.failed_spans == 0, "{report:?}");
}

#[actix_web::test]
async fn gpx_and_stats_answer_the_same_after_a_pass_and_a_late_sample_rolls_up_with_the_archive() {
    let app = spawn_app_with(|s| s.rollup_interval_s = 3600).await;
    let owner = app.register_someone().await;
    let pet = string_at(&app.create_pet(&owner, "Ada").await, "/id");
    let pet_id = PetId(pet.parse().expect("a pet id"));
    let serial = unique_serial();
    let mut docs = Vec::new();
    for offset in 0..3 {
        for i in 0..6 {
            let seq = offset as i64 * 100 + i;
            docs.push(sample(&serial, Some(&pet), seq, at(old_day(offset), 5 * i + 1)).1);
        }
    }
    insert(&app, docs).await;
    let stores = stores(&app).await;
    roll_up(&app, &stores, pet_id).await;
    let (gpx_before, stats_before) = (
        gpx(&app, &owner, &pet).await,
        hourly(&app, &owner, &pet).await,
    );
    assert_eq!(gpx_before.matches("<trkpt ").count(), 18);
    assert_eq!(stats_before["items"][0]["samples"], 6, "{stats_before}");

    let report = pass(&stores, &options(&app))
        .await
        .expect("the pass succeeds");
    assert_eq!((report.objects, report.samples), (3, 18), "{report:?}");
    assert_eq!(hot_count(&app, &serial).await, 0);
    assert_eq!(
        gpx(&app, &owner, &pet).await,
        gpx_before,
        "GPX reads the archive"
    );
    roll_up(&app, &stores, pet_id).await;
    assert_eq!(
        hourly(&app, &owner, &pet).await,
        stats_before,
        "an hour recomputed after its day left MongoDB keeps its figures"
    );

    // A late sample inside the first archived hour: that hour now counts 7 samples.
    let late_at = at(old_day(0), 3);
    insert(&app, vec![sample(&serial, Some(&pet), 77, late_at).1]).await;
    roll_up(&app, &stores, pet_id).await;
    let after = hourly(&app, &owner, &pet).await;
    assert_eq!(after["items"][0]["samples"], 7, "{after}");
    assert_eq!(
        gpx(&app, &owner, &pet).await.matches("<trkpt ").count(),
        19,
        "the late hot sample and the archived ones, each once"
    );
}
