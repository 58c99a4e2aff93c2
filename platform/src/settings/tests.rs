use super::*;
use secrecy::ExposeSecret;

fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_sources("127.0.0.1:8080", env)
}

#[test]
fn defaults_give_an_sqlite_file_and_local_listen() {
    let s = load(&[]).unwrap();
    assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(s.database_kind, DatabaseKind::Sqlite);
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.environment, Environment::Development);
    assert!(s.jwt_secret.is_none());
}

#[test]
fn environment_overrides_and_postgres_is_selected_by_url() {
    let s = load(&[
        ("MILKFLOW_DATABASE_URL", "postgres://u@localhost/db"),
        ("MILKFLOW_LISTEN", "0.0.0.0:9000"),
        ("MILKFLOW_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ])
    .unwrap();
    assert_eq!(s.database_kind, DatabaseKind::Postgres);
    assert_eq!(s.listen.port(), 9000);
    assert_eq!(s.jwt_secret.unwrap().expose_secret(), "0123456789abcdef0123456789abcdef");
}

#[test]
fn numeric_looking_secret_stays_a_string() {
    let s = load(&[("MILKFLOW_JWT_SECRET", "12345678901234567890123456789012345")]).unwrap();
    assert_eq!(s.jwt_secret.unwrap().expose_secret(), "12345678901234567890123456789012345");
}

#[test]
fn every_bad_key_is_named() {
    let err = load(&[
        ("MILKFLOW_LISTEN", "not-an-address"),
        ("MILKFLOW_DATABASE_URL", "mysql://x"),
        ("MILKFLOW_WORKERS", "many"),
    ])
    .unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_DATABASE_URL", "MILKFLOW_LISTEN", "MILKFLOW_WORKERS"]);
    let text = err.to_string();
    assert!(text.contains("invalid setting MILKFLOW_LISTEN: 'not-an-address'"), "{text}");
}

#[test]
fn production_requires_a_jwt_secret() {
    let err =
        load(&[("MILKFLOW_ENV", "production"), ("MILKFLOW_VAPID_SUBJECT", "mailto:ops@example.org")]).unwrap_err();
    assert_eq!(err.keys()[0], "MILKFLOW_JWT_SECRET");
    let ok = load(&[
        ("MILKFLOW_ENV", "production"),
        ("MILKFLOW_JWT_SECRET", &"s".repeat(40)),
        ("MILKFLOW_VAPID_SUBJECT", "mailto:ops@example.org"),
        ("MILKFLOW_SMTP_URL", "smtps://mailer:pw@smtp.example.org"),
        ("MILKFLOW_MAIL_FROM", "milkflow <no-reply@example.org>"),
        ("MILKFLOW_PUBLIC_URL", "https://app.example.org/"),
    ])
    .unwrap();
    assert_eq!(ok.log_format, LogFormat::Json);
    assert_eq!(ok.mail.public_url, "https://app.example.org");
}

#[test]
fn production_requires_smtp_a_sender_and_an_https_public_url() {
    let base = [
        ("MILKFLOW_ENV", "production"),
        ("MILKFLOW_JWT_SECRET", "s".repeat(40).leak() as &str),
        ("MILKFLOW_VAPID_SUBJECT", "mailto:ops@example.org"),
    ];
    let err = load(&base).unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_SMTP_URL", "MILKFLOW_MAIL_FROM", "MILKFLOW_PUBLIC_URL"]);
    let plain = [
        ("MILKFLOW_SMTP_URL", "smtp://relay:25?tls=none"),
        ("MILKFLOW_MAIL_FROM", "no-reply@example.org"),
        ("MILKFLOW_PUBLIC_URL", "http://app.example.org"),
    ];
    let err = load(&[&base[..], &plain[..]].concat()).unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_SMTP_URL", "MILKFLOW_PUBLIC_URL"]);
    // Outside production the mail goes to a directory, and links point at the listen address.
    let dev = load(&[("MILKFLOW_LISTEN", "127.0.0.1:9000")]).unwrap();
    assert!(dev.mail.smtp_url.is_none());
    assert_eq!(dev.mail.public_url, "http://127.0.0.1:9000");
    let bad = load(&[("MILKFLOW_SMTP_URL", "http://mail.example.org")]).unwrap_err();
    assert_eq!(bad.keys(), vec!["MILKFLOW_SMTP_URL"]);
}

#[test]
fn short_jwt_secret_is_refused() {
    let err = load(&[("MILKFLOW_JWT_SECRET", "short")]).unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_JWT_SECRET"]);
}

#[test]
fn push_settings_are_validated() {
    let s = load(&[("MILKFLOW_PUSH_ALLOW_INSECURE", "true"), ("MILKFLOW_PUSH_GRACE_S", "60")]).unwrap();
    assert!(s.push.allow_insecure);
    assert_eq!((s.push.grace_s, s.push.ttl_s), (60, 3600));
    let err =
        load(&[("MILKFLOW_PUSH_ALLOW_INSECURE", "maybe"), ("MILKFLOW_VAPID_SUBJECT", "ops@example.org")]).unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_PUSH_ALLOW_INSECURE", "MILKFLOW_VAPID_SUBJECT"]);
    let err = load(&[("MILKFLOW_ENV", "production"), ("MILKFLOW_JWT_SECRET", &"s".repeat(40))]).unwrap_err();
    assert_eq!(err.keys()[0], "MILKFLOW_VAPID_SUBJECT");
    let err = load(&[("MILKFLOW_PUSH_TTL_S", "90000")]).unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_PUSH_TTL_S"]);
}

#[test]
fn a_lease_must_outlast_a_send() {
    let err = load(&[("MILKFLOW_SCHEDULER_LEASE_S", "5")]).unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_SCHEDULER_LEASE_S"]);
    let s = load(&[("MILKFLOW_SCHEDULER_LEASE_S", "5"), ("MILKFLOW_PUSH_TIMEOUT_S", "4")]).unwrap();
    assert_eq!((s.push.lease_s, s.push.timeout_s), (5, 4));
}

#[test]
fn apns_settings_come_all_together() {
    let err = load(&[("MILKFLOW_APNS_KEY_ID", "ABCDEFGHIJ")]).unwrap_err();
    assert_eq!(err.keys(), vec!["MILKFLOW_APNS_KEY_FILE", "MILKFLOW_APNS_TEAM_ID", "MILKFLOW_APNS_TOPIC"]);
    let s = load(&[
        ("MILKFLOW_APNS_KEY_FILE", "/k.p8"),
        ("MILKFLOW_APNS_KEY_ID", "ABCDEFGHIJ"),
        ("MILKFLOW_APNS_TEAM_ID", "TEAM123456"),
        ("MILKFLOW_APNS_TOPIC", "app.milkflow"),
    ])
    .unwrap();
    assert_eq!(s.push.apns.unwrap().topic, "app.milkflow");
    assert_eq!(load(&[("MILKFLOW_FCM_BASE_URL", "http://x")]).unwrap_err().keys(), vec!["MILKFLOW_FCM_BASE_URL"]);
}

#[test]
fn five_field_cron_is_refused() {
    assert_eq!(load(&[("MILKFLOW_SCHEDULER_TICK", "* * * * *")]).unwrap_err().keys(), vec!["MILKFLOW_SCHEDULER_TICK"]);
}

#[test]
fn config_file_is_read_and_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("milkflow.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:7000\"\nworkers = 3\n").unwrap();
    let path = path.to_str().unwrap();
    let s = load(&[("MILKFLOW_CONFIG", path)]).unwrap();
    assert_eq!((s.listen.port(), s.workers), (7000, 3));
    let s = load(&[("MILKFLOW_CONFIG", path), ("MILKFLOW_LISTEN", "127.0.0.1:7001")]).unwrap();
    assert_eq!(s.listen.port(), 7001);
}

#[test]
fn missing_named_config_file_is_an_error() {
    assert!(matches!(load(&[("MILKFLOW_CONFIG", "/nonexistent/milkflow.toml")]), Err(SettingsError::Source(_))));
}
