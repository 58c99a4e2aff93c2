//! The API's own Prometheus metrics: requests, their durations, and how record writes were committed.

use platform::metrics::{defined, register};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

/// The API's metrics, registered in the process's registry.
pub struct ApiMetrics {
    /// HTTP requests by method (a closed set), route pattern and status.
    pub http_requests: IntCounterVec,
    /// HTTP request durations by route pattern.
    pub http_duration: HistogramVec,
    /// Record writes committed per transaction (they share one when they arrive together).
    pub write_batch: Histogram,
    /// Record writes run again alone because the batch they were in could not keep them.
    pub writes_rerun: IntCounter,
    /// Write transactions begun (on PostgreSQL) while the batch before them committed.
    pub writes_begun_ahead: IntCounter,
    /// New records inserted by one statement with the others waiting with them (not each by its own write).
    pub records_inserted_together: IntCounter,
}

impl ApiMetrics {
    /// The API's metrics in a registry of their own (tests).
    pub fn new() -> Self {
        Self::registered_in(&platform::metrics::registry())
    }

    /// The API's metrics, registered in `registry`.
    pub fn registered_in(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str| register(registry, defined(IntCounter::new(name, help)));
        Self {
            http_requests: register(
                registry,
                defined(IntCounterVec::new(
                    Opts::new("http_requests_total", "HTTP requests by method, route and status"),
                    &["method", "route", "status"],
                )),
            ),
            http_duration: register(
                registry,
                defined(HistogramVec::new(
                    HistogramOpts::new("http_request_duration_seconds", "HTTP request durations")
                        .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]),
                    &["route"],
                )),
            ),
            write_batch: register(
                registry,
                defined(Histogram::with_opts(
                    HistogramOpts::new("write_batch_size", "Record writes committed per transaction")
                        .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
                )),
            ),
            writes_rerun: counter(
                "writes_rerun_total",
                "Record writes run again alone because their batch could not keep them (they failed or changed nothing)",
            ),
            writes_begun_ahead: counter(
                "writes_begun_ahead_total",
                "Write transactions begun on another connection while the batch before them committed (PostgreSQL)",
            ),
            records_inserted_together: counter(
                "records_inserted_together_total",
                "New records inserted by one statement with the others waiting with them, not each by its own write",
            ),
        }
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}
