//! milkflow's scheduler: cron ticks that will claim due reminders and deliver them, and housekeeping.
//!
//! Today the claim tick does no delivery work yet (that is the scheduler issue); housekeeping removes expired
//! refresh tokens. Both run through `run_once` functions that tests call directly with an injected clock.

pub mod health;
pub mod housekeeping;
pub mod service;
pub mod tick;

pub use service::{Scheduler, TickHealth};
