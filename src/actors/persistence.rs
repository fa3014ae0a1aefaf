//! `PersistenceSupervisor`: writes raw samples and dead letters to MongoDB in batches, and
//! only then acknowledges their MQTT messages, so a crash before the write means the broker
//! redelivers. `(serial, seq)` pairs already stored are skipped (a real time-series
//! collection cannot carry a unique index, so duplicates are found with one query per batch).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
use rumqttc::{Publish, QoS};

use crate::ingest::mqtt::Acker;

use crate::ids::PetId;
use crate::ingest::decode::Sample;
use crate::migrate::{DEAD_LETTER_COLLECTION, TELEMETRY_COLLECTION};

/// Most documents in one insert.
pub const MAX_BATCH: usize = 1000;
/// Longest a document waits for companions before its batch is written anyway.
pub const MAX_LINGER: Duration = Duration::from_millis(2);
/// Documents buffered before ingest is made to wait (back-pressure to the broker).
pub const MAX_BUFFERED: usize = 20_000;
/// Waits between retries of a failed write: doubled per failure up to the last.
const RETRY_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// A sample ready for MongoDB, with its identity for duplicate suppression.
pub struct SampleRecord {
    pub serial: String,
    pub seq: u64,
    pub doc: Document,
}

impl SampleRecord {
    pub fn new(serial: &str, pet: Option<PetId>, sample: &Sample, received_at_ms: i64) -> Self {
        let mut doc = doc! {
            "at": BsonDateTime::from_millis(sample.ts_ms),
            "meta": { "collar": serial, "pet": pet.map_or(Bson::Null, |p| Bson::String(p.to_string())) },
            "seq": sample.seq as i64,
            "received_at": BsonDateTime::from_millis(received_at_ms),
        };
        if let Some(fix) = sample.fix {
            doc.insert("lat", fix.lat);
            doc.insert("lon", fix.lon);
            if let Some(acc) = fix.acc {
                doc.insert("acc", acc);
            }
        }
        let optional: [(&str, Option<Bson>); 5] = [
            ("hr", sample.hr.map(|v| Bson::Int32(v.into()))),
            ("steps", sample.steps.map(|v| Bson::Int64(v.into()))),
            (
                "act",
                sample.act.map(|a| Bson::String(a.as_str().to_owned())),
            ),
            ("bat", sample.bat.map(|v| Bson::Int32(v.into()))),
            ("temp", sample.temp.map(Bson::Double)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                doc.insert(key, value);
            }
        }
        Self {
            serial: serial.to_owned(),
            seq: sample.seq,
            doc,
        }
    }
}

/// The MQTT message to acknowledge once everything it carried is stored.
pub struct AckToken {
    pub pkid: u16,
    pub qos: QoS,
}

impl AckToken {
    pub fn of(publish: &Publish) -> Self {
        Self {
            pkid: publish.pkid,
            qos: publish.qos,
        }
    }
}

/// What one MQTT message left to store.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Append {
    /// Valid samples.
    pub samples: Vec<SampleRecord>,
    /// Dead letters (the whole message, or rejected elements of a batch).
    pub dead_letters: Vec<Document>,
    /// Acknowledged once all of the above are stored.
    pub ack: Option<AckToken>,
}

/// Write everything buffered now and answer when the buffer is empty (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Documents buffered now.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Buffered;

pub struct PersistenceSupervisor {
    db: mongodb::Database,
    acker: Acker,
    buffer: VecDeque<Append>,
    buffered_docs: usize,
    writing: bool,
    linger: Option<SpawnHandle>,
    failures: u32,
    drain_waiters: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl PersistenceSupervisor {
    pub fn new(db: mongodb::Database, acker: Acker) -> Self {
        Self {
            db,
            acker,
            buffer: VecDeque::new(),
            buffered_docs: 0,
            writing: false,
            linger: None,
            failures: 0,
            drain_waiters: Vec::new(),
        }
    }

    /// Starts a write when one is due: nothing is being written and either a full batch is
    /// waiting or the oldest document has lingered long enough (checked by the timer).
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.buffer.is_empty() {
            return;
        }
        if self.buffered_docs >= MAX_BATCH || !self.drain_waiters.is_empty() {
            self.write(ctx);
        } else if self.linger.is_none() {
            self.linger = Some(ctx.run_later(MAX_LINGER, |actor, ctx| {
                actor.linger = None;
                if !actor.writing {
                    actor.write(ctx);
                }
            }));
        }
    }

