//! The latency windows as they run: the WebSocket client process started and handed its
//! job, each recording window at its rate with its CPU, and the frames the process saw.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::cpu::CpuTimes;
use crate::latency::{Pace, Received};
use crate::server::Ctx;
use crate::units::{grouped, wall_ns};
use crate::ws_clients::WS_CLIENTS_FLAG;

const SESSIONS_BUDGET: Duration = Duration::from_secs(120);
/// Time at the keep-alive rate between opening the sessions and the first window.
const SESSION_SETTLE: Duration = Duration::from_secs(3);
/// Seconds at the target rate before latencies are recorded.
const WARM_UP: Duration = Duration::from_secs(1);
/// How long frames of the window's last samples are waited for.
const STRAGGLERS: Duration = Duration::from_secs(3);
/// How long the WebSocket child may take to report what it received.
const REPORT_WAIT: Duration = Duration::from_secs(60);

/// One recording window as it ran.
pub(crate) struct WindowRun {
    pub(crate) rate: u32,
    pub(crate) start_ns: u64,
    pub(crate) length: Duration,
    pub(crate) cpu: (CpuTimes, CpuTimes),
}

/// What the WebSocket clients saw, and when the windows ran.
pub(crate) struct Window {
    pub(crate) opened: usize,
    pub(crate) per_pet: Vec<u64>,
    pub(crate) runs: Vec<WindowRun>,
    pub(crate) records: Vec<Received>,
    /// The server process's growth per open session: (RSS, heap) bytes.
    pub(crate) per_session: Option<(f64, Option<f64>)>,
}

/// Opens the sessions in the child process, runs the windows, collects the frames.
pub(crate) async fn watch_windows(
    ctx: &Ctx,
    pace: &Pace,
    keepalive: f64,
    sessions: &[(u32, String)],
    token: &str,
    rates: &[u32],
) -> anyhow::Result<Window> {
    let clock = ctx.clock;
    let open_budget = clock.budget(SESSIONS_BUDGET);
    let hold = open_budget
        + SESSION_SETTLE
        + (WARM_UP + ctx.plan.window) * rates.len() as u32
        + STRAGGLERS
        + REPORT_WAIT;
    // The clients live in a child process: this process's growth is the server's sessions.
    let before_sessions = crate::rss::settled().await;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg(WS_CLIENTS_FLAG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the WebSocket client process")?;
    let child_pid = child.id().unwrap_or(0);
    let mut stdin = child.stdin.take().context("the child's stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("the child's stdout")?).lines();
    let job = json!({
        "url": format!("{}/v1/ws", ctx.server.base),
        "token": token,
        "sessions": sessions,
        "open_budget_ms": open_budget.as_millis() as u64,
        "hold_ms": hold.as_millis() as u64,
    });
    stdin.write_all(format!("{job}\n").as_bytes()).await?;
    stdin.flush().await?;
    let ready = read_tagged(&mut lines, "ready ", open_budget + Duration::from_secs(10)).await?;
    let ready: Value = serde_json::from_str(&ready)?;
    let opened = ready["opened"].as_u64().unwrap_or(0) as usize;
    let per_pet: Vec<u64> = ready["per_pet"]
        .as_array()
        .map(|counts| counts.iter().map(|c| c.as_u64().unwrap_or(0)).collect())
        .unwrap_or_default();
    clock.say(format!(
        "latency: {} sessions open and subscribed in {:.1} s ({} failed, {} not tried{})",
        grouped(opened as u64),
        ready["elapsed_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        ready["failed"],
        ready["not_attempted"],
        ready["first_error"]
            .as_str()
            .map_or(String::new(), |e| format!("; first error: {e}"))
    ));
    if opened == 0 {
        bail!("no WebSocket session could be opened");
    }

    tokio::time::sleep(SESSION_SETTLE).await;
    let per_session = before_sessions
        .zip(crate::rss::settled().await)
        .map(|(before, after)| crate::rss::per_actor(before, after, opened as u64));
    let mut watched = ctx.watched();
    watched.push(("bench: WebSocket clients (child process)", child_pid));
    let mut runs = Vec::with_capacity(rates.len());
    for (i, &rate) in rates.iter().enumerate() {
        if clock.budget(WARM_UP + ctx.plan.window + STRAGGLERS)
            < WARM_UP + ctx.plan.window + STRAGGLERS
        {
            println!("  timed out: no time left for the {rate} msg/s window");
            break;
        }
        pace.set_total(f64::from(rate));
        tokio::time::sleep(WARM_UP).await;
        let cpu_before = CpuTimes::take(&watched);
        let start_ns = wall_ns();
        let started = Instant::now();
        pace.recording.store(i + 1, Ordering::Relaxed);
        clock.say(format!(
            "latency: window {}: {} msg/s for {} s (after {} s of warm-up)",
            i + 1,
            grouped(u64::from(rate)),
            ctx.plan.window.as_secs(),
            WARM_UP.as_secs()
        ));
        tokio::time::sleep(ctx.plan.window).await;
        pace.recording.store(0, Ordering::Relaxed);
        let length = started.elapsed();
        let cpu_after = CpuTimes::take(&watched);
        runs.push(WindowRun {
            rate,
            start_ns,
            length,
            cpu: (cpu_before, cpu_after),
        });
    }
    pace.set_total(keepalive);
    tokio::time::sleep(STRAGGLERS).await;

    stdin.write_all(b"stop\n").await?;
    stdin.flush().await?;
    let mut records = Vec::new();
    let report = tokio::time::timeout(REPORT_WAIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("r ") {
                let mut fields = rest.split(' ').map(str::parse::<i64>);
                if let (Some(Ok(pet)), Some(Ok(ts)), Some(Ok(at))) =
                    (fields.next(), fields.next(), fields.next())
                {
                    records.push(Received {
                        pet: pet as u32,
                        ts,
                        at_ns: at as u64,
                    });
                }
            } else if let Some(done) = line.strip_prefix("done ") {
                return anyhow::Ok(done.to_owned());
            }
        }
        bail!("the WebSocket client process ended without its report")
    })
    .await
    .context("the WebSocket client process did not report in time")??;
    let done: Value = serde_json::from_str(&report)?;
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    println!(
        "  client side: {} new states recorded, {} alerts, {} other frames; {} sessions closed \
         by the server, {} read errors, {} still open at the end",
        grouped(done["records"].as_u64().unwrap_or(0)),
        done["alerts"],
        done["other"],
        done["closed_by_server"],
        done["errors"],
        done["still_open"],
    );
    Ok(Window {
        opened,
        per_pet,
        runs,
        records,
        per_session,
    })
}

/// The next line starting with `tag`, without it.
async fn read_tagged<R>(
    lines: &mut tokio::io::Lines<R>,
    tag: &str,
    within: Duration,
) -> anyhow::Result<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let read = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(tag) {
                return anyhow::Ok(rest.to_owned());
            }
        }
        bail!("the WebSocket client process ended early")
    };
    tokio::time::timeout(within, read)
        .await
        .with_context(|| format!("no {tag:?} line within {within:?}"))?
}
