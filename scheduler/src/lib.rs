//! milkflow's scheduler: a cron tick that claims due reminders and delivers them as push notifications, and
//! housekeeping. Both run through `run_once` functions that tests call directly with an injected clock.

pub mod advice;
pub mod health;
pub mod housekeeping;
pub mod metrics;
pub mod planning;
pub mod service;
pub mod tick;

pub use service::{Scheduler, TickHealth};

/// Whether a device's locale is one of `locales` (lower-case language tags; `de` matches `de-AT`).
pub fn locale_matches(device_locale: &str, locales: &[String]) -> bool {
    let locale = device_locale.to_lowercase().replace('_', "-");
    locales.iter().any(|l| locale == *l || locale.starts_with(&format!("{l}-")))
}
