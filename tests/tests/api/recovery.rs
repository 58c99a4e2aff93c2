//! Getting back into an account, followed from the emails an SMTP stand-in receives: a password reset, a
//! change of password and of address in the app, an admin sending a reset, and the limits on asking.

use milkflow_tests::smtp::{Received, Security, SmtpStandIn};
use milkflow_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Db, PASSWORD, TestApp, unique_email};
use serde_json::{Value, json};

use crate::emails::{PUBLIC_URL, after, app_mailing_to, code_of, message, wait_for_outbox};

const RESET_SUBJECT: &str = "Reset your milkflow password";
const CHANGED_SUBJECT: &str = "Your milkflow password was changed";
const NEW_PASSWORD: &str = "a-new-gentle-password-9";

crate::on_both_kinds!(
    a_reset_followed_from_its_email_sets_the_password_and_ends_every_session,
    changing_the_password_needs_the_current_one_and_ends_other_sessions,
    an_email_change_takes_effect_once_the_new_address_confirms_it,
    an_admin_sends_a_reset_and_it_is_audited,
    reset_requests_are_limited_per_account_and_per_address,
);

fn reset_token(m: &Received) -> String {
    after(m.text.as_deref().expect("a text part"), &format!("{PUBLIC_URL}/reset-password?token=")).to_owned()
}

async fn confirm(app: &TestApp, token: &str, new_password: &str) -> milkflow_tests::Reply {
    app.post("/v1/auth/password-reset/confirm", &json!({"token": token, "new_password": new_password})).await
}

fn access(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_owned()
}

