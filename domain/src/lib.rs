//! Pure milkflow logic shared by the API and the scheduler: no I/O, no framework types.

/// A closed set of names, stored as text (a sea-orm active enum under the `orm` feature), with `ALL`,
/// `as_str` and `parse`.
macro_rules! stored_name {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "orm", derive(sea_orm::DeriveActiveEnum, sea_orm::EnumIter))]
        #[cfg_attr(feature = "orm", sea_orm(rs_type = "String", db_type = "String(sea_orm::sea_query::StringLen::N(32))"))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] #[cfg_attr(feature = "orm", sea_orm(string_value = $text))] $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The value stored as `raw`.
            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod account;
pub mod advisories;
pub mod care;
pub mod delivery;
pub mod email;
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
