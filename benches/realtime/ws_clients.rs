//! The WebSocket client process (`--ws-clients`): opens and subscribes the sessions, says
//! `ready`, reads frames until told to stop, then reports each new `state` it saw. It is a
//! child process so the sockets' ends do not share the server's open-file limit.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use awc::error::WsProtocolError;
use awc::ws::{Frame, Message};
use futures_util::{stream, FutureExt, Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::latency::Received;
use crate::units::wall_ns;

/// The argument that turns this program into the WebSocket client process.
pub(crate) const WS_CLIENTS_FLAG: &str = "--ws-clients";
/// WebSocket handshakes (+ subscribe) at once.
pub(crate) const WS_IN_FLIGHT: usize = 200;
/// How long one handshake, `hello` or subscribe answer may take.
const WS_STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Most `state` frames the client process keeps in memory.
const MAX_RECORDS: usize = 5_000_000;

/// awc's framed connection, named by what it does (its type is not exported).
trait Frames:
    Stream<Item = Result<Frame, WsProtocolError>> + Sink<Message, Error = WsProtocolError> + Unpin
{
}

impl<T> Frames for T where
    T: Stream<Item = Result<Frame, WsProtocolError>>
        + Sink<Message, Error = WsProtocolError>
        + Unpin
{
}

/// What every reader task of the client process adds to.
#[derive(Default)]
struct Seen {
    pub(crate) records: RefCell<Vec<Received>>,
    pub(crate) alerts: Cell<u64>,
    other: Cell<u64>,
    closed_by_server: Cell<u64>,
    pub(crate) errors: Cell<u64>,
}

pub(crate) fn ws_clients_main() -> i32 {
    actix_web::rt::System::new().block_on(async {
        match ws_clients().await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("realtime {WS_CLIENTS_FLAG}: {error:#}");
                1
            }
        }
    })
}

/// Reads a job line, opens and subscribes the sessions, says `ready`, reads frames until
/// `stop`, then prints one `r pet ts ns` line per new `state` and a `done` line.
async fn ws_clients() -> anyhow::Result<()> {
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    let job = input.next_line().await?.context("no job on stdin")?;
    let job: Value = serde_json::from_str(&job)?;
    let url = job["url"].as_str().context("job.url")?.to_owned();
    let token = job["token"].as_str().context("job.token")?.to_owned();
    let sessions: Vec<(u32, String)> = serde_json::from_value(job["sessions"].clone())?;
    let open_budget = Duration::from_millis(job["open_budget_ms"].as_u64().unwrap_or(60_000));
    let hold = Duration::from_millis(job["hold_ms"].as_u64().unwrap_or(300_000));
    let client = awc::Client::builder()
        .max_http_version(awc::http::Version::HTTP_11)
        // A WebSocket keeps its pool permit while open; the default pool allows 100.
        .connector(awc::Connector::new().limit(0))
        .timeout(WS_STEP_TIMEOUT)
        .finish();
    let seen = Rc::new(Seen::default());
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + open_budget;
    let mut readers = Vec::with_capacity(sessions.len());
    let mut per_pet: Vec<u64> = Vec::new();
    let (mut failed, mut first_error) = (0usize, None::<String>);
    {
        let mut opening = stream::iter(&sessions)
            .map(|(pet, pet_id)| {
                let pet = *pet;
                open_session(&client, &url, &token, pet_id).map(move |opened| (pet, opened))
            })
            .buffer_unordered(WS_IN_FLIGHT);
        loop {
            match tokio::time::timeout_at(deadline, opening.next()).await {
                Ok(Some((pet, Ok(framed)))) => {
                    let slot = pet as usize;
                    if per_pet.len() <= slot {
                        per_pet.resize(slot + 1, 0);
                    }
                    per_pet[slot] += 1;
                    readers.push(actix_web::rt::spawn(read_socket(
                        framed,
                        pet,
                        Rc::clone(&seen),
                    )));
                }
                Ok(Some((_, Err(error)))) => {
                    failed += 1;
                    first_error.get_or_insert(error);
                }
                Ok(None) => break,
                Err(_) => {
                    first_error
                        .get_or_insert(format!("opening did not finish within {open_budget:?}"));
                    break;
                }
            }
        }
    }
    let opened = readers.len();
    let ready = json!({
        "opened": opened,
        "failed": failed,
        "not_attempted": sessions.len() - opened - failed,
        "elapsed_ms": started.elapsed().as_millis() as u64,
        "first_error": first_error,
        "per_pet": per_pet,
    });
    println!("ready {ready}");
    let _ = tokio::time::timeout(hold, async {
        while let Ok(Some(line)) = input.next_line().await {
            if line.trim() == "stop" {
                break;
            }
        }
    })
    .await;
    let still_open = readers.iter().filter(|r| !r.is_finished()).count();
    for reader in &readers {
        reader.abort();
    }
    let records = seen.records.take();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in &records {
        writeln!(out, "r {} {} {}", r.pet, r.ts, r.at_ns)?;
    }
    let done = json!({
        "records": records.len(),
        "alerts": seen.alerts.get(),
        "other": seen.other.get(),
        "closed_by_server": seen.closed_by_server.get(),
        "errors": seen.errors.get(),
        "still_open": still_open,
    });
    writeln!(out, "done {done}")?;
    out.flush()?;
    Ok(())
}

