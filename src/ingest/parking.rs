//! Messages of collars whose actor is being looked up, or could not be (PostgreSQL away, the
//! registry busy restarting): neither processed nor acknowledged nor dropped, but parked per
//! serial and tried again with backoff. While a serial has parked messages, its new ones queue behind
//! them, so one collar's messages stay in order. When [`MAX_PARKED`] messages wait, ingest
//! takes no more from the broker until some are through (bounded, back-pressure).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::decode::Channel;
use super::mqtt::Inbound;
use crate::retry::Backoff;

/// Messages parked at once; past this, ingest waits.
pub const MAX_PARKED: usize = 10_000;
/// First wait before parked messages are tried again; doubled per failure up to the last.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

/// A message on its way: the MQTT message, what it is, and when it arrived (decoding checks
/// sample times against that, not against when a retry happens).
pub struct Pending {
    pub inbound: Inbound,
    pub channel: Channel,
    pub received_at: i64,
}

/// Parked messages, per serial, in arrival order.
#[derive(Default)]
pub struct Parked {
    queues: HashMap<String, VecDeque<Pending>>,
    count: usize,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Parked {
    /// True when `serial` has messages waiting: its new ones must wait behind them.
    pub fn holds(&self, serial: &str) -> bool {
        self.queues.contains_key(serial)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True while another message may be parked.
    pub fn has_room(&self) -> bool {
        self.count < MAX_PARKED
    }

    /// When the parked messages are due to be tried again.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Parks a message behind the serial's others.
    pub fn park(&mut self, serial: &str, pending: Pending) {
        self.queues
            .entry(serial.to_owned())
            .or_default()
            .push_back(pending);
        self.count += 1;
        metrics::gauge!("pettysync_ingest_parked").set(self.count as f64);
    }

    /// The serials with parked messages.
    pub fn serials(&self) -> Vec<String> {
        self.queues.keys().cloned().collect()
    }

    /// Takes a serial's messages, to try them again.
    pub fn take(&mut self, serial: &str) -> VecDeque<Pending> {
        let queue = self.queues.remove(serial).unwrap_or_default();
        self.count -= queue.len();
        metrics::gauge!("pettysync_ingest_parked").set(self.count as f64);
        queue
    }

    /// Puts back what could not be done yet, ahead of anything parked since.
    pub fn put_back(&mut self, serial: &str, mut queue: VecDeque<Pending>) {
        if queue.is_empty() {
            return;
        }
        self.count += queue.len();
        if let Some(newer) = self.queues.remove(serial) {
            queue.extend(newer);
        }
        self.queues.insert(serial.to_owned(), queue);
        metrics::gauge!("pettysync_ingest_parked").set(self.count as f64);
    }

    /// A lookup found the store still away: retry after a longer wait (one timer for all).
    pub fn retry_failed(&mut self) {
        if self.retry_at.is_some() {
            return;
        }
        self.failures += 1;
        self.retry_at = (!self.is_empty()).then(|| Instant::now() + self.backoff());
    }

    /// A lookup went through: the next failure starts from the shortest wait.
    pub fn retry_done(&mut self) {
        self.failures = 0;
    }

    /// The lookups of a retry are under way; their answers set the next retry, if any.
    pub fn retry_started(&mut self) {
        self.retry_at = None;
    }

    fn backoff(&self) -> Duration {
        RETRY_BACKOFF.after(self.failures)
    }
}
