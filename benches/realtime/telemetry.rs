//! The telemetry store as the bench sees it: how many samples are stored, waiting for a
//! backlog to drain, its own `insert_many` rate of the same documents (the ingest figure's
//! baseline), and the timing of a persistence batch's duplicate check on its own.

use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use mongodb::options::{TimeseriesGranularity, TimeseriesOptions};
use mongodb::IndexModel;
use pettysync::actors::persistence::{SampleRecord, MAX_BATCH};
use pettysync::domain::sample::{Activity, Fix, Sample};
use pettysync::ids::PetId;

use crate::collars::Collar;
use crate::plan::Plan;
use crate::server::Ctx;
use crate::units::{grouped, ms, now_ms};

/// How long the server may take to store the latency phase's backlog.
const DRAIN_BUDGET: Duration = Duration::from_secs(120);
/// Sample documents the MongoDB `insert_many` baseline writes at most (fewer in a run of fewer
/// messages): enough for a steady rate, few enough to take seconds.
const INSERT_BASELINE_DOCS: usize = 20_000;
/// The baseline's scratch collection, dropped before and after.
const INSERT_BASELINE_COLLECTION: &str = "bench_insert_baseline";

/// The number of samples stored. `count_documents` is exact but is an aggregation over
/// every document; on the MongoDB wire server here that takes seconds per 40 000 documents
/// of the store's one thread, stolen from the server's writes. The `count` command reads the
/// collection's size; a server that refuses it (a time-series view) gets `count_documents`.
pub(crate) async fn stored_count(
    telemetry: &mongodb::Collection<Document>,
) -> mongodb::error::Result<u64> {
    match telemetry.estimated_document_count().await {
        Ok(count) => Ok(count),
        Err(_) => telemetry.count_documents(doc! {}).await,
    }
}

/// Waits until MongoDB holds every sample published so far, so the next phase starts on an
/// idle server; false when the run's budget ran out first.
pub(crate) async fn drain(
    ctx: &Ctx,
    telemetry: &mongodb::Collection<Document>,
    expected: u64,
) -> bool {
    let budget = ctx.clock.budget(DRAIN_BUDGET);
    let started = Instant::now();
    let mut stored = 0;
    while started.elapsed() < budget {
        stored = stored_count(telemetry).await.unwrap_or(stored);
        if stored >= expected {
            ctx.clock.say(format!(
                "backlog: all {} samples published so far are stored ({:.1} s after the last phase)",
                grouped(expected),
                started.elapsed().as_secs_f64()
            ));
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ctx.clock.say(format!(
        "backlog: timed out: {} of {} published samples stored",
        grouped(stored),
        grouped(expected)
    ));
    false
}

/// MongoDB's own rate for what persistence writes, the baseline of the ingest figure: the
/// same sample documents (the collars' serials and pets, built as persistence builds them),
/// `insert_many` calls of one persistence batch each, one after the other as the single
/// writer goes, with the same driver, into a scratch collection made like `telemetry`
/// (time-series on `at` with `meta`, the same two indexes). Returns docs/s and how many.
pub(crate) async fn insert_baseline(
    mongo: &mongodb::Database,
    collars: &[Collar],
    plan: &Plan,
) -> mongodb::error::Result<(f64, usize)> {
    let scratch = mongo.collection::<Document>(INSERT_BASELINE_COLLECTION);
    scratch.drop().await?;
    let timeseries = TimeseriesOptions::builder()
        .time_field("at".to_owned())
        .meta_field(Some("meta".to_owned()))
        .granularity(Some(TimeseriesGranularity::Seconds))
        .build();
    mongo
        .create_collection(INSERT_BASELINE_COLLECTION)
        .timeseries(timeseries)
        .await?;
    scratch
        .create_indexes([
            IndexModel::builder()
                .keys(doc! { "meta.pet": 1, "at": 1 })
                .build(),
            IndexModel::builder()
                .keys(doc! { "meta.collar": 1, "seq": 1 })
                .build(),
        ])
        .await?;
    let total = plan.messages.min(INSERT_BASELINE_DOCS);
    let now = now_ms();
    let docs: Vec<Document> = (0..total)
        .map(|i| {
            let collar = &collars[i % collars.len()];
            let sample = Sample {
                seq: (1_000_000 + i) as u64,
                ts_ms: now - (total - i) as i64,
                fix: Some(Fix {
                    lat: 48.8566 + (i % 100) as f64 * 1e-5,
                    lon: 2.3522,
                    acc: Some(6.5),
                }),
                hr: Some(80 + (i % 40) as u16),
                steps: Some((i % 40) as u32),
                act: Some(Activity::Walk),
                bat: Some(83),
                temp: Some(38.6),
            };
            let pet = collar.pet_id.parse().ok().map(PetId);
            SampleRecord::new(&collar.serial, pet, &sample, now).doc
        })
        .collect();
    let started = Instant::now();
    for batch in docs.chunks(MAX_BATCH) {
        scratch.insert_many(batch.to_vec()).await?;
    }
    let took = started.elapsed();
    scratch.drop().await?;
    let rate = total as f64 / took.as_secs_f64();
    println!(
        "  MongoDB insert_many baseline: {} sample documents in batches of {MAX_BATCH} in {:.2} s → {} docs/s",
        grouped(total as u64),
        took.as_secs_f64(),
        grouped(rate as u64)
    );
    Ok((rate, total))
}

/// Times, with a plain client on an idle server, the duplicate check a persistence batch
/// makes (`find` with `$in` on serials and on seqs) over every collar.
pub(crate) async fn probe_duplicate_check(mongo: &mongodb::Database, collars: &[Collar]) {
    let telemetry = mongo.collection::<Document>(pettysync::migrate::TELEMETRY_COLLECTION);
    let serials: Vec<&str> = collars.iter().map(|c| c.serial.as_str()).collect();
    let mut seqs: Vec<i64> = collars.iter().map(|c| c.seq as i64).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let filter = doc! { "meta.collar": { "$in": &serials }, "seq": { "$in": &seqs } };
    let asked = Instant::now();
    let mut found = 0u64;
    let checked = async {
        let mut cursor = telemetry.find(filter).await?;
        while cursor.advance().await? {
            found += 1;
        }
        mongodb::error::Result::Ok(())
    }
    .await;
    match checked {
        Ok(()) => println!(
            "  MongoDB probe (plain client, idle server): the duplicate check as persistence does \
             it, for a batch over all {} collars: {:.0} ms ({} documents matched)",
            grouped(collars.len() as u64),
            ms(asked.elapsed()),
            grouped(found)
        ),
        Err(error) => println!("  MongoDB probe: the duplicate check failed: {error}"),
    }
}
