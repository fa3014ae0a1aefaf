//! Two `pettysync serve` processes on the same stores, both archiving every second: the
//! advisory lock lets one pass run at a time, so every old day is archived exactly once
//! (one object each, every sample once) and nothing is lost.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::fixtures::process::{env_of, run_ok, ServerProcess};
use crate::helpers::{poll_until, string_at, unique_serial, Isolation};

const COLLARS: usize = 12;
const DAYS: u64 = 3;
const PER_DAY: i64 = 300;

/// The `objects=N` of every "archival pass done" line a server logged.
fn objects_archived(server: &ServerProcess) -> u64 {
    server
        .lines_with("archival pass done")
        .iter()
        .filter_map(|line| {
            line.split("objects=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[actix_web::test]
async fn two_serving_nodes_archive_each_day_once_and_lose_nothing() {
    let isolation = Isolation::new();
    let settings = isolation.settings(|_| {});
    let mut env = env_of(&settings);
    env.push(("PETTYSYNC_ARCHIVE_INTERVAL_S", "1".to_owned()));
    env.push(("PETTYSYNC_ROLLUP_INTERVAL_S", "1".to_owned()));
    run_ok(&env, &["migrate"]).await;
    let first = ServerProcess::start_node(&env, "node-a").await;
    let app = first.app(&settings);
    let owner = app.register_someone().await;
    let mut expected = BTreeSet::new();
    let mut docs = Vec::new();
    let serials: Vec<String> = (0..COLLARS).map(|_| unique_serial()).collect();
    for serial in &serials {
        let pet = string_at(&app.create_pet(&owner, "Ada").await, "/id");
        for offset in 0..DAYS {
            for i in 0..PER_DAY {
                let seq = offset as i64 * 1_000 + i;
                docs.push(sample(serial, Some(&pet), seq, at(old_day(offset), 4 * i + 1)).1);
                expected.insert((serial.clone(), seq));
            }
        }
    }
    let second = ServerProcess::start_node(&env, "node-b").await;
    insert(&app, docs).await;

    let pg = app.pg().await;
    let keys: Vec<String> = poll_until(
        "every old day archived",
        Duration::from_secs(120),
        || async {
            let mut left = 0;
            for serial in &serials {
                left += hot_count(&app, serial).await;
            }
            let keys: Vec<(String,)> = sqlx::query_as(
                "SELECT key FROM archive_segments WHERE state = 'deleted' ORDER BY key",
            )
            .fetch_all(&pg)
            .await
            .map_err(|e| e.to_string())?;
            let progress = format!("{left} samples hot, {} objects", keys.len());
            (left == 0 && keys.len() == COLLARS * DAYS as usize)
                .then(|| keys.into_iter().map(|(k,)| k).collect())
                .ok_or(progress)
        },
    )
    .await;
    let mut archived = BTreeSet::new();
    let mut lines = 0;
    for key in &keys {
        assert!(!key.contains(".part-"), "one object per collar-day: {key}");
        for line in object_lines(&app, key).await.expect("the object exists") {
            lines += 1;
            archived.insert((
                line["serial"].as_str().expect("a serial").to_owned(),
                line["seq"].as_i64().expect("a seq"),
            ));
        }
    }
    assert_eq!(lines, expected.len(), "no sample archived twice");
    assert_eq!(archived, expected, "every sample archived");
    assert_eq!(
        objects_archived(&first) + objects_archived(&second),
        keys.len() as u64,
        "no object written by both nodes; first:\n{}\nsecond:\n{}",
        first.tail(),
        second.tail()
    );
    first.terminate(Duration::from_secs(60)).await;
    second.terminate(Duration::from_secs(60)).await;
}
