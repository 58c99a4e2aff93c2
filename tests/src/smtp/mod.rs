//! An SMTP server stand-in on 127.0.0.1 (RFC 5321, over STARTTLS or implicit TLS, AUTH PLAIN and LOGIN) that the
//! application's real SMTP client sends to; it keeps every message it accepts, parsed, for the tests to read.

mod session;

use mail_parser::{MessageParser, PartType};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// One message the stand-in accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The address inside `MAIL FROM:<...>`.
    pub mail_from: String,
    /// The addresses of `RCPT TO:<...>`.
    pub rcpt_to: Vec<String>,
    /// The DATA content, dot-unstuffed, without the final `.\r\n`.
    pub raw: Vec<u8>,
    /// Whether the session was encrypted when DATA arrived.
    pub tls: bool,
    /// The user name of a successful AUTH PLAIN or AUTH LOGIN.
    pub auth_user: Option<String>,
    pub subject: String,
    /// The From header's address.
    pub from_header: String,
    /// The To header's addresses.
    pub to_header: Vec<String>,
    /// The text/plain body, decoded.
    pub text: Option<String>,
    /// The text/html body, decoded.
    pub html: Option<String>,
}

impl Received {
    /// A message with its headers and bodies parsed by mail-parser (left empty when it cannot parse).
    fn new(mail_from: String, rcpt_to: Vec<String>, raw: Vec<u8>, tls: bool, auth_user: Option<String>) -> Self {
        let mut received = Self {
            mail_from,
            rcpt_to,
            raw: Vec::new(),
            tls,
            auth_user,
            subject: String::new(),
            from_header: String::new(),
            to_header: Vec::new(),
            text: None,
            html: None,
        };
        if let Some(m) = MessageParser::default().parse(&raw) {
            received.subject = m.subject().unwrap_or_default().to_owned();
            received.from_header = m.from().and_then(|a| a.first()?.address()).unwrap_or_default().to_owned();
            if let Some(to) = m.to() {
                received.to_header = to.iter().filter_map(|a| a.address()).map(str::to_owned).collect();
            }
            received.text = m.text_bodies().find_map(|p| match &p.body {
                PartType::Text(text) => Some(text.to_string()),
                _ => None,
            });
            received.html = m.html_bodies().find_map(|p| match &p.body {
                PartType::Html(html) => Some(html.to_string()),
                _ => None,
            });
        }
        received.raw = raw;
        received
    }
}

/// How clients reach the stand-in's TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain at first; the client upgrades with STARTTLS (submission, port 587).
    StartTls,
    /// TLS from the first byte (smtps, port 465).
    ImplicitTls,
}

/// What the tests script and read, shared with every session.
#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    credentials: Option<(String, String)>,
    refusals: VecDeque<(u16, String)>,
}

/// What every session of one stand-in works with.
struct Context {
    security: Security,
    acceptor: TlsAcceptor,
    shared: Arc<Mutex<Shared>>,
}

impl Context {
    /// Whether AUTH accepts these credentials.
    fn accepts(&self, user: &str, password: &str) -> bool {
        match &lock(&self.shared).credentials {
            Some((u, p)) => u == user && p == password,
            None => true,
        }
    }

    /// Whether MAIL needs a successful AUTH first.
    fn requires_auth(&self) -> bool {
        lock(&self.shared).credentials.is_some()
    }

    /// Stores a message unless a refusal is scripted; the reply to the end of DATA.
    fn deliver(&self, message: Received) -> String {
        let mut shared = lock(&self.shared);
        if let Some((code, text)) = shared.refusals.pop_front() {
            return format!("{code} {text}");
        }
        shared.received.push(message);
        format!("250 2.0.0 OK: queued as {}", shared.received.len())
    }
}

