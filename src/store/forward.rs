//! The Redis Streams that carry collar messages from the node that read them to the node that
//! owns the collar: one stream per node (`cluster:fwd:{node}`), one consumer group
//! ([`GROUP`]) that every node reads through, so an entry is handed to one reader at a time
//! and stays pending until it is acknowledged. Entries of a node that left are claimed by
//! the others (`XAUTOCLAIM`, and `XREADGROUP` for the ones it never read).
//!
//! Every stream is also named in one set ([`STREAMS_KEY`]), so a node can find the streams
//! of nodes it never saw.

use deadpool_redis::redis::{self, Value};

use crate::cache::Redis;

/// The consumer group every node reads the streams through.
pub const GROUP: &str = "fwd";
/// The set of every node's stream (under the deployment's prefix).
pub const STREAMS_KEY: &str = "cluster:fwd:streams";
/// Entries a stream keeps, about (`MAXLEN ~`): far more than a node reads in a TTL, so only
/// a node that has been gone a long while loses entries (its collars' samples are stored
/// already; only live state and alerts of that backlog would be skipped).
pub const STREAM_MAXLEN: usize = 100_000;
/// The field of an entry that holds its JSON body.
const BODY: &str = "e";

/// One entry read from a stream: its id and its body (`None` when the entry was trimmed or
/// deleted while pending).
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub body: Option<String>,
}

/// The stream of `node`.
pub fn stream_key(redis: &Redis, node: &str) -> String {
    redis.key(&format!("cluster:fwd:{node}"))
}

/// Makes the node's stream and the group on it (if not there yet) and names the stream in
/// the set of streams.
pub async fn ensure_stream(redis: &Redis, node: &str) -> anyhow::Result<()> {
    let mut conn = redis.conn().await?;
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream_key(redis, node))
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await;
    match created {
        Ok(()) => {}
        Err(error) if error.code() == Some("BUSYGROUP") => {}
        Err(error) => return Err(error.into()),
    }
    let _: i64 = redis::cmd("SADD")
        .arg(redis.key(STREAMS_KEY))
        .arg(node)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Every node that has (or had) a stream.
pub async fn stream_nodes(redis: &Redis) -> anyhow::Result<Vec<String>> {
    let mut conn = redis.conn().await?;
    let nodes: Vec<String> = redis::cmd("SMEMBERS")
        .arg(redis.key(STREAMS_KEY))
        .query_async(&mut conn)
        .await?;
    Ok(nodes)
}

/// Appends entries, each to its node's stream, in one round trip (bounded by
/// [`STREAM_MAXLEN`]).
pub async fn add(redis: &Redis, entries: &[(String, String)]) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for (node, body) in entries {
        pipe.cmd("XADD")
            .arg(stream_key(redis, node))
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_MAXLEN)
            .arg("*")
            .arg(BODY)
            .arg(body)
            .ignore();
    }
    let mut conn = redis.conn().await?;
    let () = pipe.query_async(&mut conn).await?;
    Ok(())
}

/// Reads entries of `node`'s stream for `consumer`: `pending` rereads the ones handed to it
/// before and not acknowledged (id `0`), else the new ones (`>`), waiting up to `block_ms`
/// for some (0: not at all).
pub async fn read(
    redis: &Redis,
    node: &str,
    consumer: &str,
    pending: bool,
    count: usize,
    block_ms: u64,
) -> anyhow::Result<Vec<Entry>> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(GROUP)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if block_ms > 0 {
        cmd.arg("BLOCK").arg(block_ms);
    }
    cmd.arg("STREAMS")
        .arg(stream_key(redis, node))
        .arg(if pending { "0" } else { ">" });
    let mut conn = redis.conn().await?;
    let reply: Value = cmd.query_async(&mut conn).await?;
    // [[key, [entry, ...]]] or nil.
    let entries = match reply {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|stream| match stream {
                Value::Array(mut parts) if parts.len() == 2 => parts.pop(),
                _ => None,
            })
            .flat_map(entries_of)
            .collect(),
        _ => Vec::new(),
    };
    Ok(entries)
}

/// Claims for `consumer` entries of `node`'s stream that were handed to a reader at least
/// `min_idle_ms` ago and never acknowledged.
pub async fn claim_idle(
    redis: &Redis,
    node: &str,
    consumer: &str,
    min_idle_ms: u64,
    count: usize,
) -> anyhow::Result<Vec<Entry>> {
    let mut conn = redis.conn().await?;
    let reply: Value = redis::cmd("XAUTOCLAIM")
        .arg(stream_key(redis, node))
        .arg(GROUP)
        .arg(consumer)
        .arg(min_idle_ms)
        .arg("0-0")
        .arg("COUNT")
        .arg(count)
        .query_async(&mut conn)
        .await?;
    // [next start, [entry, ...], (Redis 7: [deleted id, ...])]
    let entries = match reply {
        Value::Array(parts) => parts.into_iter().nth(1).map(entries_of).unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(entries)
}

/// Acknowledges entries of `node`'s stream: they are done.
pub async fn ack(redis: &Redis, node: &str, ids: &[String]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut conn = redis.conn().await?;
    let _: i64 = redis::cmd("XACK")
        .arg(stream_key(redis, node))
        .arg(GROUP)
        .arg(ids)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// `[[id, [field, value, ...]], ...]` as entries (a trimmed entry has no fields).
fn entries_of(value: Value) -> Vec<Entry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            let fields = parts.pop()?;
            let id = text(parts.pop()?)?;
            let body = match fields {
                Value::Array(fields) => {
                    let mut fields = fields.into_iter();
                    let mut body = None;
                    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                        if text(name).as_deref() == Some(BODY) {
                            body = text(value);
                        }
                    }
                    body
                }
                _ => None,
            };
            Some(Entry { id, body })
        })
        .collect()
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}
