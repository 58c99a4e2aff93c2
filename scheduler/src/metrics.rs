//! Prometheus metrics of delivery and of the HTTP API, in one registry passed explicitly (no global).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The metrics a milkflow process exposes at `/metrics`.
pub struct Metrics {
    registry: Registry,
    /// Deliveries by provider and outcome (delivered, retried, failed, pruned, expired; lease_lapsed: left
    /// unsent for another claim because a send could no longer end inside its lease).
    pub deliveries: IntCounterVec,
    /// Devices removed because the provider said they are gone.
    pub devices_pruned: IntCounterVec,
    /// Occurrences claimed per tick.
    pub claim_batch: Histogram,
    /// Seconds from due time to the provider accepting the message.
    pub lateness: HistogramVec,
    /// Occurrences marked missed (due while no scheduler ran, past the grace period).
    pub missed: IntCounter,
    /// Planned occurrences already due plus deliveries waiting to be sent, at the end of the last tick.
    pub backlog: IntGauge,
    /// Ticks by result (ok, error).
    pub ticks: IntCounterVec,
    /// HTTP requests by method, route and status class.
    pub http_requests: IntCounterVec,
    /// HTTP request durations by route.
    pub http_duration: HistogramVec,
    /// The API's record writes committed per transaction (they share one when they arrive together).
    pub write_batch: Histogram,
    /// Record writes run again alone because the batch they were in could not keep them.
    pub writes_rerun: IntCounter,
    /// Write transactions begun (on PostgreSQL) while the batch before them committed.
    pub writes_begun_ahead: IntCounter,
    /// New records inserted by one statement with the others waiting with them (not each by its own write).
    pub records_inserted_together: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("milkflow".into()), None).unwrap_or_default();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
            let _ = registry.register(Box::new(c.clone()));
            c
        };
        let single_counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric definition");
            let _ = registry.register(Box::new(c.clone()));
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                .expect("valid metric definition");
            let _ = registry.register(Box::new(h.clone()));
            h
        };
        let deliveries =
            counter("deliveries_total", "Push deliveries by provider and outcome", &["provider", "outcome"]);
        let devices_pruned =
            counter("devices_pruned_total", "Devices removed because their provider says they are gone", &["provider"]);
        let missed =
            single_counter("occurrences_missed_total", "Reminders due while no scheduler ran, past the grace period");
        let ticks = counter("scheduler_ticks_total", "Claim ticks by result", &["result"]);
        let http_requests =
            counter("http_requests_total", "HTTP requests by method, route and status", &["method", "route", "status"]);
        let claim_batch = Histogram::with_opts(
            HistogramOpts::new("claim_batch_size", "Occurrences claimed per tick")
                .buckets(vec![0.0, 1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0]),
        )
        .expect("valid metric definition");
        let _ = registry.register(Box::new(claim_batch.clone()));
        let lateness = histogram(
            "delivery_lateness_seconds",
            "Seconds from due time to the provider accepting the reminder",
            &["provider"],
            vec![0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0],
        );
        let http_duration = histogram(
            "http_request_duration_seconds",
            "HTTP request durations",
            &["route"],
            vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
        );
        let write_batch = Histogram::with_opts(
            HistogramOpts::new("write_batch_size", "Record writes committed per transaction")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )
        .expect("valid metric definition");
        let _ = registry.register(Box::new(write_batch.clone()));
        let writes_rerun = single_counter(
            "writes_rerun_total",
            "Record writes run again alone because their batch could not keep them (they failed or changed nothing)",
        );
        let writes_begun_ahead = single_counter(
            "writes_begun_ahead_total",
            "Write transactions begun on another connection while the batch before them committed (PostgreSQL)",
        );
        let records_inserted_together = single_counter(
            "records_inserted_together_total",
            "New records inserted by one statement with the others waiting with them, not each by its own write",
        );
        let backlog =
            IntGauge::new("due_backlog", "Due occurrences and deliveries waiting at the end of the last tick")
                .expect("valid metric definition");
        let _ = registry.register(Box::new(backlog.clone()));
        Self {
            registry,
            deliveries,
            devices_pruned,
            claim_batch,
            lateness,
            missed,
            backlog,
            ticks,
            http_requests,
            http_duration,
            write_batch,
            writes_rerun,
            writes_begun_ahead,
            records_inserted_together,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_prometheus_text_format() {
        let m = Metrics::new();
        m.deliveries.with_label_values(&["web", "delivered"]).inc();
        m.lateness.with_label_values(&["web"]).observe(0.3);
        let text = m.render();
        assert!(text.contains("milkflow_deliveries_total{outcome=\"delivered\",provider=\"web\"} 1"), "{text}");
        assert!(text.contains("milkflow_delivery_lateness_seconds_bucket"));
    }
}
