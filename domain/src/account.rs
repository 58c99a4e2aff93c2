//! The parts of an account: email, password, display name, volume unit, role.

use serde::{Deserialize, Serialize};

/// A normalised email address: trimmed and lower-cased, so one mailbox is one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Normalises (trimmed, lower case) and checks the shape of an address: one `@`, a dotted domain, at most 254
    /// characters, and no control character, whitespace, angle bracket or other character that needs quoting.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required".into());
        }
        if email.chars().any(|c| c.is_control() || c.is_whitespace() || "<>()[]\\,;:\"".contains(c)) {
            return Err("must not contain spaces, control characters or any of < > ( ) [ ] \\ , ; : \"".into());
        }
        if email.chars().count() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address such as name@example.org".into());
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty() && local.len() <= 64 && !local.chars().any(|c| c.is_whitespace() || c == '@');
        if !(domain_ok && local_ok) {
            return Err("must be an email address such as name@example.org".into());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the length policy; never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Minimum length in characters.
    pub const MIN_CHARS: usize = 10;
    /// Maximum length in characters (bounds the hashing work a request can cause).
    pub const MAX_CHARS: usize = 256;

    /// Checks the length policy.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if n > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The name the app greets the user's with: 1-100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims and checks the length.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        match name.chars().count() {
            0 => Err("must not be empty".into()),
            n if n > 100 => Err("must be at most 100 characters".into()),
            _ if name.chars().any(char::is_control) => Err("must not contain control characters".into()),
            _ => Ok(Self(name.to_owned())),
        }
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The unit the user reads volumes in; volumes are always stored in ml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VolumeUnit {
    #[default]
    Ml,
    Oz,
}

impl VolumeUnit {
    /// Millilitres in one US fluid ounce.
    pub const ML_PER_OZ: f64 = 29.5735;

    /// Parses `ml` or `oz`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "ml" => Ok(Self::Ml),
            "oz" => Ok(Self::Oz),
            _ => Err("must be one of: ml, oz".into()),
        }
    }

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ml => "ml",
            Self::Oz => "oz",
        }
    }
}

stored_name!(
    /// What an account may do.
    Role {
        User = "user",
        Admin = "admin",
    }
);

stored_name!(
    /// Whether an account may sign in.
    UserStatus {
        Active = "active",
        Disabled = "disabled",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Mother.A@Example.ORG ").unwrap().as_str(), "mother.a@example.org");
    }

    #[test]
    fn email_without_at_or_dotted_domain_is_refused() {
        for bad in [
            "",
            "mother",
            "mother@",
            "@example.org",
            "mother@example",
            "mother@.org",
            "a b@example.org",
            "m@exa..mple.org",
            "mo\0ther@example.org",
            "mother@exam\0ple.org",
            "mo\tther@example.org",
            "mo\u{7f}ther@example.org",
            "<mother@example.org>",
            "Mother <mother@example.org>",
            "mother@example.org>",
            "mo ther@example.org",
            "mo\u{a0}ther@example.org",
            "mo\"ther@example.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_needs_ten_characters_counted_as_characters() {
        assert!(Password::parse("123456789").is_err());
        assert!(Password::parse("1234567890").is_ok());
        assert!(Password::parse("ééééééééé").is_err());
        assert!(Password::parse(&"x".repeat(257)).is_err());
    }

    #[test]
    fn password_debug_does_not_print_it() {
        let p = Password::parse("secret-password").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ana ").unwrap().as_str(), "Ana");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"a".repeat(101)).is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn volume_unit_and_role_round_trip() {
        for u in [VolumeUnit::Ml, VolumeUnit::Oz] {
            assert_eq!(VolumeUnit::parse(u.as_str()).unwrap(), u);
        }
        for r in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(VolumeUnit::parse("cups").is_err());
        assert_eq!(Role::parse("root"), None);
    }
}