    fn write(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.linger.take() {
            ctx.cancel_future(handle);
        }
        let mut taken = 0;
        let mut count = 0;
        for append in &self.buffer {
            let docs = append.samples.len() + append.dead_letters.len();
            if count > 0 && count + docs > MAX_BATCH {
                break;
            }
            count += docs;
            taken += 1;
        }
        if taken == 0 {
            return;
        }
        self.writing = true;
        let mut samples = Vec::new();
        let mut dead = Vec::new();
        for append in self.buffer.iter().take(taken) {
            samples.extend(
                append
                    .samples
                    .iter()
                    .map(|r| (r.serial.clone(), r.seq, r.doc.clone())),
            );
            dead.extend(append.dead_letters.iter().cloned());
        }
        let db = self.db.clone();
        let started = Instant::now();
        ctx.spawn(crate::rt::guarded(write_batch(db, samples, dead)).into_actor(self).map(move |result, actor, ctx| {
            actor.writing = false;
            match result {
                Ok(duplicates) => {
                    actor.failures = 0;
                    metrics::histogram!("pettysync_persistence_batch_docs").record(count as f64);
                    metrics::histogram!("pettysync_persistence_write_seconds").record(started.elapsed().as_secs_f64());
                    metrics::counter!("pettysync_duplicate_samples_total").increment(duplicates as u64);
                    actor.acknowledge(taken, count);
                    actor.schedule(ctx);
                }
                Err(error) => {
                    actor.failures += 1;
                    let backoff = (RETRY_BACKOFF.0 * 2u32.saturating_pow(actor.failures.min(8))).min(RETRY_BACKOFF.1);
                    metrics::counter!("pettysync_persistence_failures_total").increment(1);
                    tracing::warn!(error = ?error, ?backoff, "writing samples failed; retrying");
                    ctx.run_later(backoff, |actor, ctx| actor.schedule(ctx));
                }
            }
            if actor.buffer.is_empty() {
                for waiter in actor.drain_waiters.drain(..) {
                    let _ = waiter.send(());
                }
            }
            metrics::gauge!("pettysync_persistence_buffered").set(actor.buffered_docs as f64);
        }));
    }

    /// The first `taken` messages are stored: acknowledge them to the broker.
    fn acknowledge(&mut self, taken: usize, docs: usize) {
        self.buffered_docs -= docs;
        for append in self.buffer.drain(..taken) {
            if let Some(ack) = append.ack {
                self.acker.ack(ack.pkid, ack.qos);
            }
        }
    }
}

/// Inserts the dead letters and the samples not stored before; returns the duplicates skipped.
async fn write_batch(
    db: mongodb::Database,
    samples: Vec<(String, u64, Document)>,
    dead_letters: Vec<Document>,
) -> mongodb::error::Result<usize> {
    if !dead_letters.is_empty() {
        db.collection::<Document>(DEAD_LETTER_COLLECTION)
            .insert_many(dead_letters)
            .await?;
    }
    if samples.is_empty() {
        return Ok(0);
    }
    let telemetry = db.collection::<Document>(TELEMETRY_COLLECTION);
    let serials: HashSet<&str> = samples.iter().map(|(s, _, _)| s.as_str()).collect();
    let seqs: HashSet<i64> = samples.iter().map(|(_, q, _)| *q as i64).collect();
    let filter = doc! {
        "meta.collar": { "$in": serials.into_iter().collect::<Vec<_>>() },
        "seq": { "$in": seqs.into_iter().collect::<Vec<_>>() },
    };
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    let mut cursor = telemetry.find(filter).await?;
    while cursor.advance().await? {
        let stored = cursor.deserialize_current()?;
        if let (Ok(meta), Some(seq)) = (stored.get_document("meta"), integer(&stored, "seq")) {
            if let Ok(collar) = meta.get_str("collar") {
                seen.insert((collar.to_owned(), seq));
            }
        }
    }
    let total = samples.len();
    let fresh: Vec<Document> = samples
        .into_iter()
        .filter(|(serial, seq, _)| seen.insert((serial.clone(), *seq as i64)))
        .map(|(_, _, doc)| doc)
        .collect();
    let duplicates = total - fresh.len();
    if !fresh.is_empty() {
        telemetry.insert_many(fresh).await?;
    }
    Ok(duplicates)
}

/// An integer field however the server typed it: MongoDB keeps an Int64 we wrote, but
/// wire-compatible servers may hand small values back as Int32.
pub fn integer(doc: &Document, key: &str) -> Option<i64> {
    match doc.get(key)? {
        Bson::Int64(v) => Some(*v),
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

/// A number field as `f64`, whatever numeric type it came back as.
pub fn number(doc: &Document, key: &str) -> Option<f64> {
    match doc.get(key)? {
        Bson::Double(v) => Some(*v),
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        _ => None,
    }
}

impl Supervised for PersistenceSupervisor {}

impl Actor for PersistenceSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// Messages waiting in the supervisor's mailbox before senders wait.
const MAILBOX_CAPACITY: usize = 1024;

impl Handler<Append> for PersistenceSupervisor {
    type Result = usize;

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) -> usize {
        let docs = msg.samples.len() + msg.dead_letters.len();
        if docs == 0 {
            // Nothing to store (say, a batch of duplicates only): acknowledge in order.
            self.buffer.push_back(msg);
            if !self.writing && self.buffer.len() == 1 {
                self.acknowledge(1, 0);
            }
        } else {
            self.buffered_docs += docs;
            self.buffer.push_back(msg);
        }
        self.schedule(ctx);
        metrics::gauge!("pettysync_persistence_buffered").set(self.buffered_docs as f64);
        self.buffered_docs
    }
}

impl Handler<Buffered> for PersistenceSupervisor {
    type Result = usize;

    fn handle(&mut self, _: Buffered, _: &mut Context<Self>) -> usize {
        self.buffered_docs
    }
}

impl Handler<Drain> for PersistenceSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        if self.buffer.is_empty() {
            return Box::pin(async {});
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.drain_waiters.push(tx);
        self.schedule(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
