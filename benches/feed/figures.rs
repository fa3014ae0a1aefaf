//! The feed run's rows in the run summary: the target window's load, latency and CPU per
//! request against issue 12's targets, the lower-rate and `/healthz` windows beside them.

use std::time::Duration;

use crate::support::summary::{Better, Row};
use crate::window::Outcome;
use crate::{Plan, BASELINE_RATE, TARGET_P50, TARGET_P99, TARGET_RATE, TARGET_SERVER_CPU};

const BENCH: &str = "feed";

fn ms(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// The window at [`TARGET_RATE`]: what the targets are judged on.
pub(crate) fn target_rows(window: &Outcome, plan: Plan) {
    let load = format!(
        "{:.0} req/s reached of {TARGET_RATE}, {} errors",
        window.achieved, window.errors
    );
    // A quick run's shorter window and smaller data set still judge the targets: the figures
    // are per request, and the quick run exists to see them move.
    let quick = if plan.quick { "; quick run" } else { "" };
    let judged = |row: Row| {
        if window.errors == 0 {
            row
        } else {
            Row {
                met: Some(false),
                ..row
            }
        }
    };
    let floor = 0.99 * f64::from(TARGET_RATE);
    Row::at_least(
        BENCH,
        "GET /v1/feed: rate reached at the target load",
        window.achieved,
        "req/s",
        floor,
    )
    .detail(format!("{} errors{quick}", window.errors))
    .record();
    judged(Row::at_most(
        BENCH,
        "GET /v1/feed p50 at 2 000 req/s",
        ms(window.p50),
        "ms",
        ms(Some(TARGET_P50)),
    ))
    .detail(load.clone())
    .record();
    judged(Row::at_most(
        BENCH,
        "GET /v1/feed p99 at 2 000 req/s",
        ms(window.p99),
        "ms",
        ms(Some(TARGET_P99)),
    ))
    .detail(load)
    .record();
    Row::at_most(
        BENCH,
        "GET /v1/feed: server CPU per request",
        1e6 * window.server_per_request,
        "µs",
        TARGET_SERVER_CPU,
    )
    .detail("the server's threads in the bench process, from /proc")
    .record();
    Row::reference(
        BENCH,
        "GET /v1/feed: PostgreSQL CPU per request",
        1e6 * window.postgres_per_request,
        "µs",
    )
    .better(Better::Lower)
    .detail("target: no query on a warm read (the fan-out worker's polling remains)")
    .record();
    Row::reference(
        BENCH,
        "GET /v1/feed: Redis CPU per request",
        1e6 * window.redis_per_request,
        "µs",
    )
    .better(Better::Lower)
    .record();
}

/// The window at [`BASELINE_RATE`], a diagnostic beside the target's.
pub(crate) fn low_rate_rows(window: &Outcome) {
    Row::reference(
        BENCH,
        format!("GET /v1/feed p99 at {BASELINE_RATE} req/s"),
        ms(window.p99),
        "ms",
    )
    .better(Better::Lower)
    .detail(format!(
        "p50 {:.2} ms; {} errors",
        ms(window.p50),
        window.errors
    ))
    .record();
}

/// The `/healthz` window: the HTTP stack's own cost with the same generator, same run.
pub(crate) fn health_rows(window: &Outcome) {
    Row::reference(
        BENCH,
        "GET /healthz p99 at 2 000 req/s (HTTP stack baseline)",
        ms(window.p99),
        "ms",
    )
    .better(Better::Lower)
    .detail(format!(
        "{:.0} req/s reached; p50 {:.2} ms; {} errors",
        window.achieved,
        ms(window.p50),
        window.errors
    ))
    .record();
    Row::reference(
        BENCH,
        "GET /healthz: server CPU per request (baseline)",
        1e6 * window.server_per_request,
        "µs",
    )
    .better(Better::Lower)
    .record();
}
