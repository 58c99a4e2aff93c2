//! Settings of email: SMTP, or a directory of `.eml` files when none is configured, and the links emails carry.

use secrecy::SecretString;
use std::path::PathBuf;

use super::Environment;

/// How email leaves milkflow.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://user:pass@host:587` (STARTTLS required) or `smtps://user:pass@host:465` (TLS from the start);
    /// `?tls=none` after an `smtp://` URL allows a plain local relay outside production. Unset: `dir`.
    pub smtp_url: Option<SecretString>,
    /// A PEM certificate to trust besides the system's, for a relay with a private certificate authority.
    pub smtp_ca_file: Option<PathBuf>,
    /// The sender, `no-reply@example.org` or `milkflow <no-reply@example.org>`.
    pub from: String,
    /// Where each email is written as an `.eml` file when no SMTP server is configured.
    pub dir: PathBuf,
    /// The public base of the links in emails (`https://app.example.org`), without a trailing slash.
    pub public_url: String,
}

/// The raw `MILKFLOW_SMTP_URL`, `MILKFLOW_SMTP_CA_FILE`, `MILKFLOW_MAIL_FROM`, `MILKFLOW_MAIL_DIR` and
/// `MILKFLOW_PUBLIC_URL`.
pub struct RawMail {
    pub smtp_url: Option<String>,
    pub smtp_ca_file: Option<String>,
    pub mail_from: Option<String>,
    pub mail_dir: Option<String>,
    pub public_url: Option<String>,
}

impl RawMail {
    /// Validated settings; `bad(key, why)` is told of each invalid key.
    pub fn validate(self, environment: Environment, listen: &str, bad: &mut impl FnMut(&str, String)) -> MailSettings {
        let production = environment == Environment::Production;
        let given = |raw: Option<String>| raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let smtp_url = given(self.smtp_url);
        match &smtp_url {
            None if production => bad("smtp_url", "is required when MILKFLOW_ENV=production".into()),
            None => {}
            Some(url) => match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some() => {
                    let plain = u.query_pairs().any(|(k, v)| k == "tls" && v == "none");
                    if plain && (production || u.scheme() == "smtps") {
                        bad("smtp_url", "tls=none is only for a local smtp:// relay outside production".into());
                    }
                }
                _ => bad("smtp_url", "must be smtp://[user:pass@]host[:port] or smtps://...".into()),
            },
        }
        let from = given(self.mail_from).unwrap_or_else(|| {
            if production {
                bad("mail_from", "is required when MILKFLOW_ENV=production".into());
            }
            "milkflow <no-reply@localhost>".into()
        });
        if !from.contains('@') {
            bad("mail_from", format!("'{from}' is not an address such as milkflow <no-reply@example.org>"));
        }
        let public_url = given(self.public_url).map(|u| u.trim_end_matches('/').to_owned());
        let public_url = match public_url {
            Some(u) if u.starts_with("https://") || (!production && u.starts_with("http://")) => u,
            Some(u) => {
                bad("public_url", format!("'{u}' must be an https:// URL"));
                u
            }
            None if production => {
                bad("public_url", "is required when MILKFLOW_ENV=production (the base of links in emails)".into());
                String::new()
            }
            None => format!("http://{listen}"),
        };
        MailSettings {
            smtp_url: smtp_url.map(SecretString::from),
            smtp_ca_file: given(self.smtp_ca_file).map(PathBuf::from),
            from,
            dir: PathBuf::from(given(self.mail_dir).unwrap_or_else(|| "mail".into())),
            public_url,
        }
    }
}
