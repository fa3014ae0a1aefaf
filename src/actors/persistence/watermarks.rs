//! Per-collar watermarks in Redis: the highest `seq` any node has started to store for each
//! collar. A sample above its collar's watermark cannot have been stored before (a collar's
//! `seq` only grows), so only the samples at or below it need the duplicate-check query
//! (redeliveries and backlogs); a fresh stream needs none.
//!
//! Why it stays correct across nodes and failures:
//! - A batch *reserves* before it inserts: one script reads each collar's watermark and raises
//!   it to the batch's highest `seq`, atomically. A sample above the old watermark is the first
//!   attempt any node has made at it; a node that crashes after reserving leaves a watermark
//!   too high, which costs queries, never a duplicate. A batch retried after a failed insert
//!   finds its own reservation and queries.
//! - A collar with no watermark is queried (its samples may predate the watermarks, or Redis
//!   may have lost them).
//! - The hash carries the `run_id` of the Redis server that wrote it. A restarted or failed
//!   over Redis (whose data may be older than the last writes) has another `run_id`, and the
//!   script then forgets every watermark.
//! - A batch stored while Redis did not answer is stored "blind": its collars are remembered
//!   here and their watermarks deleted by the next reservation that reaches Redis, so a
//!   watermark never hides a sample stored without it. Past [`MAX_BLIND_SERIALS`] collars,
//!   the next reservation forgets every watermark instead.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::{eval, Redis};

/// Longest a reservation may take before the batch is deduplicated by query alone.
const RESERVE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long reservations are skipped (the batch queried) after one failed, so a Redis that
/// hangs costs one timeout per pause rather than one per batch.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// Collars stored blind remembered one by one; past this many, every watermark is forgotten.
const MAX_BLIND_SERIALS: usize = 10_000;

/// Forgets the watermarks of another Redis run (`ARGV[1]` = 1: all of them) and those of
/// `ARGV[2]` blind serials, then for each following `(serial, seq)` pair answers the old
/// watermark (`""` when none) and raises it to `seq`.
const RESERVE: &str = r"
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if ARGV[1] == '1' or redis.call('HGET', KEYS[1], '~run') ~= run then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], '~run', run)
end
local blind = tonumber(ARGV[2])
for i = 3, 2 + blind do
  redis.call('HDEL', KEYS[1], ARGV[i])
end
local out = {}
for i = 3 + blind, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if (not old) or tonumber(old) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  out[#out + 1] = old or ''
end
return out
";

/// The collars stored without a reservation, waiting to be forgotten in Redis.
#[derive(Default)]
struct Blind {
    serials: HashSet<String>,
    overflowed: bool,
}

/// Reserves watermarks for persistence; shared by its batch writes. Reservations take
/// turns (one lock held across the round trip), so the blind collars a reservation forgets
/// in Redis are exactly those it clears here.
#[derive(Clone)]
pub struct Watermarks {
    redis: Redis,
    state: Arc<tokio::sync::Mutex<State>>,
}

#[derive(Default)]
struct State {
    blind: Blind,
    paused_until: Option<Instant>,
}

impl Watermarks {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            state: Arc::default(),
        }
    }

    /// Raises each collar's watermark to its highest `seq` in `batch` and answers the old
    /// watermarks (`None` for a collar without one); `None` when Redis did not answer, and
    /// then the batch's collars are stored blind.
    pub async fn reserve(
        &self,
        batch: &HashMap<&str, u64>,
    ) -> Option<HashMap<String, Option<u64>>> {
        let mut state = self.state.lock().await;
        if state
            .paused_until
            .is_some_and(|until| Instant::now() < until)
        {
            state.blind.add(batch.keys());
            return None;
        }
        let pairs: Vec<(&str, u64)> = batch.iter().map(|(s, q)| (*s, *q)).collect();
        let mut args = vec![
            u8::from(state.blind.overflowed).to_string(),
            state.blind.serials.len().to_string(),
        ];
        args.extend(state.blind.serials.iter().cloned());
        for (serial, seq) in &pairs {
            args.push((*serial).to_owned());
            args.push(seq.to_string());
        }
        let key = self.redis.key("dedupe:watermarks");
        let call = async {
            let mut conn = self.redis.conn().await?;
            let old: Vec<String> = eval(RESERVE, &[key], &args).query_async(&mut conn).await?;
            anyhow::Ok(old)
        };
        let error = match tokio::time::timeout(RESERVE_TIMEOUT, call).await {
            Ok(Ok(old)) if old.len() == pairs.len() => {
                state.blind = Blind::default();
                let old = pairs
                    .iter()
                    .zip(old)
                    .map(|((serial, _), old)| ((*serial).to_owned(), old.parse().ok()))
                    .collect();
                return Some(old);
            }
            Ok(Ok(old)) => anyhow::anyhow!("{} answers for {} collars", old.len(), pairs.len()),
            Ok(Err(error)) => error,
            Err(_) => anyhow::anyhow!("timed out after {RESERVE_TIMEOUT:?}"),
        };
        tracing::warn!(error = ?error, pause = ?PAUSE_AFTER_FAILURE, "could not reserve dedupe watermarks; querying");
        // The script may have run all the same: the collars are forgotten next time either way.
        state.blind.add(batch.keys());
        state.paused_until = Some(Instant::now() + PAUSE_AFTER_FAILURE);
        None
    }
}

impl Blind {
    fn add<'a>(&mut self, serials: impl Iterator<Item = &'a &'a str>) {
        if self.overflowed {
            return;
        }
        for serial in serials {
            if self.serials.len() >= MAX_BLIND_SERIALS {
                self.overflowed = true;
                self.serials.clear();
                return;
            }
            self.serials.insert((*serial).to_owned());
        }
    }
}

#[cfg(test)]
impl Watermarks {
    /// Makes the next reservations fail as if Redis had just failed to answer.
    pub(super) async fn pause(&self) {
        self.state.lock().await.paused_until = Some(Instant::now() + PAUSE_AFTER_FAILURE);
    }

    /// Lets reservations reach Redis again.
    pub(super) async fn resume(&self) {
        self.state.lock().await.paused_until = None;
    }
}
