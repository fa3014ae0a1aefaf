//! Logging (`tracing`) and metrics (Prometheus) set-up, done once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global tracing subscriber. Later calls (tests start many servers in one
/// process) keep the first one.
pub fn init_tracing(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Upper bounds (seconds) of the buckets of `pettysync_actor_delay_seconds`: a true
/// histogram, so the nodes' figures add up and a window's quantiles follow from two scrapes
/// (other histograms render as summaries over the last minute).
pub const ACTOR_DELAY_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

fn with_buckets(builder: PrometheusBuilder) -> PrometheusBuilder {
    let matcher = Matcher::Full("pettysync_actor_delay_seconds".to_owned());
    builder
        .set_buckets_for_metric(matcher, &ACTOR_DELAY_BUCKETS)
        .expect("it errs only for an empty list of buckets")
}

/// The process-wide Prometheus recorder. The `metrics` facade has one global recorder by
/// design, so this is the one piece of process state that every server in the process shares.
/// Every series carries the label `node` with the id of the first server that asked for it
/// (a process runs one node; tests that start several servers in one process share one label).
pub fn metrics_handle(node: &str) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().add_global_label("node", node);
            let recorder = with_buckets(builder).build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder was installed first, which this crate never does.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
