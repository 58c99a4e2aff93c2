//! Pure milkflow logic shared by the API and the scheduler: no I/O, no framework types.

pub mod account;
pub mod advisories;
pub mod delivery;
pub mod fields;
pub mod insights;
pub mod logs;
pub mod records;
pub mod recurrence;
pub mod reminders;
pub mod routine;
pub mod time;
pub mod validation;

pub use account::{DisplayName, Email, Password, Role, UserStatus, VolumeUnit};
pub use delivery::FailureReason;
pub use records::{RecordBody, RecordKind};
pub use time::{LocalTime, QuietHours, TimeZoneName};
pub use validation::{FieldError, Violations};
