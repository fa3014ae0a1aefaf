//! The run's figures: each one becomes a row of the run summary (figure, value, target, met?)
//! the moment it is measured, beside its same-run baseline; at the end they are printed as one
//! table with the machine, notes and problems.

use std::time::Duration;

use crate::baseline::BaselineFigure;
use crate::ingest::IngestFigure;
use crate::latency::LatencyFigure;
use crate::memory::MemoryFigure;
use crate::plan::{
    Plan, TARGET_ACTOR_BYTES, TARGET_COLD_START, TARGET_INGEST_SHARE, TARGET_P99,
    TARGET_SERVER_CPU_PER_MESSAGE, TARGET_SESSION_BYTES,
};
use crate::support::host::{load_average, machine};
use crate::support::summary::{number, Better, Row};
use crate::units::{grouped, ms};

const BENCH: &str = "realtime";

/// The run's figures so far, and the rows they became.
pub(crate) struct Summary {
    pub(crate) plan: Plan,
    pub(crate) baseline: Option<BaselineFigure>,
    /// MongoDB's own `insert_many` rate of sample documents, same run (docs/s).
    pub(crate) store_insert: Option<f64>,
    pub(crate) ingest: Option<IngestFigure>,
    rows: Vec<Row>,
    problems: Vec<String>,
    /// Other findings worth repeating under the table.
    pub(crate) notes: Vec<String>,
}

/// CPU seconds a phase cost the server process and the telemetry store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PhaseCpu {
    pub(crate) server_s: f64,
    pub(crate) store_s: f64,
}

