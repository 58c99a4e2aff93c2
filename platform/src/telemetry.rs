//! Structured logs through `tracing`: pretty in a terminal, JSON in production.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::LogFormat;

/// The filter used when `RUST_LOG` is unset: our crates at info, chatty dependencies quieter.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tokio_cron_scheduler=warn";

/// Installs the global subscriber once; later calls are ignored (tests call it many times).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().with_target(true)).try_init(),
    };
    // An already-installed subscriber (a test that initialised first) is fine.
    let _ = result;
}
