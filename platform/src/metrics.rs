//! The Prometheus registry a milkflow process exposes at `/metrics`; each crate registers its own metrics in it.

use prometheus::core::Collector;
use prometheus::{Encoder, Registry, TextEncoder};

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// A fresh registry whose metric names start with `milkflow_`.
pub fn registry() -> Registry {
    Registry::new_custom(Some("milkflow".into()), None).unwrap_or_default()
}

/// A metric definition that cannot fail: its name, help and labels are literals checked by the tests.
pub fn defined<T>(metric: Result<T, prometheus::Error>) -> T {
    metric.expect("valid metric definition")
}

/// Registers `metric` in `registry` and gives it back (a name registered twice keeps the first).
pub fn register<C: Collector + Clone + 'static>(registry: &Registry, metric: C) -> C {
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

/// The Prometheus text exposition of every metric in `registry`.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
