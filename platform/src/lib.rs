//! I/O plumbing both milkflow binaries share: settings, the database, telemetry and stored secrets.

pub mod db;
pub mod metrics;
pub mod secrets;
pub mod settings;
pub mod telemetry;

pub use db::{Database, DatabaseKind};
pub use settings::{ApnsSettings, Environment, LogFormat, PushSettings, Settings, SettingsError};