fn refresh_of(session: &Value) -> Value {
    json!({"refresh_token": session["refresh_token"]})
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> Value {
    let r = app.login(email, password).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// A test's SMTP stand-in (STARTTLS), the directory of its certificate, and the app sending to it.
struct Mailing {
    smtp: SmtpStandIn,
    app: TestApp,
    _dir: tempfile::TempDir,
}

async fn mailing(kind: Db) -> Option<Mailing> {
    let smtp = SmtpStandIn::start(Security::StartTls).await;
    let dir = tempfile::tempdir().unwrap();
    let app = app_mailing_to(kind, &smtp, &dir).await?;
    Some(Mailing { smtp, app, _dir: dir })
}

async fn a_reset_followed_from_its_email_sets_the_password_and_ends_every_session(kind: Db) {
    let Some(Mailing { smtp, app, _dir }) = mailing(kind).await else { return };
    let email = unique_email();
    let phone = app.register(&email).await;
    let tablet = signed_in(&app, &email, PASSWORD).await;
    // Wrong passwords lock the account for this address.
    for _ in 0..5 {
        app.login(&email, "not-the-password").await.assert_problem(401);
    }
    app.login(&email, PASSWORD).await.assert_problem(401);

    let asked = app.post("/v1/auth/password-reset", &json!({"email": email.to_uppercase()})).await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let unknown = app.post("/v1/auth/password-reset", &json!({"email": unique_email()})).await;
    assert_eq!((unknown.status.as_u16(), &unknown.body), (202, &asked.body), "the same answer for an unknown address");
    app.post("/v1/auth/password-reset", &json!({"email": "not an address"})).await.assert_problem(422);
    let first = message(&smtp, &email, RESET_SUBJECT).await;
    let first_token = reset_token(&first);
    assert_eq!(app.count("email_tokens", &format!("token_hash = '{first_token}'")).await, 0, "kept only hashed");

    // A newer request makes the older link stop working.
    app.post("/v1/auth/password-reset", &json!({"email": email})).await;
    wait_for_outbox(&app, "template = 'password_reset' AND status = 'sent'", 2, std::time::Duration::from_secs(15))
        .await;
    let second = smtp.received().into_iter().filter(|m| m.subject == RESET_SUBJECT).nth(1).unwrap();
    let token = reset_token(&second);
    assert_ne!(token, first_token);
    let stale = confirm(&app, &first_token, NEW_PASSWORD).await;
    assert_eq!(stale.assert_problem(422)["errors"][0]["field"], "token");
    let short = confirm(&app, &token, "short").await;
    assert_eq!(short.assert_problem(422)["errors"][0]["field"], "new_password");

    let done = confirm(&app, &token, NEW_PASSWORD).await;
    assert_eq!(done.status, 204, "{}", done.body);
    confirm(&app, &token, "yet-another-one-1").await.assert_problem(422);

    // Every access token and session of before has ended.
    app.get("/v1/me", Some(&access(&phone))).await.assert_problem(401);
    app.get("/v1/me", Some(&access(&tablet))).await.assert_problem(401);
    app.post("/v1/auth/refresh", &refresh_of(&tablet)).await.assert_problem(401);
    app.login(&email, PASSWORD).await.assert_problem(401);
    // The lock is lifted and the address counts as confirmed.
    let now = signed_in(&app, &email, NEW_PASSWORD).await;
    assert!(now["user"]["email_verified_at"].is_string(), "{now}");
    assert_eq!(app.get("/v1/me", Some(&access(&now))).await.status, 200);
    let notice = message(&smtp, &email, CHANGED_SUBJECT).await;
    assert!(notice.text.as_deref().unwrap().contains(&format!("{PUBLIC_URL}/reset-password")));

    // A link past its 30 minutes does not work.
    app.post("/v1/auth/password-reset", &json!({"email": email})).await;
    wait_for_outbox(&app, "template = 'password_reset' AND status = 'sent'", 3, std::time::Duration::from_secs(15))
        .await;
    let third = smtp.received().into_iter().filter(|m| m.subject == RESET_SUBJECT).nth(2).unwrap();
    app.execute("UPDATE email_tokens SET expires_at = '2026-01-01T00:00:00+00:00' WHERE used_at IS NULL").await;
    confirm(&app, &reset_token(&third), PASSWORD).await.assert_problem(422);
}

async fn changing_the_password_needs_the_current_one_and_ends_other_sessions(kind: Db) {
    let Some(Mailing { smtp, app, _dir }) = mailing(kind).await else { return };
    let email = unique_email();
    let phone = app.register(&email).await;
    let tablet = signed_in(&app, &email, PASSWORD).await;

    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let wrong = app.post_auth("/v1/me/password", &change("not-the-password", NEW_PASSWORD), &access(&phone)).await;
    assert_eq!(wrong.assert_problem(422)["errors"][0]["field"], "current_password");
    let short = app.post_auth("/v1/me/password", &change(PASSWORD, "short"), &access(&phone)).await;
    assert_eq!(short.assert_problem(422)["errors"][0]["field"], "new_password");
    app.send(reqwest::Method::POST, "/v1/me/password", Some(&change(PASSWORD, NEW_PASSWORD)), None)
        .await
        .assert_problem(401);

    let renewed = app.post_auth("/v1/me/password", &change(PASSWORD, NEW_PASSWORD), &access(&phone)).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    // This device goes on with the new tokens; every other session and access token has ended.
    assert_eq!(app.get("/v1/me", Some(&access(&renewed.body))).await.status, 200);
    app.get("/v1/me", Some(&access(&phone))).await.assert_problem(401);
    app.get("/v1/me", Some(&access(&tablet))).await.assert_problem(401);
    app.post("/v1/auth/refresh", &refresh_of(&tablet)).await.assert_problem(401);
    app.post("/v1/auth/refresh", &refresh_of(&phone)).await.assert_problem(401);
    let rotated = app.post("/v1/auth/refresh", &refresh_of(&renewed.body)).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    app.login(&email, PASSWORD).await.assert_problem(401);
    signed_in(&app, &email, NEW_PASSWORD).await;
    message(&smtp, &email, CHANGED_SUBJECT).await;
}

async fn an_email_change_takes_effect_once_the_new_address_confirms_it(kind: Db) {
    let Some(Mailing { smtp, app, _dir }) = mailing(kind).await else { return };
    let (old, new, taken) = (unique_email(), unique_email(), unique_email());
    let phone = app.register(&old).await;
    let tablet = signed_in(&app, &old, PASSWORD).await;
    app.register(&taken).await;

    let change = |current: &str, address: &str| json!({"current_password": current, "new_email": address});
    let wrong = app.post_auth("/v1/me/email", &change("not-the-password", &new), &access(&phone)).await;
    assert_eq!(wrong.assert_problem(422)["errors"][0]["field"], "current_password");
    let same = app.post_auth("/v1/me/email", &change(PASSWORD, &old.to_uppercase()), &access(&phone)).await;
    assert_eq!(same.assert_problem(422)["errors"][0]["field"], "new_email");
    let started = app.post_auth("/v1/me/email", &change(PASSWORD, &new), &access(&phone)).await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["user"]["email"], old.to_lowercase(), "unchanged until confirmed");
    app.post("/v1/auth/refresh", &refresh_of(&tablet)).await.assert_problem(401);
    app.get("/v1/me", Some(&access(&phone))).await.assert_problem(401);
    let session = access(&started.body);

    let told = message(&smtp, &old, "A change of your milkflow email was asked for").await;
    assert!(told.text.as_deref().unwrap().contains(&new.to_lowercase()), "{:?}", told.text);
    let confirm = message(&smtp, &new, "Confirm your new email for milkflow").await;
    signed_in(&app, &old, PASSWORD).await;
    let confirmed = app.post("/v1/auth/verify-email", &json!({"email": new, "code": code_of(&confirm)})).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.body["email"], new.to_lowercase());
    assert!(confirmed.body["email_verified_at"].is_string());
    assert_eq!(app.get("/v1/me", Some(&session)).await.body["email"], new.to_lowercase());
    app.login(&old, PASSWORD).await.assert_problem(401);
    signed_in(&app, &new, PASSWORD).await;

    // Another account's address gets nothing, and the answer does not tell.
    let renewed = signed_in(&app, &new, PASSWORD).await;
    let onto_taken = app.post_auth("/v1/me/email", &change(PASSWORD, &taken), &access(&renewed)).await;
    assert_eq!(onto_taken.status, 202, "{}", onto_taken.body);
    message(&smtp, &new, "A change of your milkflow email was asked for").await;
    let to_taken = format!("to_address = '{}' AND template = 'confirm_new_email'", taken.to_lowercase());
    assert_eq!(app.count("emails", &to_taken).await, 0);
}