impl Summary {
    pub(crate) fn new(plan: Plan) -> Self {
        Summary {
            plan,
            baseline: None,
            store_insert: None,
            ingest: None,
            rows: Vec::new(),
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn fail(&mut self, problem: String) {
        println!("  problem: {problem}");
        self.problems.push(problem);
    }

    fn add(&mut self, row: Row) {
        self.rows.push(row.record());
    }

    pub(crate) fn set_baseline(&mut self, b: BaselineFigure) {
        self.baseline = Some(b);
        let row = Row::reference(BENCH, "broker QoS 1 drain (baseline)", b.rate, "msg/s");
        self.add(row.detail(if b.complete { "" } else { "timed out" }));
    }

    pub(crate) fn set_store_insert(&mut self, rate: f64, docs: usize) {
        self.store_insert = Some(rate);
        let row = Row::reference(
            BENCH,
            "MongoDB insert_many of sample documents (baseline)",
            rate,
            "docs/s",
        );
        self.add(row.detail(format!(
            "{} documents, telemetry's own layout and indexes",
            grouped(docs as u64)
        )));
    }

    pub(crate) fn set_cold_start(&mut self, collars: u64, took: Duration, complete: bool) {
        let rate = collars as f64 / took.as_secs_f64();
        let row = Row::at_least(
            BENCH,
            "cold start: collar actors started (with a fence)",
            rate,
            "collars/s",
            TARGET_COLD_START,
        )
        .detail(format!(
            "{} collars in {:.1} s",
            grouped(collars),
            took.as_secs_f64()
        ));
        self.add(if complete {
            row
        } else {
            row.unjudged("timed out")
        });
    }

    /// ", = 27.5 % of the broker's drain" when there is a baseline.
    pub(crate) fn ratio_text(&self, rate: f64) -> String {
        match self.baseline {
            Some(baseline) if baseline.rate > 0.0 => {
                format!(
                    " = {:.1} % of the broker's drain",
                    100.0 * rate / baseline.rate
                )
            }
            _ => String::new(),
        }
    }

    pub(crate) fn set_ingest(&mut self, i: IngestFigure, cpu: PhaseCpu) {
        self.ingest = Some(i);
        let time = if i.complete {
            format!("{} in {:.1} s", grouped(i.stored), i.elapsed.as_secs_f64())
        } else {
            format!("timed out at {} stored", grouped(i.stored))
        };
        let broker = self.ratio_text(i.rate);
        let row = Row::reference(
            BENCH,
            "ingest, end to end (stored, actor, fences)",
            i.rate,
            "msg/s",
        );
        self.add(row.better(Better::Higher).detail(format!("{time}{broker}")));
        let target = 100.0 * TARGET_INGEST_SHARE;
        let figure = "ingest / MongoDB insert_many, same run";
        self.add(match self.store_insert.filter(|r| *r > 0.0) {
            Some(store) => {
                let row = Row::at_least(BENCH, figure, 100.0 * i.rate / store, "%", target)
                    .detail(format!("{} of {} docs/s", number(i.rate), number(store)));
                if i.complete {
                    row
                } else {
                    row.unjudged("timed out")
                }
            }
            None => Row::at_least(BENCH, figure, f64::NAN, "%", target).unjudged("no baseline"),
        });
        let stored = i.stored.max(1) as f64;
        let server = Row::at_most(
            BENCH,
            "ingest: server CPU per message",
            1e6 * cpu.server_s / stored,
            "µs",
            TARGET_SERVER_CPU_PER_MESSAGE,
        )
        .unjudged("the target is at a paced 2 000 msg/s; this is at full speed");
        self.add(server.detail("this process's server threads, from /proc"));
        let store = Row::reference(
            BENCH,
            "ingest: MongoDB CPU per message",
            1e6 * cpu.store_s / stored,
            "µs",
        );
        self.add(store.better(Better::Lower));
    }

    /// A latency window's figure: `capacity` is the window at a share of the measured ingest
    /// rate (the target's load), otherwise it is the fixed-rate window.
    pub(crate) fn set_latency(&mut self, l: &LatencyFigure, capacity: bool) {
        let delivered = l.matched as f64 >= 0.99 * l.expected as f64;
        let detail = format!(
            "{:.0} msg/s, {} sessions; p50 {:.1} / p90 {:.1} ms, max {:.0} ms; {:.1} % of frames",
            l.achieved_rate,
            grouped(l.sessions as u64),
            ms(l.p50),
            ms(l.p90),
            ms(l.max),
            100.0 * l.matched as f64 / l.expected.max(1) as f64
        );
        let p99 = ms(l.p99);
        let limit = ms(TARGET_P99);
        let row = if capacity {
            let row = Row::at_most(
                BENCH,
                "publish → state p99, at 80 % of ingest capacity",
                p99,
                "ms",
                limit,
            );
            if self.plan.quick {
                row.unjudged(format!("quick: {} sessions", grouped(l.sessions as u64)))
            } else if l.achieved_rate < 0.98 * f64::from(l.target_rate) {
                row.unjudged("load not reached")
            } else if !delivered {
                Row {
                    met: Some(false),
                    ..row
                }
            } else {
                row
            }
        } else {
            let figure = format!(
                "publish → state p99, at {} msg/s",
                grouped(l.target_rate.into())
            );
            Row::reference(BENCH, figure, p99, "ms").better(Better::Lower)
        };
        self.add(row.detail(detail));
    }

    /// The server's growth per open WebSocket session (subscribed to one pet, idle).
    pub(crate) fn set_session_memory(&mut self, sessions: usize, rss: f64, heap: Option<f64>) {
        let cost = heap.unwrap_or(rss);
        let heap = heap.map_or(String::new(), |h| format!("heap {h:.0} B, "));
        let row = Row::at_most(
            BENCH,
            "memory per WebSocket session",
            cost,
            "B",
            TARGET_SESSION_BYTES,
        )
        .detail(format!(
            "{heap}RSS {rss:.0} B, over {} sessions",
            grouped(sessions as u64)
        ));
        self.add(row);
    }

    pub(crate) fn set_memory(&mut self, m: MemoryFigure) {
        // The allocator's count when there is one: RSS adds page and arena slack that moves
        // by hundreds of bytes per actor from run to run.
        let cost = m.heap_marginal.unwrap_or(m.rss_marginal);
        let heap = m
            .heap_marginal
            .zip(m.heap_overall)
            .map_or(String::new(), |(a, b)| {
                format!("heap {a:.0} B ({b:.0} B overall), ")
            });
        let row = Row::at_most(
            BENCH,
            "memory per idle collar actor",
            cost,
            "B",
            TARGET_ACTOR_BYTES,
        )
        .detail(format!(
            "{heap}RSS {:.0} B ({:.0} B overall), over {} actors",
            m.rss_marginal,
            m.rss_overall,
            grouped(m.collars)
        ));
        self.add(if m.complete {
            row
        } else {
            row.unjudged("timed out")
        });
    }

    pub(crate) fn print(&self) {
        println!();
        println!("Summary");
        print_table(&self.rows);
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

/// The rows as a table: figure, value (with its detail), target, met?.
fn print_table(rows: &[Row]) {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let detail = if r.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.detail)
            };
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "",
            };
            [
                r.figure.clone(),
                format!("{} {}{detail}", number(r.value), r.unit),
                r.target.clone(),
                met.to_owned(),
            ]
        })
        .collect();
    let head = ["figure", "value", "target", "met?"];
    let widths: Vec<usize> = (0..4)
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: [&str; 4]| {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        println!("  {}", padded.join("  ").trim_end());
    };
    line(head);
    line(["------", "-----", "------", "----"]);
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
}
