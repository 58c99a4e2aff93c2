//! What both milkflow binaries share below the data layer: settings, telemetry and metrics.

mod database_kind;
pub mod metrics;
pub mod settings;
pub mod telemetry;

pub use database_kind::DatabaseKind;
pub use settings::{ApnsSettings, Environment, LogFormat, MailSettings, PushSettings, Settings, SettingsError};
