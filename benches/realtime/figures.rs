//! The latency figures: each `state` frame matched to the sample it shows, then per window
//! the load reached, the share of frames received, the distribution and its p99 per second.

use std::collections::HashMap;
use std::time::Duration;

use crate::latency::{LatencyFigure, Sent};
use crate::support::stats::percentile;
use crate::units::{grouped, ms};
use crate::windows::{Window, WindowRun};

/// Matches frames to samples and prints each window's distribution and CPU.
pub(crate) fn latency_figures(
    window: &Window,
    sent: &[Sent],
    pets: usize,
) -> Vec<Option<LatencyFigure>> {
    let published: HashMap<(u32, i64), (u64, usize)> = sent
        .iter()
        .map(|s| ((s.collar, s.ts), (s.at_ns, s.window)))
        .collect();
    // (publish time, latency) of every matched frame, per window.
    let mut matched: Vec<Vec<(u64, u64)>> = vec![Vec::new(); window.runs.len()];
    for record in &window.records {
        if let Some(&(at, number)) = published.get(&(record.pet, record.ts)) {
            if let Some(run) = matched.get_mut(number - 1) {
                run.push((at, record.at_ns.saturating_sub(at)));
            }
        }
    }
    window
        .runs
        .iter()
        .zip(matched)
        .enumerate()
        .map(|(i, (run, frames))| window_figure(window, run, i + 1, sent, frames, pets))
        .collect()
}

fn window_figure(
    window: &Window,
    run: &WindowRun,
    number: usize,
    sent: &[Sent],
    frames: Vec<(u64, u64)>,
    pets: usize,
) -> Option<LatencyFigure> {
    let sent: Vec<&Sent> = sent.iter().filter(|s| s.window == number).collect();
    let expected: u64 = sent
        .iter()
        .map(|s| window.per_pet.get(s.collar as usize).copied().unwrap_or(0))
        .sum();
    let achieved = sent.len() as f64 / run.length.as_secs_f64();
    println!(
        "  window {number} ({} msg/s): published {} samples in {:.2} s → {:.0} msg/s over {} collars",
        grouped(u64::from(run.rate)),
        grouped(sent.len() as u64),
        run.length.as_secs_f64(),
        achieved,
        grouped(pets as u64)
    );
    println!(
        "    state frames expected (each sample × the sessions watching its pet): {}, received: {} ({:.2} %)",
        grouped(expected),
        grouped(frames.len() as u64),
        100.0 * frames.len() as f64 / expected.max(1) as f64
    );
    let seconds = run.length.as_secs().max(1) as usize;
    let mut by_second: Vec<Vec<u64>> = vec![Vec::new(); seconds];
    let mut all: Vec<u64> = Vec::with_capacity(frames.len());
    for (at, latency) in frames {
        let second = (at.saturating_sub(run.start_ns) / 1_000_000_000) as usize;
        by_second[second.min(seconds - 1)].push(latency);
        all.push(latency);
    }
    run.cpu.1.print_since(&run.cpu.0, run.length);
    if all.is_empty() {
        return None;
    }
    all.sort_unstable();
    let q = |p: f64| Duration::from_nanos(percentile(&all, p).unwrap_or(0));
    let max = Duration::from_nanos(*all.last().unwrap_or(&0));
    println!(
        "    publish → state frame: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
        ms(q(0.50)),
        ms(q(0.90)),
        ms(q(0.99)),
        ms(max),
        grouped(all.len() as u64)
    );
    let per_second: Vec<String> = by_second
        .iter_mut()
        .map(|latencies| {
            latencies.sort_unstable();
            match latencies.is_empty() {
                true => "-".to_owned(),
                false => format!(
                    "{:.1}",
                    percentile(latencies, 0.99).unwrap_or(0) as f64 / 1e6
                ),
            }
        })
        .collect();
    println!(
        "    p99 by second of publishing (ms): {}",
        per_second.join("  ")
    );
    Some(LatencyFigure {
        target_rate: run.rate,
        sessions: window.opened,
        achieved_rate: achieved,
        p50: q(0.50),
        p90: q(0.90),
        p99: q(0.99),
        max,
        matched: all.len() as u64,
        expected,
    })
}
