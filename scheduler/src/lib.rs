//! milkflow's scheduler: a cron tick that claims due reminders and delivers them as push notifications, and
//! housekeeping (`store::housekeeping`). Both run through `run_once` functions that tests call directly with an
//! injected clock.

pub mod health;
pub mod metrics;
pub mod on_time;
pub mod service;
pub mod tick;

pub use service::{Scheduler, TickHealth};
