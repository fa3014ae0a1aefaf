//! Three days of two collars archived: objects at the layout's keys holding exactly the
//! stored samples, the manifest, MongoDB emptied, `track` unchanged; a late sample for an
//! archived day goes to part 1.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;
use crate::helpers::{spawn_app, string_at, unique_serial};

const PER_DAY: i64 = 5;

/// key, count, sha256, bytes, state, pet_id, first_ts, last_ts
type ManifestRow = (
    String,
    i64,
    String,
    i64,
    String,
    Option<uuid::Uuid>,
    DateTime<Utc>,
    DateTime<Utc>,
);

#[actix_web::test]
async fn a_pass_moves_old_days_to_s3_exactly_and_track_answers_the_same() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pets = [
        string_at(&app.create_pet(&owner, "Ada").await, "/id"),
        string_at(&app.create_pet(&owner, "Bix").await, "/id"),
    ];
    let serials = [unique_serial(), unique_serial()];
    let mut expected: HashMap<String, Vec<Value>> = HashMap::new();
    let mut docs = Vec::new();
    for (serial, pet) in serials.iter().zip(&pets) {
        for offset in 0..3 {
            let day = old_day(offset);
            for i in 0..PER_DAY {
                let seq = offset as i64 * 100 + i;
                let (line, doc) = sample(serial, Some(pet), seq, at(day, 60 * i + 7));
                expected
                    .entry(object_key(serial, day, 0))
                    .or_default()
                    .push(line);
                docs.push(doc);
            }
        }
    }
    // A day inside the hot window stays.
    let (_, hot) = sample(
        &serials[0],
        Some(&pets[0]),
        999,
        Utc::now().timestamp_millis(),
    );
    docs.push(hot);
    insert(&app, docs).await;
    let before = [
        track(&app, &owner, &pets[0]).await,
        track(&app, &owner, &pets[1]).await,
    ];
    assert_eq!(before[0]["points"].as_array().map(Vec::len), Some(15));

    let stores = stores(&app).await;
    let report = pass(&stores, &options(&app))
        .await
        .expect("the pass succeeds");
    assert_eq!((report.objects, report.samples), (6, 30));

    for (key, lines) in &expected {
        let stored = object_lines(&app, key)
            .await
            .unwrap_or_else(|| panic!("{key} exists"));
        assert_eq!(
            &stored, lines,
            "{key} holds exactly the stored samples, oldest first"
        );
    }
    let pg = &stores.pg;
    for serial in &serials {
        let rows: Vec<ManifestRow> = sqlx::query_as(
            "SELECT key, count, sha256, bytes, state, pet_id, first_ts, last_ts
                 FROM archive_segments WHERE serial = $1 ORDER BY day",
        )
        .bind(serial)
        .fetch_all(pg)
        .await
        .expect("the manifest reads");
        assert_eq!(rows.len(), 3);
        for (key, count, sha, bytes, state, pet, first, last) in rows {
            let object = app
                .s3()
                .get_object()
                .bucket(&app.settings.s3_bucket)
                .key(&key)
                .send()
                .await
                .expect("object");
            let raw = object.body.collect().await.expect("body").into_bytes();
            assert_eq!(
                sha,
                hex::encode(Sha256::digest(&raw)),
                "the manifest's SHA-256 is the object's"
            );
            assert_eq!(bytes as usize, raw.len());
            assert_eq!(count, PER_DAY);
            assert_eq!(state, "deleted");
            assert!(pet.is_some_and(|p| pets.contains(&p.to_string())));
            let lines = &expected[&key];
            assert_eq!(
                (ms(first), ms(last)),
                (
                    lines[0]["ts"].as_i64().unwrap(),
                    lines[4]["ts"].as_i64().unwrap()
                )
            );
        }
    }
    assert_eq!(
        hot_count(&app, &serials[0]).await,
        1,
        "only the hot sample stays"
    );
    assert_eq!(hot_count(&app, &serials[1]).await, 0);
    let after = [
        track(&app, &owner, &pets[0]).await,
        track(&app, &owner, &pets[1]).await,
    ];
    assert_eq!(after, before, "track answers the same after the pass");

    // A late sample for an archived day: the next pass writes part 1 of that day.
    let day = old_day(1);
    let (late_line, late) = sample(&serials[0], Some(&pets[0]), 150, at(day, 30));
    insert(&app, vec![late]).await;
    let report = pass(&stores, &options(&app))
        .await
        .expect("the second pass succeeds");
    assert_eq!((report.objects, report.samples), (1, 1));
    let part1 = object_key(&serials[0], day, 1);
    assert!(part1.ends_with(".part-1.ndjson.zst"), "{part1}");
    assert_eq!(object_lines(&app, &part1).await, Some(vec![late_line]));
    assert_eq!(keys_of_day(&app, &serials[0], day).await.len(), 2);
    assert_eq!(hot_count(&app, &serials[0]).await, 1);
    let points = track(&app, &owner, &pets[0]).await["points"]
        .as_array()
        .map(Vec::len);
    assert_eq!(
        points,
        Some(16),
        "the late sample shows in track from the archive"
    );
}
