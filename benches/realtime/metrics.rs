//! The server's `/metrics`, scraped and summed: counters, gauges and summaries printed
//! beside the bench's own figures.

use crate::server::ServerInfo;
use crate::units::grouped;

/// The server's `/metrics` page; None when it does not answer.
pub(crate) async fn scrape(http: &reqwest::Client, server: &ServerInfo) -> Option<String> {
    let response = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

/// The number of collar actors the server runs, from its gauge.
pub(crate) async fn collar_actors(http: &reqwest::Client, server: &ServerInfo) -> Option<f64> {
    metric_sum(&scrape(http, server).await?, "pettysync_collar_actors")
}

/// The sum of every series of `name` (all label sets), if it has any.
pub(crate) fn metric_sum(metrics: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(value) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

/// A Prometheus summary: count, mean and quantiles, scaled (e.g. seconds → ms).
fn summary_of(metrics: &str, name: &str, scale: f64, unit: &str) -> Option<String> {
    let count = metric_sum(metrics, &format!("{name}_count"))?;
    let sum = metric_sum(metrics, &format!("{name}_sum"))?;
    let mut parts = vec![
        format!("n = {}", grouped(count as u64)),
        format!("mean {:.1}{unit}", sum / count.max(1.0) * scale),
    ];
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(&format!("{name}{{quantile=\"")) else {
            continue;
        };
        if let Some((quantile, value)) = rest.split_once("\"} ") {
            if let Ok(value) = value.parse::<f64>() {
                parts.push(format!("q{quantile} {:.1}{unit}", value * scale));
            }
        }
    }
    Some(parts.join(", "))
}

/// Stored messages whose PUBACK could not be queued: the broker keeps each one in flight
/// until the server reconnects, and enough of them stop its deliveries to the server.
pub(crate) fn print_failed_acks(metrics: &str) {
    let failed = metric_sum(metrics, "pettysync_mqtt_ack_failures_total").unwrap_or(0.0);
    if failed > 0.0 {
        println!(
            "  failed MQTT acknowledgements so far: {failed} (the MQTT client's request queue was \
             full; each leaves a message in flight at the broker until a reconnect)"
        );
    }
}

/// What the persistence actor did: batch sizes, MongoDB write time, back-pressure.
pub(crate) fn print_persistence(metrics: &str) {
    println!("  server metrics after ingest (quantiles over the exporter's recent window):");
    if let Some(batches) = summary_of(metrics, "pettysync_persistence_batch_docs", 1.0, "") {
        println!("    pettysync_persistence_batch_docs:    {batches}");
    }
    if let Some(writes) = summary_of(
        metrics,
        "pettysync_persistence_write_seconds",
        1000.0,
        " ms",
    ) {
        println!("    pettysync_persistence_write_seconds: {writes}");
    }
    let batch = metric_sum(metrics, "pettysync_persistence_batch_docs_sum").zip(metric_sum(
        metrics,
        "pettysync_persistence_batch_docs_count",
    ));
    let write = metric_sum(metrics, "pettysync_persistence_write_seconds_sum");
    if let (Some((docs, batches)), Some(seconds)) = (batch, write) {
        if seconds > 0.0 && batches > 0.0 {
            println!(
                "    one writer, one batch at a time: {:.0} docs per second of MongoDB write time",
                docs / seconds
            );
        }
    }
    for name in [
        "pettysync_ingest_backpressure_total",
        "pettysync_duplicate_samples_total",
        "pettysync_dead_letters_total",
        "pettysync_unknown_serial_total",
        "pettysync_persistence_failures_total",
        "pettysync_mqtt_ack_failures_total",
    ] {
        println!("    {name}: {}", metric_sum(metrics, name).unwrap_or(0.0));
    }
}
