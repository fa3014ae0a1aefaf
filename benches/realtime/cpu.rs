//! Where the CPU went: this process's threads by role (server arbiters, HTTP workers, main
//! thread, blocking pool, load generator) and the other processes taking part (the private
//! broker, the stores, the WebSocket client process).

use crate::summary::PhaseCpu;
use crate::support::cpu::{read_stat, TICKS_PER_SECOND};
use crate::support::host::cores;
use crate::support::server::LOAD_THREAD;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// CPU ticks (1/100 s) per part: this process's threads by role, and the other processes
/// that take part (the private broker, the stores, the WebSocket client process).
#[derive(Debug, Clone, Default)]
pub(crate) struct CpuTimes {
    /// Other processes, by role.
    parts: BTreeMap<String, u64>,
    /// This process's live threads: id → (role, ticks).
    threads: HashMap<u32, (String, u64)>,
    /// This process as a whole, which also counts threads that have exited.
    own_total: u64,
}

impl CpuTimes {
    pub(crate) fn take(watched: &[(&'static str, u32)]) -> CpuTimes {
        let mut parts: BTreeMap<String, u64> = BTreeMap::new();
        let mut threads = HashMap::new();
        let me = std::process::id();
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let tid: u32 = task.file_name().to_string_lossy().parse().unwrap_or(0);
                if let Some(stat) = read_stat(task.path().join("stat")) {
                    threads.insert(tid, (thread_role(tid, tid == me, &stat.comm), stat.ticks));
                }
            }
        }
        let own_total = read_stat("/proc/self/stat").map_or(0, |stat| stat.ticks);
        let mut known: Vec<u32> = vec![me];
        for &(label, pid) in watched {
            if let Some(stat) = read_stat(format!("/proc/{pid}/stat")) {
                *parts.entry(label.to_owned()).or_default() += stat.ticks;
            }
            known.push(pid);
        }
        if let Ok(processes) = std::fs::read_dir("/proc") {
            for process in processes.flatten() {
                let Ok(pid) = process.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                if known.contains(&pid) {
                    continue;
                }
                let Some(role) = service_role(&process.path()) else {
                    continue;
                };
                if let Some(stat) = read_stat(process.path().join("stat")) {
                    *parts.entry(role.to_owned()).or_default() += stat.ticks;
                }
            }
        }
        CpuTimes {
            parts,
            threads,
            own_total,
        }
    }

    /// CPU seconds per part since `before`.
    pub(crate) fn spent_since(&self, before: &CpuTimes) -> BTreeMap<String, f64> {
        let mut spent: BTreeMap<String, u64> = BTreeMap::new();
        for (label, ticks) in &self.parts {
            let since = ticks.saturating_sub(*before.parts.get(label).unwrap_or(&0));
            *spent.entry(label.clone()).or_default() += since;
        }
        // A thread alive at both readings counts its difference, one started meanwhile all it
        // spent; what the process spent beyond that went to threads that exited meanwhile (the
        // blocking pool's threads end after 10 s idle).
        let mut live = 0;
        for (tid, (role, ticks)) in &self.threads {
            let since = ticks.saturating_sub(before.threads.get(tid).map_or(0, |(_, t)| *t));
            *spent.entry(role.clone()).or_default() += since;
            live += since;
        }
        let exited = self
            .own_total
            .saturating_sub(before.own_total)
            .saturating_sub(live);
        if exited > 0 {
            spent.insert(EXITED_ROLE.to_owned(), exited);
        }
        spent
            .into_iter()
            .map(|(label, ticks)| (label, ticks as f64 / TICKS_PER_SECOND))
            .collect()
    }

    /// What a phase since `before` cost the server (its threads, and the blocking-pool
    /// threads that exited meanwhile) and the telemetry store, for the run summary.
    pub(crate) fn phase_since(&self, before: &CpuTimes) -> PhaseCpu {
        let spent = self.spent_since(before);
        let server_s = spent
            .iter()
            .filter(|(role, _)| role.starts_with("server:") || role.as_str() == EXITED_ROLE)
            .map(|(_, seconds)| seconds)
            .sum();
        let store_s = spent.get(MONGODB_ROLE).copied().unwrap_or(0.0);
        PhaseCpu { server_s, store_s }
    }

    /// CPU seconds per part since `before`, and the share of one core over `wall`.
    pub(crate) fn print_since(&self, before: &CpuTimes, wall: Duration) {
        let mut rows: Vec<(String, f64)> = self.spent_since(before).into_iter().collect();
        rows.retain(|(_, seconds)| *seconds > 0.0);
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        let cores = cores();
        println!(
            "  CPU over these {:.1} s ({cores} cores = {} % available):",
            wall.as_secs_f64(),
            cores * 100
        );
        for (label, seconds) in rows {
            println!(
                "    {label:<62} {seconds:7.2} s  {:5.0} %",
                100.0 * seconds / wall.as_secs_f64()
            );
        }
    }
}

/// Roles of the server's actix threads, by thread id (see [`note_server_threads`]).
static SERVER_THREADS: std::sync::OnceLock<HashMap<u32, &'static str>> = std::sync::OnceLock::new();
const ARBITER_ROLE: &str = "server: collar-actor arbiters";
const WORKER_ROLE: &str = "server: HTTP/WebSocket workers (sessions)";
const EXITED_ROLE: &str = "this process: threads that exited meanwhile (blocking pool)";
const MONGODB_ROLE: &str = "store: MongoDB (nx-27017)";

/// Tells the server's collar-actor arbiters from its HTTP workers, which the kernel names
/// alike (`actix-rt|system:0|arbiter:N`, cut to 15 characters). `Application::build` starts
/// one arbiter per core before the HTTP server's workers (which start once the System runs
/// again), and thread ids grow in creation order: the first ones are the arbiters.
pub(crate) fn note_server_threads() {
    let mut actix: Vec<u32> = std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|task| {
                    let tid = task.file_name().to_string_lossy().parse().ok()?;
                    let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                    comm.starts_with("actix-rt|system").then_some(tid)
                })
                .collect()
        })
        .unwrap_or_default();
    actix.sort_unstable();
    let roles = actix
        .iter()
        .take(cores())
        .map(|tid| (*tid, ARBITER_ROLE))
        .collect();
    let _ = SERVER_THREADS.set(roles);
}

fn thread_role(tid: u32, main: bool, comm: &str) -> String {
    let known = SERVER_THREADS.get().and_then(|roles| roles.get(&tid));
    let role = if main {
        "server: main thread (MQTT loop, pipeline, persistence, hub)"
    } else if let Some(role) = known {
        role
    } else if comm.starts_with("actix-rt|system") || comm.starts_with("actix-server") {
        WORKER_ROLE
    } else if comm.starts_with(LOAD_THREAD) {
        "bench: publishers, HTTP and MongoDB clients"
    } else if comm.starts_with("tokio-rt-worker") {
        "server: blocking pool (fence indexing, Argon2)"
    } else {
        return format!("other threads of this process ({comm})");
    };
    role.to_owned()
}

fn service_role(process: &std::path::Path) -> Option<&'static str> {
    let comm = std::fs::read_to_string(process.join("comm")).ok()?;
    let comm = comm.trim();
    if comm == "postgres" {
        return Some("store: PostgreSQL");
    }
    if comm.starts_with("redis-server") {
        return Some("store: Redis");
    }
    let cmdline = std::fs::read(process.join("cmdline")).ok()?;
    let needle = b"nx-27017";
    cmdline
        .windows(needle.len())
        .any(|w| w == needle)
        .then_some(MONGODB_ROLE)
}
