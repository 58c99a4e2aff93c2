//! The API's own Prometheus metrics: requests and their durations.

use platform::metrics::{defined, register};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The API's metrics, registered in the process's registry.
pub struct ApiMetrics {
    /// HTTP requests by method (a closed set), route pattern and status.
    pub http_requests: IntCounterVec,
    /// HTTP request durations by route pattern.
    pub http_duration: HistogramVec,
}

impl ApiMetrics {
    /// The API's metrics in a registry of their own (tests).
    pub fn new() -> Self {
        Self::registered_in(&platform::metrics::registry())
    }

    /// The API's metrics, registered in `registry`.
    pub fn registered_in(registry: &Registry) -> Self {
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
        }
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}
