//! Where the CPU went during a window: this process's server and load-generator threads,
//! PostgreSQL's and Redis's processes, and the whole machine.

use std::time::{Duration, Instant};

use crate::support::cpu::{read_stat, TICKS_PER_SECOND};
use crate::support::server::LOAD_THREAD;

/// CPU ticks now: this process's server threads and load-generator threads, PostgreSQL's and
/// Redis's processes, and the whole machine's busy time.
pub(crate) fn cpu_sample() -> (Instant, [u64; 5]) {
    let mut ticks = [0; 5];
    for task in list_dir("/proc/self/task") {
        if let Some(stat) = read_stat(format!("/proc/self/task/{task}/stat")) {
            let t = stat.ticks + stat.reaped_children_ticks;
            ticks[usize::from(stat.comm.starts_with(LOAD_THREAD))] += t;
        }
    }
    for pid in list_dir("/proc").filter(|name| name.bytes().all(|b| b.is_ascii_digit())) {
        let Some(stat) = read_stat(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let t = stat.ticks + stat.reaped_children_ticks;
        if stat.comm.starts_with("postgres") {
            ticks[2] += t;
        } else if stat.comm.starts_with("redis-server") {
            ticks[3] += t;
        }
    }
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    ticks[4] = fields.iter().take(8).sum::<u64>().saturating_sub(idle);
    (Instant::now(), ticks)
}

/// Wall time and CPU seconds since `before`, in [`cpu_sample`]'s order.
pub(crate) fn cpu_since(before: &(Instant, [u64; 5])) -> (Duration, [f64; 5]) {
    let now = cpu_sample();
    let seconds =
        std::array::from_fn(|i| now.1[i].saturating_sub(before.1[i]) as f64 / TICKS_PER_SECOND);
    (now.0.duration_since(before.0), seconds)
}

fn list_dir(path: &str) -> impl Iterator<Item = String> {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
}
