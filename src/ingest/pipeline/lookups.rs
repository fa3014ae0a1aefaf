//! Finding a collar's actor without holding up the others: a collar whose actor is not
//! running is looked up (and its actor started) by the registry while ingest goes on with
//! other collars' messages; its own messages wait parked until the answer comes. Up to
//! [`MAX_RESOLVING`] lookups run at once, so a restart in front of thousands of collars
//! starts their actors side by side instead of one after another.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use actix::Addr;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::actors::collar::CollarActor;
use crate::actors::registry::{CollarRegistry, Resolve};

/// Lookups running at once; more serials wait their turn.
pub const MAX_RESOLVING: usize = 64;
/// Unknown serials remembered, so a flood of them costs no database lookups.
const UNKNOWN_CACHE_MAX: usize = 10_000;
/// How long an unknown serial is remembered (a collar provisioned meanwhile is found after).
const UNKNOWN_TTL: Duration = Duration::from_secs(30);

/// What a lookup of a serial found.
pub enum Lookup {
    Known(Addr<CollarActor>),
    /// Never provisioned: counted and dropped.
    Unknown,
    /// The registry or PostgreSQL could not say: keep the messages parked and try again.
    Unavailable,
}

/// What is known of a serial without asking anyone.
pub enum Cached {
    Known(Addr<CollarActor>),
    Unknown,
    NotYet,
}

pub struct Lookups {
    registry: Addr<CollarRegistry>,
    actors: HashMap<String, Addr<CollarActor>>,
    unknown: HashMap<String, Instant>,
    running: FuturesUnordered<BoxFuture<'static, (String, Lookup)>>,
    resolving: HashSet<String>,
    waiting: VecDeque<String>,
}

impl Lookups {
    pub fn new(registry: Addr<CollarRegistry>) -> Self {
        Self {
            registry,
            actors: HashMap::new(),
            unknown: HashMap::new(),
            running: FuturesUnordered::new(),
            resolving: HashSet::new(),
            waiting: VecDeque::new(),
        }
    }

    /// The serial's running actor, or that it is unknown, if that is known now.
    pub fn cached(&self, serial: &str) -> Cached {
        if let Some(addr) = self.actors.get(serial).filter(|a| a.connected()) {
            return Cached::Known(addr.clone());
        }
        match self.unknown.get(serial) {
            Some(seen) if seen.elapsed() < UNKNOWN_TTL => Cached::Unknown,
            _ => Cached::NotYet,
        }
    }

    /// Starts looking the serial up, unless that is under way.
    pub fn start(&mut self, serial: &str) {
        if !self.resolving.insert(serial.to_owned()) {
            return;
        }
        if self.running.len() < MAX_RESOLVING {
            self.launch(serial.to_owned());
        } else {
            self.waiting.push_back(serial.to_owned());
        }
    }

    /// True while lookups run (so [`Lookups::next`] has something to wait for).
    pub fn busy(&self) -> bool {
        !self.running.is_empty()
    }

    /// The next lookup to finish.
    pub async fn next(&mut self) -> Option<(String, Lookup)> {
        let (serial, lookup) = self.running.next().await?;
        self.resolving.remove(&serial);
        if let Some(next) = self.waiting.pop_front() {
            self.launch(next);
        }
        match &lookup {
            Lookup::Known(addr) => {
                self.unknown.remove(&serial);
                self.actors.insert(serial.clone(), addr.clone());
            }
            Lookup::Unknown => {
                if self.unknown.len() >= UNKNOWN_CACHE_MAX {
                    self.unknown.clear();
                }
                self.unknown.insert(serial.clone(), Instant::now());
            }
            Lookup::Unavailable => {
                metrics::counter!("pettysync_collar_lookup_failures_total").increment(1);
            }
        }
        Some((serial, lookup))
    }

    /// The serial's actor stopped: look it up afresh next time.
    pub fn forget(&mut self, serial: &str) {
        self.actors.remove(serial);
    }

    fn launch(&mut self, serial: String) {
        let request = self.registry.send(Resolve {
            serial: serial.clone(),
        });
        self.running.push(Box::pin(async move {
            let lookup = match request.await {
                Ok(Ok(Some(addr))) => Lookup::Known(addr),
                Ok(Ok(None)) => Lookup::Unknown,
                Ok(Err(error)) => {
                    tracing::warn!(collar = %serial, error = ?error, "could not look up a collar; its messages wait");
                    Lookup::Unavailable
                }
                Err(error) => {
                    tracing::warn!(collar = %serial, %error, "collar registry unavailable; messages wait");
                    Lookup::Unavailable
                }
            };
            (serial, lookup)
        }));
    }
}
