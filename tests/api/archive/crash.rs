//! A pass cut short after the upload, after the manifest row, and mid-delete (the
//! failpoint test hook): every sample stays in MongoDB, in S3 or in both, never neither,
//! and the next pass finishes with each sample in the archive once.

use std::collections::BTreeSet;

use pettysync::store::archive::{ArchiveError, Failpoint};

use super::*;
use crate::helpers::{spawn_app, unique_serial};

const SAMPLES: i64 = 10;

/// The seqs of `serial` still in MongoDB.
async fn hot_seqs(app: &TestApp, serial: &str) -> BTreeSet<i64> {
    let mut cursor = app
        .mongo()
        .await
        .collection::<Document>("telemetry")
        .find(doc! { "meta.collar": serial })
        .await
        .expect("MongoDB reads");
    let mut seqs = BTreeSet::new();
    while cursor.advance().await.expect("MongoDB reads") {
        let doc = cursor.deserialize_current().expect("a document");
        seqs.insert(
            doc.get_i64("seq")
                .or_else(|_| doc.get_i32("seq").map(i64::from))
                .expect("seq"),
        );
    }
    seqs
}

/// Every seq in the day's objects, with repeats (a repeat is a duplicate in the archive).
async fn archived_seqs(app: &TestApp, serial: &str, day: NaiveDate) -> Vec<i64> {
    let mut seqs = Vec::new();
    for key in keys_of_day(app, serial, day).await {
        for line in object_lines(app, &key).await.unwrap_or_default() {
            seqs.push(line["seq"].as_i64().expect("seq"));
        }
    }
    seqs.sort();
    seqs
}

async fn an_interrupted_pass_is_completed_by_the_next(failpoint: Failpoint) {
    let app = spawn_app().await;
    let serial = unique_serial();
    let day = old_day(0);
    let all: BTreeSet<i64> = (1..=SAMPLES).collect();
    let docs = all
        .iter()
        .map(|&seq| sample(&serial, None, seq, at(day, seq)).1)
        .collect();
    insert(&app, docs).await;
    let stores = stores(&app).await;
    let mut interrupted = options(&app);
    interrupted.failpoint = Some(failpoint);
    interrupted.delete_batch = 3;

    let error = pass(&stores, &interrupted)
        .await
        .expect_err("the pass stops at the failpoint");
    assert!(
        matches!(error, ArchiveError::Failpoint(f) if f == failpoint),
        "{error}"
    );
    let hot = hot_seqs(&app, &serial).await;
    let archived: BTreeSet<i64> = archived_seqs(&app, &serial, day)
        .await
        .into_iter()
        .collect();
    assert_eq!(
        &hot | &archived,
        all,
        "every sample is in MongoDB, S3 or both"
    );
    if failpoint == Failpoint::MidDelete {
        assert_eq!(
            hot.len() as i64,
            SAMPLES - 3,
            "stopped after the first delete batch"
        );
    }

    pass(&stores, &options(&app))
        .await
        .expect("the next pass succeeds");
    assert!(
        hot_seqs(&app, &serial).await.is_empty(),
        "MongoDB holds none of the day"
    );
    let archived = archived_seqs(&app, &serial, day).await;
    assert_eq!(
        archived,
        all.iter().copied().collect::<Vec<_>>(),
        "each sample archived once"
    );
    let (rows, pending): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE state <> 'deleted') FROM archive_segments WHERE serial = $1",
    )
    .bind(&serial)
    .fetch_one(&stores.pg)
    .await
    .expect("the manifest reads");
    assert_eq!(
        (rows, pending),
        (1, 0),
        "one object, fully deleted from MongoDB"
    );
}

#[actix_web::test]
async fn a_pass_killed_after_the_upload_is_completed_by_the_next() {
    an_interrupted_pass_is_completed_by_the_next(Failpoint::AfterUpload).await;
}

#[actix_web::test]
async fn a_pass_killed_after_the_manifest_row_is_completed_by_the_next() {
    an_interrupted_pass_is_completed_by_the_next(Failpoint::AfterManifest).await;
}

#[actix_web::test]
async fn a_pass_killed_mid_delete_is_completed_by_the_next() {
    an_interrupted_pass_is_completed_by_the_next(Failpoint::MidDelete).await;
}
