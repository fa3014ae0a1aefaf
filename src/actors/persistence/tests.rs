//! The duplicate check of a batch against the test environment's MongoDB and Redis, each
//! test under a database and key prefix of its own.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::batch::{write_batch, Deduped};
use super::watermarks::Watermarks;
use crate::cache::Redis;
use crate::config::Settings;
use crate::migrate::TELEMETRY_COLLECTION;
use crate::store::fields::integer;

struct Stores {
    db: mongodb::Database,
    watermarks: Watermarks,
    serial: String,
}

impl Stores {
    async fn new(tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings::load().expect("the test environment's settings");
        let id = Uuid::new_v4().simple().to_string();
        settings.redis_prefix = format!("test-dedupe-{id}:");
        tweak(&mut settings);
        let client = mongodb::Client::with_uri_str(settings.mongodb_url.expose_secret())
            .await
            .expect("a MongoDB client");
        Self {
            db: client.database(&format!("pettysync_test_dedupe_{id}")),
            watermarks: Watermarks::new(Redis::new(&settings).expect("the pool builds")),
            serial: format!("PS-{}", &id[..12]),
        }
    }

    /// Stores `seqs` of the test's collar as one batch.
    async fn store(&self, seqs: impl IntoIterator<Item = u64>) -> Deduped {
        let samples = seqs
            .into_iter()
            .map(|seq| {
                (
                    self.serial.clone(),
                    seq,
                    doc! { "meta": { "collar": &self.serial }, "seq": seq as i64 },
                )
            })
            .collect();
        write_batch(self.db.clone(), &self.watermarks, samples, vec![], vec![])
            .await
            .expect("the batch is stored")
    }

    /// Every stored seq, sorted, repeats included.
    async fn stored(&self) -> Vec<i64> {
        let docs: Vec<Document> = self
            .db
            .collection::<Document>(TELEMETRY_COLLECTION)
            .find(doc! {})
            .await
            .expect("a cursor")
            .try_collect()
            .await
            .expect("the documents");
        let mut seqs: Vec<i64> = docs.iter().filter_map(|d| integer(d, "seq")).collect();
        seqs.sort_unstable();
        seqs
    }

    async fn drop(self) {
        let _ = self.db.drop().await;
    }
}

#[tokio::test]
async fn a_fresh_stream_is_stored_once_without_the_duplicate_query() {
    let stores = Stores::new(|_| {}).await;
    // A collar without a watermark is asked about once: its samples may predate it.
    assert!(stores.store([1, 2]).await.queried);
    for first in (3..30).step_by(3) {
        let deduped = stores.store(first..first + 3).await;
        assert_eq!(
            deduped,
            Deduped {
                duplicates: 0,
                queried: false,
                skipped: 3
            },
            "seqs {first}.."
        );
    }
    assert_eq!(stores.stored().await, (1..30).collect::<Vec<_>>());
    stores.drop().await;
}

#[tokio::test]
async fn a_redelivered_batch_is_still_deduplicated() {
    let stores = Stores::new(|_| {}).await;
    stores.store(1..=5).await;
    stores.store(6..=7).await;
    let deduped = stores.store([4, 5, 6, 7, 8, 9]).await;
    assert_eq!(
        deduped,
        Deduped {
            duplicates: 4,
            queried: true,
            skipped: 2
        }
    );
    // A batch whose insert failed after its reservation is retried: it finds its own
    // watermark, so it is queried.
    let deduped = stores.store([8, 9]).await;
    assert_eq!(
        deduped,
        Deduped {
            duplicates: 2,
            queried: true,
            skipped: 0
        }
    );
    assert_eq!(stores.stored().await, (1..=9).collect::<Vec<_>>());
    stores.drop().await;
}

#[tokio::test]
async fn without_redis_every_batch_is_queried_and_deduplicated() {
    // Nothing listens on port 1: every reservation fails.
    let stores = Stores::new(|s| s.redis_url = SecretString::from("redis://127.0.0.1:1/0")).await;
    stores.store(1..=3).await;
    let deduped = stores.store(2..=4).await;
    assert_eq!(
        deduped,
        Deduped {
            duplicates: 2,
            queried: true,
            skipped: 0
        }
    );
    assert_eq!(stores.stored().await, vec![1, 2, 3, 4]);
    stores.drop().await;
}

#[tokio::test]
async fn samples_stored_while_redis_was_away_are_not_hidden_by_an_old_watermark() {
    let stores = Stores::new(|_| {}).await;
    stores.store(1..=3).await;
    stores.watermarks.pause().await;
    stores.store(4..=6).await;
    stores.watermarks.resume().await;
    // The watermark says 3, but 4 to 6 were stored blind: a repeat of 5 must be looked up.
    let deduped = stores.store([5, 7]).await;
    assert_eq!(
        deduped,
        Deduped {
            duplicates: 1,
            queried: true,
            skipped: 0
        }
    );
    assert_eq!(stores.stored().await, (1..=7).collect::<Vec<_>>());
    stores.drop().await;
}

#[tokio::test]
async fn watermarks_written_by_another_redis_run_are_forgotten() {
    let mut settings = Settings::load().expect("the test environment's settings");
    let stores = Stores::new(|s| settings.redis_prefix.clone_from(&s.redis_prefix)).await;
    stores.store(1..=3).await;
    // As a Redis restored from an older snapshot would hold them.
    let redis = Redis::new(&settings).expect("the pool builds");
    let mut conn = redis.conn().await.expect("a connection");
    let _: () = deadpool_redis::redis::cmd("HSET")
        .arg(redis.key("dedupe:watermarks"))
        .arg("~run")
        .arg("another-run")
        .query_async(&mut conn)
        .await
        .expect("HSET");
    let deduped = stores.store([3, 4]).await;
    assert_eq!(
        deduped,
        Deduped {
            duplicates: 1,
            queried: true,
            skipped: 0
        }
    );
    stores.drop().await;
}
