//! How record writes were committed, registered in the process's registry.

use platform::metrics::{defined, register};
use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};

/// The write lanes' metrics.
pub struct WriteMetrics {
    /// Record writes committed per transaction (they share one when they arrive together).
    pub write_batch: Histogram,
    /// Record writes run again alone because the batch they were in could not keep them.
    pub writes_rerun: IntCounter,
    /// Write transactions begun (on PostgreSQL) while the batch before them committed.
    pub writes_begun_ahead: IntCounter,
    /// New records inserted by one statement with the others waiting with them (not each by its own write).
    pub records_inserted_together: IntCounter,
}

impl WriteMetrics {
    /// The metrics in a registry of their own (tests).
    pub fn new() -> Self {
        Self::registered_in(&platform::metrics::registry())
    }

    /// The metrics, registered in `registry`.
    pub fn registered_in(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str| register(registry, defined(IntCounter::new(name, help)));
        Self {
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

impl Default for WriteMetrics {
    fn default() -> Self {
        Self::new()
    }
}
