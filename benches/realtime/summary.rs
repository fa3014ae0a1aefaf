//! The run's figures, printed as one table at the end (figure, value, target, met?), with
//! the machine, notes and problems.

use crate::baseline::BaselineFigure;
use crate::ingest::IngestFigure;
use crate::latency::LatencyFigure;
use crate::memory::MemoryFigure;
use crate::plan::{
    Plan, TARGET_ACTOR_BYTES, TARGET_INGEST_RATIO, TARGET_P99, TARGET_RATE, TARGET_SESSIONS,
};
use crate::support::host::{load_average, machine};
use crate::units::{grouped, ms};

/// The run's figures, printed as a table at the end.
pub(crate) struct Summary {
    pub(crate) plan: Plan,
    pub(crate) baseline: Option<BaselineFigure>,
    pub(crate) ingest: Option<IngestFigure>,
    pub(crate) latency: Option<LatencyFigure>,
    /// The extra window within what ingest sustained, when ingest is below the target rate.
    pub(crate) sustainable: Option<LatencyFigure>,
    pub(crate) memory: Option<MemoryFigure>,
    problems: Vec<String>,
    /// Other findings worth repeating under the table.
    pub(crate) notes: Vec<String>,
}

impl Summary {
    pub(crate) fn new(plan: Plan) -> Self {
        Summary {
            plan,
            baseline: None,
            ingest: None,
            latency: None,
            sustainable: None,
            memory: None,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn fail(&mut self, problem: String) {
        println!("  problem: {problem}");
        self.problems.push(problem);
    }

    /// ", = 27.5 % of the baseline" when there is a baseline.
    pub(crate) fn ratio_text(&self, rate: f64) -> String {
        match self.baseline {
            Some(baseline) if baseline.rate > 0.0 => {
                format!(" = {:.1} % of the baseline", 100.0 * rate / baseline.rate)
            }
            _ => String::new(),
        }
    }

    pub(crate) fn print(&self) {
        let mut rows: Vec<[String; 4]> = Vec::new();
        let baseline_rate = self.baseline.filter(|b| b.rate > 0.0).map(|b| b.rate);
        rows.push(match self.baseline {
            Some(b) => [
                "broker QoS 1 drain (baseline)".into(),
                format!(
                    "{} msg/s{}",
                    grouped(b.rate as u64),
                    if b.complete { "" } else { " (timed out)" }
                ),
                "reference".into(),
                "".into(),
            ],
            None => [
                "broker QoS 1 drain (baseline)".into(),
                "not measured".into(),
                "reference".into(),
                "".into(),
            ],
        });
        rows.push(match (self.ingest, baseline_rate) {
            (Some(i), Some(base)) => {
                let ratio = i.rate / base;
                [
                    "ingest, end to end (stored, actor, fences)".into(),
                    format!(
                        "{} msg/s = {:.1} %{}",
                        grouped(i.rate as u64),
                        100.0 * ratio,
                        if i.complete {
                            format!(" ({:.1} s)", i.elapsed.as_secs_f64())
                        } else {
                            format!(" (timed out at {} stored)", grouped(i.stored))
                        }
                    ),
                    format!("≥ {:.0} % of baseline", 100.0 * TARGET_INGEST_RATIO),
                    yes_no(i.complete && ratio >= TARGET_INGEST_RATIO),
                ]
            }
            (Some(i), None) => [
                "ingest, end to end (stored, actor, fences)".into(),
                format!("{} msg/s (no baseline)", grouped(i.rate as u64)),
                format!("≥ {:.0} % of baseline", 100.0 * TARGET_INGEST_RATIO),
                "?".into(),
            ],
            (None, _) => [
                "ingest, end to end (stored, actor, fences)".into(),
                "not measured".into(),
                format!("≥ {:.0} % of baseline", 100.0 * TARGET_INGEST_RATIO),
                "no".into(),
            ],
        });
        if let Some(l) = &self.sustainable {
            rows.push([
                format!("publish → state, within ingest capacity ({})", load_text(l)),
                latency_text(l),
                "(diagnostic)".into(),
                "".into(),
            ]);
        }
        let target = format!(
            "p99 ≤ {} ms at {} msg/s, {} sessions",
            TARGET_P99.as_millis(),
            grouped(TARGET_RATE.into()),
            grouped(TARGET_SESSIONS as u64)
        );
        rows.push(match &self.latency {
            Some(l) => {
                let delivered = l.matched as f64 >= 0.99 * l.expected as f64;
                let full_load = l.sessions >= TARGET_SESSIONS
                    && l.achieved_rate >= 0.98 * f64::from(TARGET_RATE);
                let met = if self.plan.quick {
                    format!("n/a (quick: {} sessions)", grouped(l.sessions as u64))
                } else if !full_load {
                    "no (load not reached)".to_owned()
                } else if !delivered {
                    "no (frames missing)".to_owned()
                } else {
                    yes_no(l.p99 <= TARGET_P99)
                };
                [
                    format!("publish → state ({})", load_text(l)),
                    latency_text(l),
                    target,
                    met,
                ]
            }
            None => [
                "publish → state".into(),
                "not measured".into(),
                target,
                "no".into(),
            ],
        });
        rows.push(match self.memory {
            Some(m) => {
                // The allocator's count when there is one: RSS adds page and arena slack that
                // moves by hundreds of bytes per actor from run to run.
                let cost = m.heap_marginal.unwrap_or(m.rss_marginal);
                let heap = m
                    .heap_marginal
                    .zip(m.heap_overall)
                    .map_or(String::new(), |(a, b)| {
                        format!("heap {a:.0} B ({b:.0} B overall), ")
                    });
                [
                    "memory per idle collar actor".into(),
                    format!(
                        "{heap}RSS {:.0} B ({:.0} B overall), over {} actors{}",
                        m.rss_marginal,
                        m.rss_overall,
                        grouped(m.collars),
                        if m.complete { "" } else { ", timed out" }
                    ),
                    format!("≤ {TARGET_ACTOR_BYTES:.0} B"),
                    yes_no(m.complete && cost <= TARGET_ACTOR_BYTES),
                ]
            }
            None => [
                "memory per idle collar actor".into(),
                "not measured".into(),
                format!("≤ {TARGET_ACTOR_BYTES:.0} B"),
                "no".into(),
            ],
        });

        println!();
        println!("Summary");
        let widths: Vec<usize> = (0..4)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([["figure", "value", "target", "met?"][c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: [&str; 4]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
                .collect();
            println!("  {}", padded.join("  ").trim_end());
        };
        line(["figure", "value", "target", "met?"]);
        line(["------", "-----", "------", "----"]);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3]]);
        }
        println!("  machine: {}", machine());
        println!("  load average at the end: {}", load_average());
        for note in &self.notes {
            println!("  note: {note}");
        }
        for problem in &self.problems {
            println!("  problem: {problem}");
        }
    }
}

fn load_text(l: &LatencyFigure) -> String {
    format!(
        "{:.0} msg/s, {} sessions",
        l.achieved_rate,
        grouped(l.sessions as u64)
    )
}

fn latency_text(l: &LatencyFigure) -> String {
    format!(
        "p50 {:.1} / p90 {:.1} / p99 {:.1} ms, max {:.0} ms; {:.1} % of frames",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.max),
        100.0 * l.matched as f64 / l.expected.max(1) as f64
    )
}

fn yes_no(met: bool) -> String {
    if met { "yes" } else { "no" }.to_owned()
}
