//! Logging (`tracing`) and metrics (Prometheus) set-up, done once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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

/// The process-wide Prometheus recorder. The `metrics` facade has one global recorder by
/// design, so this is the one piece of process state that every server in the process shares.
/// Every series carries the label `node` with the id of the first server that asked for it
/// (a process runs one node; tests that start several servers in one process share one label).
pub fn metrics_handle(node: &str) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .add_global_label("node", node)
                .build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder was installed first, which this crate never does.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
