//! Email end to end: verification emails over real SMTP (STARTTLS and implicit TLS) to a stand-in that decrypts
//! and parses them, the link and the code confirming the address, refusals retried and then failed, a server
//! that is down, and the `.eml` files written when no SMTP server is configured.

use milkflow_tests::smtp::{Received, Security, SmtpStandIn};
use milkflow_tests::{Db, PASSWORD, TestApp, spawn_app_with, unique_email};
use serde_json::json;
use std::time::Duration;

pub(crate) const PUBLIC_URL: &str = "https://app.milkflow.test";
const SMTP_USER: &str = "milkflow";
const SMTP_PASSWORD: &str = "s3cret pass/+";

/// Runs each named `async fn(Db)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_kinds {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(milkflow_tests::Db::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(milkflow_tests::Db::Postgres).await
                }
            }
        )*
    };
}

on_both_kinds!(
    a_new_address_is_confirmed_by_the_link_of_an_email_sent_over_starttls,
    the_code_confirms_an_address_and_five_wrong_codes_end_it,
    refusals_for_now_are_retried_and_a_refusal_for_good_fails_the_email,
);

/// The app (with its scheduler) sending through `smtp`, which it trusts through the stand-in's certificate.
pub(crate) async fn app_mailing_to(kind: Db, smtp: &SmtpStandIn, dir: &tempfile::TempDir) -> Option<TestApp> {
    let ca = dir.path().join("smtp-ca.pem");
    std::fs::write(&ca, smtp.certificate_pem()).unwrap();
    let url = smtp.url(SMTP_USER, SMTP_PASSWORD);
    let ca = ca.display().to_string();
    let extra =
        [("MILKFLOW_SMTP_URL", url.as_str()), ("MILKFLOW_SMTP_CA_FILE", &ca), ("MILKFLOW_PUBLIC_URL", PUBLIC_URL)];
    spawn_app_with(kind, &extra).await
}

/// What follows `marker` in `text`, up to the next whitespace.
pub(crate) fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text.find(marker).unwrap_or_else(|| panic!("no {marker:?} in:\n{text}")) + marker.len();
    text[start..].split_whitespace().next().unwrap_or("")
}

fn token_of(m: &Received) -> String {
    after(m.text.as_deref().expect("a text part"), &format!("{PUBLIC_URL}/verify-email?token=")).to_owned()
}

pub(crate) fn code_of(m: &Received) -> String {
    after(m.text.as_deref().expect("a text part"), "type this code in the app: ").to_owned()
}

