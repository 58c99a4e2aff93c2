//! Sending: over SMTP (STARTTLS or implicit TLS, rustls) or, with no SMTP configured, into `.eml` files.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use platform::MailSettings;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::time::Duration;

use crate::Email;

/// How long one SMTP exchange may take, connection included.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends rendered emails as the settings say.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    way: Way,
}

#[derive(Clone)]
enum Way {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dir(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Why an email was not sent; `retryable` when trying again later may succeed (a 4xx reply, a connection
/// that failed or timed out), not when the server refused it for good (5xx) or the email itself is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    pub retryable: bool,
    pub reason: String,
}

impl Mailer {
    /// The mailer the settings describe (SMTP when `MILKFLOW_SMTP_URL` is set, a directory otherwise).
    pub fn from_settings(settings: &MailSettings) -> Result<Self, String> {
        let from: Mailbox =
            settings.from.parse().map_err(|e| format!("MILKFLOW_MAIL_FROM '{}': {e}", settings.from))?;
        let way = match &settings.smtp_url {
            Some(url) => Way::Smtp(smtp(url.expose_secret(), settings.smtp_ca_file.as_ref())?),
            None => Way::Dir(AsyncFileTransport::new(&settings.dir), settings.dir.clone()),
        };
        Ok(Self { from, way })
    }

    /// Where emails go, for the logs (never the SMTP password).
    pub fn describe(&self) -> String {
        match &self.way {
            Way::Smtp(_) => "SMTP".into(),
            Way::Dir(_, dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Sends `email` with the Message-ID `<id@milkflow>` (the same on every attempt, so a receiver that got an
    /// attempt whose outcome was lost can tell the next one is the same email); SMTP replies and connection
    /// failures become a [`SendError`].
    pub async fn send(&self, email: &Email, id: &str) -> Result<(), SendError> {
        let permanent = |reason: String| SendError { retryable: false, reason };
        let to: Mailbox = email.to.parse().map_err(|e| permanent(format!("recipient '{}': {e}", email.to)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .message_id(Some(format!("<{id}@milkflow>")))
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|e| permanent(format!("message: {e}")))?;
        match &self.way {
            Way::Smtp(transport) => transport.send(message).await.map(|_| ()).map_err(|e| SendError {
                retryable: !e.is_permanent(),
                reason: match e.status() {
                    Some(code) => format!("SMTP {code}: {e}"),
                    None => format!("SMTP: {e}"),
                },
            }),
            Way::Dir(files, dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| SendError { retryable: true, reason: format!("{}: {e}", dir.display()) })?;
                let id = files.send(message).await.map_err(|e| SendError { retryable: true, reason: e.to_string() })?;
                let file = dir.join(format!("{id}.eml"));
                let links = links(&email.text).join(" ");
                tracing::info!(file = %file.display(), subject = %email.subject, links, "email written (no SMTP configured)");
                Ok(())
            }
        }
    }
}

/// The links of a plain-text body, so that a newcomer without SMTP can follow them from the log.
fn links(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(|w| w.trim_end_matches(['.', ',', ';', ')']))
        .collect()
}

/// The SMTP transport of `url` (see [`MailSettings::smtp_url`]), trusting `ca_file` besides the system's roots.
fn smtp(url: &str, ca_file: Option<&PathBuf>) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let bad = |why: &str| format!("MILKFLOW_SMTP_URL: {why}");
    let parsed = url::Url::parse(url).map_err(|_| bad("is not a URL"))?;
    let host = parsed.host_str().ok_or_else(|| bad("has no host"))?.to_owned();
    let implicit = parsed.scheme() == "smtps";
    let plain = parsed.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let mut tls = TlsParameters::builder(host.clone());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("MILKFLOW_SMTP_CA_FILE {}: {e}", path.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| format!("MILKFLOW_SMTP_CA_FILE {}: {e}", path.display()))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().map_err(|e| bad(&e.to_string()))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(parsed.port().unwrap_or(if implicit { 465 } else { 587 }))
        .timeout(Some(SMTP_TIMEOUT))
        .tls(match (implicit, plain) {
            (true, _) => Tls::Wrapper(tls),
            (false, false) => Tls::Required(tls),
            (false, true) => Tls::None,
        });
    if !parsed.username().is_empty() {
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let password = decode(parsed.password().unwrap_or(""));
        builder = builder.credentials(Credentials::new(decode(parsed.username()), password));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_links_of_a_body_are_found_for_the_log() {
        let text = "Open this link:\nhttps://app.example/verify-email?token=abc\n\nOr http://localhost:8080/x, then.";
        assert_eq!(super::links(text), vec!["https://app.example/verify-email?token=abc", "http://localhost:8080/x"]);
        assert!(super::links("no links here").is_empty());
    }
}
