//! Finding a collar's actor without holding up the others: a collar whose actor is not
//! running is looked up (and its actor started) by the registry while ingest goes on with
//! other collars' messages; its own messages wait parked until the answer comes. Serials
//! are looked up in batches (`ResolveMany`, up to [`LOOKUP_BATCH`] serials, one round of
//! queries each), up to [`MAX_RESOLVING`] batches at once: the serials that arrive while
//! batches are out wait for the next one, so a restart in front of thousands of collars
//! starts their actors hundreds at a time, and a lone new collar is looked up at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use actix::Addr;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::actors::collar::CollarActor;
use crate::actors::registry::{CollarRegistry, ResolveMany, Resolved, LOOKUP_BATCH};

/// Batches of lookups running at once; more serials wait for the next batch.
pub const MAX_RESOLVING: usize = 4;
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
    running: FuturesUnordered<BoxFuture<'static, Vec<(String, Lookup)>>>,
    /// Answers of a finished batch not yet taken by [`Lookups::next`].
    answered: VecDeque<(String, Lookup)>,
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
            answered: VecDeque::new(),
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
        self.waiting.push_back(serial.to_owned());
        self.launch();
    }

    /// True while lookups run or answers wait (so [`Lookups::next`] has something to give).
    pub fn busy(&self) -> bool {
        !self.running.is_empty() || !self.answered.is_empty()
    }

    /// The next lookup to finish.
    pub async fn next(&mut self) -> Option<(String, Lookup)> {
        if self.answered.is_empty() {
            let batch = self.running.next().await?;
            self.answered.extend(batch);
            self.launch();
        }
        let (serial, lookup) = self.answered.pop_front()?;
        self.resolving.remove(&serial);
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

    /// Sends the waiting serials in batches while fewer than [`MAX_RESOLVING`] run.
    fn launch(&mut self) {
        while self.running.len() < MAX_RESOLVING && !self.waiting.is_empty() {
            let take = self.waiting.len().min(LOOKUP_BATCH);
            let serials: Vec<String> = self.waiting.drain(..take).collect();
            let request = self.registry.send(ResolveMany {
                serials: serials.clone(),
            });
            self.running.push(Box::pin(async move {
                match request.await {
                    Ok(answers) => answers.into_iter().map(lookup_of).collect(),
                    Err(error) => {
                        tracing::warn!(%error, collars = serials.len(), "collar registry unavailable; messages wait");
                        serials
                            .into_iter()
                            .map(|serial| (serial, Lookup::Unavailable))
                            .collect()
                    }
                }
            }));
        }
    }
}

fn lookup_of((serial, resolved): (String, Resolved)) -> (String, Lookup) {
    let lookup = match resolved {
        Ok(Some(addr)) => Lookup::Known(addr),
        Ok(None) => Lookup::Unknown,
        Err(error) => {
            tracing::warn!(collar = %serial, error = ?error, "could not look up a collar; its messages wait");
            Lookup::Unavailable
        }
    };
    (serial, lookup)
}
