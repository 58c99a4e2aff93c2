//! One SMTP session of the stand-in: the command loop, STARTTLS, AUTH PLAIN and LOGIN, and DATA. Any I/O or TLS
//! error ends the session quietly.

use super::{Context, Received, Security};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The name the stand-in greets with.
const HOST: &str = "milkflow-smtp-stand-in";
/// The largest message accepted, advertised with SIZE.
const MAX_SIZE: usize = 35 * 1024 * 1024;
/// The longest command line (RFC 5321 allows 512 octets; AUTH responses may be longer).
const MAX_COMMAND: u64 = 16 * 1024;
/// The longest line inside DATA.
const MAX_DATA_LINE: u64 = 1024 * 1024;

const NEED_TLS: &str = "530 5.7.0 Must issue a STARTTLS command first";
const NEED_EHLO: &str = "503 5.5.1 Send EHLO or HELO first";
const CANCELLED: &str = "501 5.7.0 Authentication cancelled";
const UNDECODABLE: &str = "501 5.5.2 Cannot decode the response";

/// A byte stream, before or after TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The connection: lines are read through the buffer, replies written through it to the stream.
type Conn = BufReader<Box<dyn Io>>;

/// What the command loop does after a command.
enum Flow {
    Continue,
    StartTls,
    Quit,
}

/// Serves one connection until QUIT, the end of the stream or an error.
pub(super) async fn run(tcp: TcpStream, context: Arc<Context>) {
    if let Err(e) = serve(tcp, &context).await {
        tracing::debug!(error = %e, "SMTP stand-in session ended");
    }
}

async fn serve(tcp: TcpStream, context: &Context) -> io::Result<()> {
    let implicit = context.security == Security::ImplicitTls;
    let io: Box<dyn Io> = if implicit { Box::new(context.acceptor.accept(tcp).await?) } else { Box::new(tcp) };
    let mut conn: Conn = BufReader::new(io);
    reply(&mut conn, &format!("220 {HOST} ESMTP")).await?;
    let mut session = Session::new(context, implicit);
    loop {
        let line = read_line(&mut conn, MAX_COMMAND).await?;
        let line = String::from_utf8_lossy(&line);
        match session.command(&mut conn, line.trim_end_matches(['\r', '\n'])).await? {
            Flow::Continue => {}
            Flow::Quit => return Ok(()),
            Flow::StartTls => {
                // Anything pipelined after STARTTLS is plaintext and is discarded with the buffer (RFC 3207 §4.2).
                let plain = conn.into_inner();
                let secured: Box<dyn Io> = Box::new(context.acceptor.accept(plain).await?);
                conn = BufReader::new(secured);
                // The session starts over: the client must EHLO again.
                session = Session::new(context, true);
            }
        }
    }
}

/// One line with its line ending. The end of the stream, or a line longer than `limit`, is an error.
async fn read_line(conn: &mut Conn, limit: u64) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let n = (&mut *conn).take(limit).read_until(b'\n', &mut line).await?;
    if line.ends_with(b"\n") {
        Ok(line)
    } else if n as u64 >= limit {
        Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"))
    } else {
        Err(io::ErrorKind::UnexpectedEof.into())
    }
}

/// Writes a reply (lines already joined with CRLF) and flushes it through TLS.
async fn reply(conn: &mut Conn, text: &str) -> io::Result<()> {
    conn.write_all(format!("{text}\r\n").as_bytes()).await?;
    conn.flush().await
}

/// A `334` challenge and the client's answer, or `None` when it cancels with `*`.
async fn challenge(conn: &mut Conn, prompt: &str) -> io::Result<Option<String>> {
    reply(conn, &format!("334 {prompt}")).await?;
    let line = read_line(conn, MAX_COMMAND).await?;
    let answer = String::from_utf8_lossy(&line).trim().to_owned();
    Ok((answer != "*").then_some(answer))
}