/// The shared state, even after a panic elsewhere poisoned its lock.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The stand-in server.
pub struct SmtpStandIn {
    port: u16,
    security: Security,
    certificate_pem: String,
    shared: Arc<Mutex<Shared>>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl SmtpStandIn {
    /// Listens on 127.0.0.1 on a free port. `StartTls`: plain first, EHLO advertises STARTTLS and AUTH PLAIN LOGIN
    /// only after it; MAIL before STARTTLS is refused with 530. `ImplicitTls`: TLS from the first byte (smtps).
    pub async fn start(security: Security) -> Self {
        let (certificate_pem, acceptor) = tls_acceptor();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("the SMTP stand-in binds 127.0.0.1");
        let port = listener.local_addr().expect("the SMTP stand-in's address").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let context = Arc::new(Context { security, acceptor, shared: shared.clone() });
        let (shutdown, stopping) = watch::channel(false);
        let server = tokio::spawn(accept_loop(listener, context, stopping));
        Self { port, security, certificate_pem, shared, shutdown, server }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The self-signed certificate (PEM) the server presents, for "localhost" and 127.0.0.1.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// `smtp://user:pass@127.0.0.1:PORT` (StartTls) or `smtps://...` (ImplicitTls), user and password
    /// percent-encoded.
    pub fn url(&self, user: &str, password: &str) -> String {
        let scheme = match self.security {
            Security::StartTls => "smtp",
            Security::ImplicitTls => "smtps",
        };
        let mut url = url::Url::parse(&format!("{scheme}://127.0.0.1:{}", self.port)).expect("the stand-in's URL");
        url.set_username(user).expect("a user name in the URL");
        url.set_password(Some(password)).expect("a password in the URL");
        url.to_string()
    }

    /// Only these credentials pass AUTH (535 otherwise), and MAIL needs AUTH. By default any credentials pass.
    pub fn require_credentials(&self, user: &str, password: &str) {
        lock(&self.shared).credentials = Some((user.to_owned(), password.to_owned()));
    }

    /// The replies to the end of the next DATA commands instead of 250, one per message, in order, queued after
    /// any still pending, e.g. `[(451, "4.3.0 try again later")]`. A refused message is not stored.
    pub fn refuse_next(&self, replies: Vec<(u16, String)>) {
        lock(&self.shared).refusals.extend(replies);
    }

    /// Every message accepted so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared).received.clone()
    }

    /// Waits until at least `n` messages have arrived, panicking after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            if tokio::time::Instant::now() >= deadline {
                let subjects: Vec<&str> = received.iter().map(|r| r.subject.as_str()).collect();
                panic!(
                    "the SMTP stand-in received {} message(s) within {timeout:?}, expected at least {n} \
                     (subjects so far: {subjects:?})",
                    received.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops listening and drops every open connection: connections to the port are refused afterwards.
    pub async fn stop(self) {
        // Fails only when the accept loop has already ended.
        let _ = self.shutdown.send(true);
        self.server.await.expect("the SMTP stand-in's accept loop ends cleanly");
    }
}

/// Accepts connections, one task each, until told to stop (or the stand-in is dropped); then closes the
/// listener and ends every session before returning.
async fn accept_loop(listener: TcpListener, context: Arc<Context>, mut stopping: watch::Receiver<bool>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            // A value sent or the sender dropped: either way, stop.
            _ = stopping.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    sessions.spawn(session::run(stream, context.clone()));
                }
                // Out of file descriptors and the like: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reaps finished sessions so the set does not grow.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    sessions.shutdown().await;
}

/// A self-signed certificate for "localhost" and 127.0.0.1 (as PEM) and a TLS acceptor presenting it, with the
/// aws-lc-rs provider set explicitly rather than a process-wide default.
fn tls_acceptor() -> (String, TlsAcceptor) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], signing_key.into())
        .expect("a TLS server configuration");
    (cert.pem(), TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::{Security, SmtpStandIn};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    /// Sends one command line.
    async fn send(reader: &mut BufReader<TcpStream>, command: &str) {
        reader.get_mut().write_all(format!("{command}\r\n").as_bytes()).await.expect("command sent");
    }

    /// One reply, possibly multi-line: its lines without line endings.
    async fn reply(reader: &mut BufReader<TcpStream>) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).await.expect("a reply line");
            assert!(n > 0, "the connection closed after {lines:?}");
            let line = line.trim_end().to_owned();
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line);
            if !more {
                return lines;
            }
        }
    }

    #[tokio::test]
    async fn advertises_starttls_and_refuses_mail_before_it() {
        let server = SmtpStandIn::start(Security::StartTls).await;
        let port = server.port();
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
        let mut reader = BufReader::new(stream);
        assert_eq!(reply(&mut reader).await, ["220 milkflow-smtp-stand-in ESMTP"]);

        send(&mut reader, "ehlo client.test").await;
        let ehlo = reply(&mut reader).await;
        assert!(ehlo.iter().all(|l| l.starts_with("250")), "{ehlo:?}");
        let keywords: Vec<&str> = ehlo.iter().skip(1).filter_map(|l| l.get(4..)).collect();
        assert!(keywords.contains(&"STARTTLS"), "{ehlo:?}");
        assert!(!keywords.iter().any(|k| k.starts_with("AUTH")), "AUTH only after TLS: {ehlo:?}");

        send(&mut reader, "MAIL FROM:<mother@example.org> SIZE=100").await;
        let mail = reply(&mut reader).await;
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert!(mail[0].starts_with("530 ") && mail[0].contains("Must issue a STARTTLS command first"), "{mail:?}");

        send(&mut reader, "QUIT").await;
        assert!(reply(&mut reader).await[0].starts_with("221 "));
        assert!(server.received().is_empty());
        server.stop().await;
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "connections are refused after stop");
    }
}
