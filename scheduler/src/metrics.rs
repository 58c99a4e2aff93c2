//! The scheduler's Prometheus metrics: deliveries, lateness, claims, ticks and the backlog.

use platform::metrics::{defined, register};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The metrics of reminder delivery, registered in the process's registry.
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
    /// Emails by template and outcome (sent, retried, failed).
    pub emails: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The scheduler's metrics in a registry of their own (a scheduler process, tests).
    pub fn new() -> Self {
        Self::registered_in(&platform::metrics::registry())
    }

    /// The scheduler's metrics, registered in `registry` (shared with the API when it embeds the scheduler).
    pub fn registered_in(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(registry, defined(IntCounterVec::new(Opts::new(name, help), labels)))
        };
        Self {
            registry: registry.clone(),
            deliveries: counter(
                "deliveries_total",
                "Push deliveries by provider and outcome",
                &["provider", "outcome"],
            ),
            devices_pruned: counter(
                "devices_pruned_total",
                "Devices removed because their provider says they are gone",
                &["provider"],
            ),
            claim_batch: register(
                registry,
                defined(Histogram::with_opts(
                    HistogramOpts::new("claim_batch_size", "Occurrences claimed per tick")
                        .buckets(vec![0.0, 1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0]),
                )),
            ),
            lateness: register(
                registry,
                defined(HistogramVec::new(
                    HistogramOpts::new(
                        "delivery_lateness_seconds",
                        "Seconds from due time to the provider accepting the reminder",
                    )
                    .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0]),
                    &["provider"],
                )),
            ),
            missed: register(
                registry,
                defined(IntCounter::new(
                    "occurrences_missed_total",
                    "Reminders due while no scheduler ran, past the grace period",
                )),
            ),
            backlog: register(
                registry,
                defined(IntGauge::new(
                    "due_backlog",
                    "Due occurrences and deliveries waiting at the end of the last tick",
                )),
            ),
            ticks: counter("scheduler_ticks_total", "Claim ticks by result", &["result"]),
            emails: counter("emails_total", "Emails by template and outcome", &["template", "outcome"]),
        }
    }

    /// The Prometheus text exposition of every metric of the registry these are in.
    pub fn render(&self) -> String {
        platform::metrics::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

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