/// The session state between commands.
struct Session<'a> {
    context: &'a Context,
    tls: bool,
    greeted: bool,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl<'a> Session<'a> {
    fn new(context: &'a Context, tls: bool) -> Self {
        Self { context, tls, greeted: false, auth_user: None, mail_from: None, rcpt_to: Vec::new() }
    }

    /// Answers one command line (without its line ending); commands are case-insensitive.
    async fn command(&mut self, conn: &mut Conn, line: &str) -> io::Result<Flow> {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => self.hello(arg, true),
            "HELO" => self.hello(arg, false),
            "STARTTLS" => return self.starttls(conn, arg).await,
            "AUTH" => self.auth(conn, arg).await?,
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.data(conn, arg).await?,
            "RSET" => {
                self.reset();
                "250 2.0.0 OK".to_owned()
            }
            "NOOP" => "250 2.0.0 OK".to_owned(),
            "QUIT" => {
                reply(conn, "221 2.0.0 Bye").await?;
                return Ok(Flow::Quit);
            }
            _ => "502 5.5.2 Command not recognized".to_owned(),
        };
        reply(conn, &answer).await?;
        Ok(Flow::Continue)
    }

    /// Ends the mail transaction, keeping the greeting and the authentication.
    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    /// EHLO (multi-line, with the extensions) or HELO.
    fn hello(&mut self, client: &str, extended: bool) -> String {
        if client.is_empty() {
            return "501 5.5.4 Syntax: EHLO domain".to_owned();
        }
        self.reset();
        self.greeted = true;
        if !extended {
            return format!("250 {HOST}");
        }
        let mut lines = vec![format!("{HOST} greets {client}"), format!("SIZE {MAX_SIZE}")];
        lines.extend(["8BITMIME", "SMTPUTF8"].map(str::to_owned));
        let upgrade = if self.tls { "AUTH PLAIN LOGIN" } else { "STARTTLS" };
        lines.push(upgrade.to_owned());
        let last = lines.len() - 1;
        let lines: Vec<String> =
            lines.iter().enumerate().map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' })).collect();
        lines.join("\r\n")
    }

    async fn starttls(&mut self, conn: &mut Conn, arg: &str) -> io::Result<Flow> {
        let refusal = if self.tls {
            "503 5.5.1 TLS already active"
        } else if !arg.is_empty() {
            "501 5.5.4 Syntax: STARTTLS"
        } else {
            reply(conn, "220 2.0.0 Ready to start TLS").await?;
            return Ok(Flow::StartTls);
        };
        reply(conn, refusal).await?;
        Ok(Flow::Continue)
    }

    /// AUTH PLAIN (initial response on the line or after `334 `) and AUTH LOGIN, only under TLS.
    async fn auth(&mut self, conn: &mut Conn, arg: &str) -> io::Result<String> {
        if !self.tls {
            return Ok(NEED_TLS.to_owned());
        }
        if !self.greeted {
            return Ok(NEED_EHLO.to_owned());
        }
        if self.auth_user.is_some() {
            return Ok("503 5.5.1 Already authenticated".to_owned());
        }
        if self.mail_from.is_some() {
            return Ok("503 5.5.1 AUTH is not permitted during a mail transaction".to_owned());
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim().to_owned())),
            None => (arg, None),
        };
        let (user, password) = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(response) => response,
                    None => match challenge(conn, "").await? {
                        Some(response) => response,
                        None => return Ok(CANCELLED.to_owned()),
                    },
                };
                match decode(&response).as_deref().and_then(plain) {
                    Some(credentials) => credentials,
                    None => return Ok(UNDECODABLE.to_owned()),
                }
            }
            "LOGIN" => {
                let user = match initial {
                    Some(user) => user,
                    None => match challenge(conn, "VXNlcm5hbWU6").await? {
                        Some(user) => user,
                        None => return Ok(CANCELLED.to_owned()),
                    },
                };
                let Some(password) = challenge(conn, "UGFzc3dvcmQ6").await? else {
                    return Ok(CANCELLED.to_owned());
                };
                match (decode(&user), decode(&password)) {
                    (Some(user), Some(password)) => (user, password),
                    _ => return Ok(UNDECODABLE.to_owned()),
                }
            }
            _ => return Ok("504 5.5.4 Unrecognized authentication type".to_owned()),
        };
        if !self.context.accepts(&user, &password) {
            return Ok("535 5.7.8 Authentication credentials invalid".to_owned());
        }
        self.auth_user = Some(user);
        Ok("235 2.7.0 Authentication successful".to_owned())
    }

    /// `MAIL FROM:<address>`, possibly with parameters (SIZE=, BODY=, SMTPUTF8).
    fn mail(&mut self, arg: &str) -> String {
        if !self.greeted {
            return NEED_EHLO.to_owned();
        }
        if !self.tls {
            return NEED_TLS.to_owned();
        }
        if self.auth_user.is_none() && self.context.requires_auth() {
            return "530 5.7.0 Authentication required".to_owned();
        }
        if self.mail_from.is_some() {
            return "503 5.5.1 Sender already specified".to_owned();
        }
        let Some((address, parameters)) = strip_prefix_ci(arg, "FROM:").and_then(path) else {
            return "501 5.5.4 Syntax: MAIL FROM:<address>".to_owned();
        };
        for parameter in parameters.split_whitespace() {
            if let Some(size) = strip_prefix_ci(parameter, "SIZE=") {
                match size.parse::<usize>() {
                    Ok(size) if size > MAX_SIZE => return "552 5.3.4 Message size exceeds fixed limit".to_owned(),
                    Ok(_) => {}
                    Err(_) => return "501 5.5.4 Invalid SIZE parameter".to_owned(),
                }
            }
        }
        self.mail_from = Some(address);
        "250 2.1.0 OK".to_owned()
    }

    /// `RCPT TO:<address>`.
    fn rcpt(&mut self, arg: &str) -> String {
        if self.mail_from.is_none() {
            return "503 5.5.1 Need MAIL before RCPT".to_owned();
        }
        match strip_prefix_ci(arg, "TO:").and_then(path) {
            Some((address, _)) if !address.is_empty() => {
                self.rcpt_to.push(address);
                "250 2.1.5 OK".to_owned()
            }
            _ => "501 5.5.4 Syntax: RCPT TO:<address>".to_owned(),
        }
    }

    /// DATA: `354`, then lines until `.` alone, dot-unstuffed; the reply is 250 or a scripted refusal.
    async fn data(&mut self, conn: &mut Conn, arg: &str) -> io::Result<String> {
        if !arg.is_empty() {
            return Ok("501 5.5.4 Syntax: DATA".to_owned());
        }
        if self.mail_from.is_none() {
            return Ok("503 5.5.1 Need MAIL command".to_owned());
        }
        if self.rcpt_to.is_empty() {
            return Ok("503 5.5.1 Need RCPT command".to_owned());
        }
        reply(conn, "354 Start mail input; end with <CRLF>.<CRLF>").await?;
        let mut raw = Vec::new();
        let mut too_big = false;
        loop {
            let line = read_line(conn, MAX_DATA_LINE).await?;
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let line = line.strip_prefix(b".").unwrap_or(&line[..]);
            if too_big || raw.len() + line.len() > MAX_SIZE {
                too_big = true;
            } else {
                raw.extend_from_slice(line);
            }
        }
        let mail_from = self.mail_from.take().unwrap_or_default();
        let rcpt_to = std::mem::take(&mut self.rcpt_to);
        if too_big {
            return Ok("552 5.3.4 Message size exceeds fixed limit".to_owned());
        }
        Ok(self.context.deliver(Received::new(mail_from, rcpt_to, raw, self.tls, self.auth_user.clone())))
    }
}

/// `text` after `prefix`, compared without regard to ASCII case.
fn strip_prefix_ci<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// The address inside `<...>` (a source route `@a,@b:` dropped) and the parameters after it.
fn path(text: &str) -> Option<(String, &str)> {
    let (address, parameters) = text.trim_start().strip_prefix('<')?.split_once('>')?;
    let address = match address.split_once(':') {
        Some((route, mailbox)) if route.starts_with('@') => mailbox,
        _ => address,
    };
    Some((address.to_owned(), parameters))
}

/// Base64 (`=` alone meaning empty, RFC 4954) to UTF-8 text.
fn decode(text: &str) -> Option<String> {
    if text == "=" {
        return Some(String::new());
    }
    String::from_utf8(B64.decode(text).ok()?).ok()
}

/// The user and password of a PLAIN response: `authzid NUL authcid NUL password`.
fn plain(response: &str) -> Option<(String, String)> {
    let mut parts = response.split('\0');
    let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then(|| (user.to_owned(), password.to_owned()))
}