async fn an_admin_sends_a_reset_and_it_is_audited(kind: Db) {
    let Some(Mailing { smtp, app, _dir }) = mailing(kind).await else { return };
    let email = unique_email();
    let user = app.register(&email).await;
    let id = user["user"]["id"].as_str().unwrap().to_owned();
    let admin = access(&signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let path = format!("/admin/v1/users/{id}/password-reset");
    app.post_auth(&path, &json!({}), &access(&user)).await.assert_problem(403);
    let unknown = format!("/admin/v1/users/{}/password-reset", uuid::Uuid::now_v7());
    app.post_auth(&unknown, &json!({}), &admin).await.assert_problem(404);

    let sent = app.post_auth(&path, &json!({}), &admin).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let m = message(&smtp, &email, RESET_SUBJECT).await;
    // Sending it changes nothing until the link is used.
    assert_eq!(app.get("/v1/me", Some(&access(&user))).await.status, 200);
    assert_eq!(confirm(&app, &reset_token(&m), NEW_PASSWORD).await.status, 204);
    let log = app.get(&format!("/admin/v1/audit-log?target_id={id}"), Some(&admin)).await;
    let actions: Vec<&str> = log.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["user.password_reset"], "{}", log.body);

    app.post_auth(&format!("/admin/v1/users/{id}/disable"), &json!({}), &admin).await;
    app.post_auth(&path, &json!({}), &admin).await.assert_problem(409);
}

/// A reset request from client `address` (the app trusts 127.0.0.1 as its proxy).
async fn reset_from(app: &TestApp, address: &str, email: &str) -> milkflow_tests::Reply {
    let r = app
        .client
        .post(format!("{}/v1/auth/password-reset", app.address))
        .header("x-forwarded-for", format!("{address}, 127.0.0.1"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    milkflow_tests::Reply::from_response(r).await
}

async fn reset_requests_are_limited_per_account_and_per_address(kind: Db) {
    let extra = [("MILKFLOW_RECOVERY_RATE_LIMIT_PER_HOUR", "2"), ("MILKFLOW_TRUSTED_PROXIES", "127.0.0.1/32")];
    let Some(app) = milkflow_tests::spawn_app_with(kind, &extra).await else { return };
    let email = unique_email();
    app.register(&email).await;
    assert_eq!(reset_from(&app, "10.0.0.1", &email).await.status, 202);
    assert_eq!(reset_from(&app, "10.0.0.2", &email).await.status, 202);
    let over = reset_from(&app, "10.0.0.3", &email.to_uppercase()).await;
    over.assert_problem(429);
    let wait: u64 = over.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&wait), "within the hour: {wait}");
    assert_eq!(app.count("emails", "template = 'password_reset'").await, 2);

    // One address asking for many accounts is held back too.
    assert_eq!(reset_from(&app, "10.0.0.4", &unique_email()).await.status, 202);
    assert_eq!(reset_from(&app, "10.0.0.4", &unique_email()).await.status, 202);
    reset_from(&app, "10.0.0.4", &unique_email()).await.assert_problem(429);
}