/// Handshake, `hello`, subscribe, and the subscribe's answer.
async fn open_session(
    client: &awc::Client,
    url: &str,
    token: &str,
    pet_id: &str,
) -> Result<Box<dyn Frames>, String> {
    let (response, mut framed) = client
        .ws(url)
        .bearer_auth(token)
        .connect()
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    if response.status().as_u16() != 101 {
        return Err(format!("handshake: status {}", response.status()));
    }
    expect_frame(&mut framed, "hello").await?;
    let subscribe = json!({"type": "subscribe", "pet_ids": [pet_id]}).to_string();
    framed
        .send(Message::Text(subscribe.into()))
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    expect_frame(&mut framed, "state").await?;
    Ok(Box::new(framed))
}

async fn expect_frame<F: Frames>(framed: &mut F, kind: &str) -> Result<(), String> {
    let prefix = format!("{{\"type\":\"{kind}\"");
    let until = tokio::time::Instant::now() + WS_STEP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(until, framed.next()).await {
            Err(_) => return Err(format!("no {kind} frame within {WS_STEP_TIMEOUT:?}")),
            Ok(None) => return Err(format!("closed before {kind}")),
            Ok(Some(Err(e))) => return Err(format!("before {kind}: {e}")),
            Ok(Some(Ok(Frame::Text(text)))) => {
                if text.starts_with(prefix.as_bytes()) {
                    return Ok(());
                }
                if text.starts_with(b"{\"type\":\"error\"") {
                    return Err(String::from_utf8_lossy(&text).into_owned());
                }
            }
            Ok(Some(Ok(Frame::Ping(payload)))) => {
                framed
                    .send(Message::Pong(payload))
                    .await
                    .map_err(|e| format!("pong: {e}"))?;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Reads one socket: notes each `state` whose `last_seen` is new, answers pings.
async fn read_socket<F: Frames>(mut framed: F, pet: u32, seen: Rc<Seen>) {
    let mut newest = i64::MIN;
    while let Some(frame) = framed.next().await {
        match frame {
            Ok(Frame::Text(text)) => {
                let at_ns = wall_ns();
                if text.starts_with(b"{\"type\":\"state\"") {
                    if let Some(ts) = last_seen(&text) {
                        if ts != newest {
                            newest = ts;
                            let mut records = seen.records.borrow_mut();
                            if records.len() < MAX_RECORDS {
                                records.push(Received { pet, ts, at_ns });
                            }
                        }
                    }
                } else if text.starts_with(b"{\"type\":\"alert\"") {
                    seen.alerts.set(seen.alerts.get() + 1);
                } else {
                    seen.other.set(seen.other.get() + 1);
                }
            }
            Ok(Frame::Ping(payload)) => {
                if framed.send(Message::Pong(payload)).await.is_err() {
                    break;
                }
            }
            Ok(Frame::Close(_)) => break,
            Ok(_) => {}
            Err(_) => {
                seen.errors.set(seen.errors.get() + 1);
                return;
            }
        }
    }
    seen.closed_by_server.set(seen.closed_by_server.get() + 1);
}

/// `state.last_seen` of a `state` frame, found without parsing the whole frame.
fn last_seen(frame: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"last_seen\":";
    let start = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = frame[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&frame[start..start + digits])
        .ok()?
        .parse()
        .ok()
}
