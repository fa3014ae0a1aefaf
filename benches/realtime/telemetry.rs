//! The telemetry store as the bench sees it: how many samples are stored, waiting for a
//! backlog to drain, and the timing of a persistence batch's two MongoDB calls on their own.

use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use uuid::Uuid;

use crate::collars::Collar;
use crate::server::Ctx;
use crate::units::{grouped, ms};

/// How long the server may take to store the latency phase's backlog.
const DRAIN_BUDGET: Duration = Duration::from_secs(120);
/// The MongoDB probe: `insert_many` calls of this many sample documents.
const PROBE_BATCHES: usize = 5;
const PROBE_BATCH_DOCS: usize = 1000;

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

/// Times, with a plain client on an idle server, the two MongoDB calls a persistence batch
/// makes: the duplicate check (`find` with `$in` on serials and on seqs) and `insert_many`.
pub(crate) async fn probe_mongodb(mongo: &mongodb::Database, collars: &[Collar]) {
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
    let check_time = asked.elapsed();
    let probe = mongo.collection::<Document>("bench_probe");
    let mut insert_time = Duration::ZERO;
    let mut inserted = 0;
    for batch in 0..PROBE_BATCHES {
        let docs: Vec<Document> = (0..PROBE_BATCH_DOCS)
            .map(|i| {
                let now = mongodb::bson::DateTime::now();
                doc! {
                    "at": now, "meta": { "collar": format!("PROBE-{i:05}"), "pet": Uuid::new_v4().to_string() },
                    "seq": (batch * PROBE_BATCH_DOCS + i) as i64, "received_at": now,
                    "lat": 48.8566, "lon": 2.3522, "acc": 6.5, "hr": 96, "steps": 41_i64,
                    "act": "walk", "bat": 83, "temp": 38.6,
                }
            })
            .collect();
        let asked = Instant::now();
        if probe.insert_many(docs).await.is_err() {
            break;
        }
        insert_time += asked.elapsed();
        inserted += PROBE_BATCH_DOCS;
    }
    let _ = probe.drop().await;
    println!("  MongoDB probe (plain client, idle server):");
    match checked {
        Ok(()) => println!(
            "    duplicate check as persistence does it, for a batch over all {} collars: {:.0} ms ({} documents matched)",
            grouped(collars.len() as u64),
            ms(check_time),
            grouped(found)
        ),
        Err(error) => println!("    duplicate check failed: {error}"),
    }
    if inserted > 0 {
        println!(
            "    insert_many of {} sample documents: {:.0} ms per call → {} docs/s",
            grouped(PROBE_BATCH_DOCS as u64),
            ms(insert_time) / (inserted / PROBE_BATCH_DOCS) as f64,
            grouped((inserted as f64 / insert_time.as_secs_f64()) as u64)
        );
    }
}
