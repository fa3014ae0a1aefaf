//! The run summary every benchmark adds to: one row per figure (figure, value, target, met?),
//! appended as a JSON line to the file named by [`SUMMARY_ENV`] the moment the figure is
//! measured, so a benchmark that stops later still leaves what it measured. `scripts/bench.sh`
//! names the file, runs every benchmark, then prints the rows as one table and writes it to
//! `target/bench-summary.md` beside the previous run's (`benches/support/summary.py`).
//!
//! A figure's name is its key when two runs are compared: it never carries a measured number
//! (that goes in the value or the detail), so the same figure has the same name in every run.

use std::io::Write as _;

use serde_json::json;

/// The environment variable that names the run's summary file; without it rows are only printed.
pub const SUMMARY_ENV: &str = "PETTYSYNC_BENCH_SUMMARY";

/// Which way a figure improves, so a comparison with the last run can say better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One figure of the run.
#[derive(Debug, Clone)]
pub struct Row {
    /// The benchmark that measured it (`realtime`, `feed`, …).
    pub bench: &'static str,
    pub figure: String,
    pub value: f64,
    pub unit: &'static str,
    /// What the value needs beside it: the load it ran at, a baseline it is a share of.
    pub detail: String,
    /// The target in words ("≤ 5 ms"), "reference" for a baseline, empty when there is none.
    pub target: String,
    /// Whether the target was met; None where there is no target or it cannot be judged.
    pub met: Option<bool>,
    pub better: Option<Better>,
}

impl Row {
    /// A figure with no target: a same-run baseline, a diagnostic.
    pub fn reference(
        bench: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Row {
        Row {
            bench,
            figure: figure.into(),
            value,
            unit,
            detail: String::new(),
            target: "reference".to_owned(),
            met: None,
            better: None,
        }
    }

    /// A figure whose target is `value ≤ limit`.
    pub fn at_most(
        bench: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
        limit: f64,
    ) -> Row {
        Row {
            target: format!("≤ {} {unit}", bound(limit)).trim_end().to_owned(),
            met: Some(value <= limit),
            better: Some(Better::Lower),
            ..Row::reference(bench, figure, value, unit)
        }
    }

    /// A figure whose target is `value ≥ floor`.
    pub fn at_least(
        bench: &'static str,
        figure: impl Into<String>,
        value: f64,
        unit: &'static str,
        floor: f64,
    ) -> Row {
        Row {
            target: format!("≥ {} {unit}", bound(floor)).trim_end().to_owned(),
            met: Some(value >= floor),
            better: Some(Better::Higher),
            ..Row::reference(bench, figure, value, unit)
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Row {
        self.detail = detail.into();
        self
    }

    /// Which way the figure improves, for a figure without a target.
    pub fn better(mut self, better: Better) -> Row {
        self.better = Some(better);
        self
    }

    /// The target is not judged this run (a quick run's smaller load, a phase that timed
    /// out): the row keeps its target, says why, and counts as neither met nor missed.
    pub fn unjudged(mut self, why: impl std::fmt::Display) -> Row {
        self.met = None;
        self.target = format!("{} (n/a: {why})", self.target);
        self
    }

    /// Prints the row and appends it to the run's summary file, when there is one.
    pub fn record(self) -> Row {
        let met = match self.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "-",
        };
        println!(
            "  summary: {} = {} {}{} [{}: {met}]",
            self.figure,
            number(self.value),
            self.unit,
            if self.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.detail)
            },
            self.target
        );
        if let Some(path) = std::env::var_os(SUMMARY_ENV) {
            if let Err(error) = append(&path, &self.json()) {
                eprintln!(
                    "{}: cannot append to the summary {path:?}: {error}",
                    self.bench
                );
            }
        }
        self
    }

    /// The row as the summary file holds it: one JSON object.
    pub fn json(&self) -> String {
        json!({
            "bench": self.bench,
            "figure": self.figure,
            // JSON has no NaN or infinity: a figure that could not be computed is null.
            "value": self.value.is_finite().then_some(self.value),
            "unit": self.unit,
            "detail": self.detail,
            "target": self.target,
            "met": self.met,
            "better": self.better.map(|b| match b {
                Better::Higher => "higher",
                Better::Lower => "lower",
            }),
        })
        .to_string()
    }
}

/// One `write` of the whole line with O_APPEND, so rows of one run never interleave.
fn append(path: &std::ffi::OsStr, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

/// A target's bound: whole numbers without decimals (a target is written, not measured).
fn bound(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1_000.0 {
        format!("{value:.0}")
    } else {
        number(value)
    }
}

/// A value as the tables show it: grouped thousands above 1 000, a few significant digits below.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    let magnitude = value.abs();
    if magnitude >= 1_000.0 {
        let digits = format!("{:.0}", magnitude);
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if value < 0.0 {
            out.push('-');
        }
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(' ');
            }
            out.push(digit);
        }
        out
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Checks of the row format that `summary.py` reads, run when `cargo test --all-targets` runs
/// a benchmark program without `--bench` (a bench program has no test harness); panics on a
/// mismatch. `summary.py --self-test` checks the same numbers on the table's side.
pub fn check_format() {
    for (value, shown) in [
        (2412.4, "2 412"),
        (1_234_567.0, "1 234 567"),
        (-4321.0, "-4 321"),
        (150.0, "150"),
        (12.34, "12.3"),
        (0.256, "0.26"),
        (f64::NAN, "n/a"),
    ] {
        assert_eq!(number(value), shown, "number({value})");
    }
    let row = Row::at_most("check", "p99", 4.0, "ms", 5.0);
    assert_eq!((row.met, row.target.as_str()), (Some(true), "≤ 5 ms"));
    assert_eq!(Row::at_least("check", "f1", 1.0, "", 0.9).target, "≥ 0.90");
    assert_eq!(
        Row::at_least("check", "rate", 10.0, "req/s", 2_000.0).met,
        Some(false)
    );
    assert_eq!(row.clone().unjudged("quick").met, None);
    let parsed: serde_json::Value = serde_json::from_str(&row.json()).expect("a row is JSON");
    assert_eq!(parsed["figure"], "p99");
    assert_eq!(parsed["better"], "lower");
    assert_eq!(parsed["met"], true);
    let missing = Row::reference("check", "rate", f64::NAN, "req/s");
    let parsed: serde_json::Value = serde_json::from_str(&missing.json()).expect("a row is JSON");
    assert!(parsed["value"].is_null() && parsed["met"].is_null() && parsed["better"].is_null());
}