/// The first message `smtp` received for `to` with `subject`, waiting for it up to 15 s.
pub(crate) async fn message(smtp: &SmtpStandIn, to: &str, subject: &str) -> Received {
    let start = std::time::Instant::now();
    loop {
        let found = smtp.received().into_iter().find(|m| m.rcpt_to == [to.to_lowercase()] && m.subject == subject);
        if let Some(m) = found {
            return m;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no {subject:?} to {to}: {:?}", smtp.received());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the outbox holds `n` emails matching `condition`.
pub(crate) async fn wait_for_outbox(app: &TestApp, condition: &str, n: i64, timeout: Duration) {
    let start = std::time::Instant::now();
    while app.count("emails", condition).await < n {
        assert!(start.elapsed() < timeout, "no {n} emails where {condition} after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_new_address_is_confirmed_by_the_link_of_an_email_sent_over_starttls(kind: Db) {
    let smtp = SmtpStandIn::start(Security::StartTls).await;
    smtp.require_credentials(SMTP_USER, SMTP_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let Some(app) = app_mailing_to(kind, &smtp, &dir).await else { return };
    let email = unique_email();
    let session = app.register(&email).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    assert_eq!(session["user"]["email_verified_at"], serde_json::Value::Null);

    let m = smtp.wait_for(1, Duration::from_secs(15)).await.remove(0);
    let address = email.to_lowercase();
    assert_eq!(m.rcpt_to, vec![address.clone()]);
    assert_eq!(m.to_header, vec![address.clone()]);
    assert!(m.tls, "sent before STARTTLS");
    assert_eq!(m.auth_user.as_deref(), Some(SMTP_USER));
    assert_eq!(m.from_header, "no-reply@localhost");
    assert_eq!(m.subject, "Confirm your email for milkflow");
    let link_token = token_of(&m);
    assert_eq!(link_token.len(), 43, "32 random bytes, base64url: {link_token}");
    // The HTML part escapes what it is given (minijinja writes `/` as `&#x2f;`, which a browser reads as `/`).
    let html = m.html.as_deref().expect("an HTML part").replace("&#x2f;", "/");
    assert!(html.contains(&format!("{PUBLIC_URL}/verify-email?token={link_token}")), "{html}");
    assert!(html.contains(&code_of(&m)), "the HTML part carries the same code");
    // The outbox keeps no secret once the email is sent, and the token table only hashes.
    wait_for_outbox(&app, "status = 'sent' AND payload = '{}'", 1, Duration::from_secs(5)).await;
    assert_eq!(app.count("email_tokens", &format!("token_hash = '{link_token}'")).await, 0);

    let wrong = app.post("/v1/auth/verify-email", &json!({"token": "not-a-token"})).await;
    assert_eq!(wrong.assert_problem(422)["errors"][0]["field"], "token");
    let verified = app.post("/v1/auth/verify-email", &json!({"token": link_token})).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(verified.body["email_verified_at"].is_string(), "{}", verified.body);
    let me = app.get("/v1/me", Some(&token)).await;
    assert_eq!(me.body["email_verified_at"], verified.body["email_verified_at"]);
    let admin = app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await;
    let admin = admin.body["access_token"].as_str().unwrap().to_owned();
    let detail = app.get(&format!("/admin/v1/users/{}", session["user"]["id"].as_str().unwrap()), Some(&admin)).await;
    assert_eq!(detail.body["email_verified_at"], verified.body["email_verified_at"], "{}", detail.body);
    let again = app.post("/v1/auth/verify-email", &json!({"token": link_token})).await;
    again.assert_problem(422);
    app.post_auth("/v1/auth/verify-email/resend", &json!({}), &token).await.assert_problem(409);

    // Registering the address again answers as before and tells the account's owner instead.
    let r = app.post("/v1/auth/register", &json!({"email": email, "password": "another-password-1"})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let told = smtp.wait_for(2, Duration::from_secs(15)).await.remove(1);
    assert_eq!(told.rcpt_to, vec![address]);
    assert_eq!(told.subject, "Someone tried to sign up to milkflow with your address");
    assert!(told.text.as_deref().unwrap().contains(&format!("{PUBLIC_URL}/reset-password")));
    assert_eq!(app.login(&email, PASSWORD).await.status, 200, "the first password still signs in");
}

async fn the_code_confirms_an_address_and_five_wrong_codes_end_it(kind: Db) {
    let smtp = SmtpStandIn::start(Security::StartTls).await;
    let dir = tempfile::tempdir().unwrap();
    let Some(app) = app_mailing_to(kind, &smtp, &dir).await else { return };
    let email = unique_email();
    let session = app.register(&email).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let first = smtp.wait_for(1, Duration::from_secs(15)).await.remove(0);
    let code = code_of(&first);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..5 {
        let r = app.post("/v1/auth/verify-email", &json!({"email": email, "code": wrong})).await;
        assert_eq!(r.assert_problem(422)["errors"][0]["field"], "code");
    }
    let late = app.post("/v1/auth/verify-email", &json!({"email": email, "code": code})).await;
    late.assert_problem(422);

    // A new email may not follow within a minute of the last; once it may, its code works and the old one not.
    let soon = app.post_auth("/v1/auth/verify-email/resend", &json!({}), &token).await;
    soon.assert_problem(429);
    assert!(soon.headers.get("retry-after").is_some(), "{:?}", soon.headers);
    let backdated = "UPDATE emails SET created_at = '2026-01-01T00:00:00+00:00'";
    app.execute(backdated).await;
    let resent = app.post_auth("/v1/auth/verify-email/resend", &json!({}), &token).await;
    assert_eq!(resent.status, 202, "{}", resent.body);
    let second = smtp.wait_for(2, Duration::from_secs(15)).await.remove(1);
    let new_code = code_of(&second);
    assert_ne!(token_of(&second), token_of(&first));
    let ok = app.post("/v1/auth/verify-email", &json!({"email": email.to_uppercase(), "code": new_code})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body["email_verified_at"].is_string());
    let old_link = app.post("/v1/auth/verify-email", &json!({"token": token_of(&first)})).await;
    old_link.assert_problem(422);
}

async fn refusals_for_now_are_retried_and_a_refusal_for_good_fails_the_email(kind: Db) {
    let smtp = SmtpStandIn::start(Security::ImplicitTls).await;
    smtp.refuse_next(vec![(451, "4.3.0 try again later".into()), (550, "5.1.1 mailbox unavailable".into())]);
    let dir = tempfile::tempdir().unwrap();
    let Some(app) = app_mailing_to(kind, &smtp, &dir).await else { return };
    app.register(&unique_email()).await;
    wait_for_outbox(
        &app,
        "status = 'retrying' AND attempts = 1 AND last_error LIKE '%451%'",
        1,
        Duration::from_secs(15),
    )
    .await;
    // The retry comes after the first backoff (about 5 s).
    wait_for_outbox(&app, "status = 'failed' AND attempts = 2 AND last_error LIKE '%550%'", 1, Duration::from_secs(20))
        .await;
    assert_eq!(app.count("emails", "payload = '{}'").await, 1, "a failed email keeps no secret");
    assert!(smtp.received().is_empty(), "a refused message is not delivered");
    // Staff see it failed, and why, in the delivery statistics.
    let admin = app.login(milkflow_tests::ADMIN_EMAIL, milkflow_tests::ADMIN_PASSWORD).await;
    let stats = app.get("/admin/v1/stats/deliveries", admin.body["access_token"].as_str()).await;
    let days = stats.body.as_array().unwrap();
    let email = days.iter().find(|d| d["provider"] == "email").unwrap_or_else(|| panic!("{}", stats.body));
    assert_eq!(
        (email["delivered"].as_u64(), email["failed"].as_u64(), email["retries"].as_u64()),
        (Some(0), Some(1), Some(1))
    );
    let reasons = email["failure_reasons"].as_object().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    let (reason, n) = reasons.iter().next().unwrap();
    assert!(reason.contains("550") && reason.contains("mailbox unavailable"), "{reason}");
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_that_is_down_leaves_the_email_to_be_retried() {
    let smtp = SmtpStandIn::start(Security::StartTls).await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_mailing_to(Db::Sqlite, &smtp, &dir).await.unwrap();
    smtp.stop().await;
    app.register(&unique_email()).await;
    wait_for_outbox(
        &app,
        "status = 'retrying' AND attempts = 1 AND last_error LIKE 'SMTP%'",
        1,
        Duration::from_secs(15),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_each_email_is_written_as_an_eml_file() {
    let app = milkflow_tests::spawn_app(Db::Sqlite).await.unwrap();
    let email = unique_email();
    app.register(&email).await;
    let dir = app.settings.mail.dir.clone();
    let start = std::time::Instant::now();
    let file = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|mut d| d.next()).and_then(Result::ok);
        if let Some(entry) = found {
            break entry.path();
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no .eml file in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("eml"));
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(raw.contains(&email.to_lowercase()) && raw.contains("Subject: Confirm your email for milkflow"), "{raw}");
}
