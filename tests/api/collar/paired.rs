//! A collar provisioned, paired to a new pet of its owner, and connected.

use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, string_at, unique_serial, unique_suffix, TestApp, TestUser};

use super::*;

/// A provisioned collar paired to a new pet of its owner, connected to the broker.
pub struct TestCollar {
    pub serial: String,
    pub pet_id: String,
    pub link: CollarLink,
    last_ts: AtomicI64,
}

impl TestCollar {
    /// Provisions a collar, pairs it to a new dog of `owner` and connects it.
    pub async fn paired(app: &TestApp, owner: &TestUser) -> TestCollar {
        Self::paired_with(app, owner, false).await
    }

    /// As [`TestCollar::paired`], with the collar's Last Will set on its connection.
    pub async fn paired_with_will(app: &TestApp, owner: &TestUser) -> TestCollar {
        Self::paired_with(app, owner, true).await
    }

    async fn paired_with(app: &TestApp, owner: &TestUser, will: bool) -> TestCollar {
        Self::paired_as(app, owner, unique_serial(), will).await
    }

    /// As [`TestCollar::paired`], with this serial (a cluster test picks the owner node).
    pub async fn paired_as(
        app: &TestApp,
        owner: &TestUser,
        serial: String,
        will: bool,
    ) -> TestCollar {
        let pet = app
            .create_pet(owner, &format!("Rex-{}", unique_suffix()))
            .await;
        let pet_id = string_at(&pet, "/id");
        let code = app.provision_collar(&serial).await;
        let pairing = app.pair_collar(owner, &pet_id, &serial, &code).await;
        expect_json(pairing, StatusCode::OK).await;
        TestCollar {
            link: CollarLink::connect(app, &serial, will).await,
            serial,
            pet_id,
            last_ts: AtomicI64::new(0),
        }
    }

    /// A sample time that is now and later than every one this collar gave before, so
    /// each sample is the newest (a sample no newer than the newest is a late one).
    pub fn next_ts(&self) -> i64 {
        let now = now_ms();
        let previous = self
            .last_ts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .expect("the update always succeeds");
        now.max(previous + 1)
    }

    /// A sample with a fix, taken now; `extra` (an object) adds or overrides fields.
    pub fn sample(&self, seq: u64, lat: f64, lon: f64, acc: f64, extra: Value) -> Value {
        let mut sample = self.reading(seq, extra.clone());
        for (key, value) in [
            ("lat", json!(lat)),
            ("lon", json!(lon)),
            ("acc", json!(acc)),
        ] {
            if extra.get(key).is_none() {
                sample[key] = value;
            }
        }
        sample
    }

    /// A sample without a fix, taken now; `extra` (an object) adds or overrides fields.
    pub fn reading(&self, seq: u64, extra: Value) -> Value {
        let mut sample = json!({"v": 1, "seq": seq, "ts": self.next_ts()});
        if let Value::Object(fields) = extra {
            for (key, value) in fields {
                sample[key] = value;
            }
        }
        sample
    }

    pub async fn publish_sample(&self, sample: &Value) {
        self.link.publish_sample(sample).await;
    }

    pub async fn send_raw(&self, channel: &str, payload: impl Into<Vec<u8>>) {
        self.link.send_raw(channel, payload).await;
    }
}
