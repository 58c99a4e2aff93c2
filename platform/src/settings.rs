//! Settings: defaults, then an optional `milkflow.toml`, then `MILKFLOW_*` environment variables.
//!
//! Every value is validated at start; an error names the environment variable it came from.

use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::db::DatabaseKind;

/// The default database: an SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://milkflow.db?mode=rwc";

/// Where the service runs; production refuses insecure defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Validated settings of a milkflow process; passed explicitly, never global.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: String,
    pub database_kind: DatabaseKind,
    pub database_max_connections: u32,
    pub listen: SocketAddr,
    pub jwt_secret: Option<SecretString>,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    pub log_format: LogFormat,
    pub workers: usize,
    pub scheduler_tick: String,
    pub scheduler_stale_after_s: u64,
    /// Login and registration attempts per minute per client address and per account; 0 turns limits off.
    pub auth_rate_limit_per_minute: u32,
    /// MiB of list pages kept to be sent again while their owner changes nothing; 0 keeps none.
    pub page_cache_mib: u64,
    pub push: PushSettings,
}

/// How reminders are delivered.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Allows `http://` and loopback push endpoints: development and tests only.
    pub allow_insecure: bool,
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact.
    pub vapid_subject: String,
    /// The VAPID private key (base64url of the 32-byte P-256 scalar); generated and stored when absent.
    pub vapid_private_key: Option<SecretString>,
    /// A reminder due while every scheduler was down is still sent within this many seconds, else marked missed.
    pub grace_s: u64,
    /// How long a reminder stays worth delivering (push TTL, retry limit), seconds; at most 24 hours.
    pub ttl_s: u64,
    /// Attempts per delivery before it fails.
    pub max_attempts: u32,
    /// Occurrences or deliveries claimed per tick.
    pub batch: u64,
    /// How long a claimed delivery stays leased to one process before another may take it, seconds.
    pub lease_s: u64,
    /// Timeout of one push request, seconds.
    pub timeout_s: u64,
    /// A Firebase service-account JSON file; FCM delivery is off without it.
    pub fcm_service_account_file: Option<String>,
    pub fcm_base_url: String,
    /// APNs token auth: the `.p8` key file, its key id, the team id and the app's bundle id (topic).
    pub apns: Option<ApnsSettings>,
    pub apns_base_url: String,
}

/// APNs token-based authentication.
#[derive(Debug, Clone)]
pub struct ApnsSettings {
    pub key_file: String,
    pub key_id: String,
    pub team_id: String,
    pub topic: String,
}

/// Settings exactly as read, before validation.
#[derive(Debug, Default, Deserialize)]
struct RawSettings {
    env: Option<String>,
    database_url: Option<String>,
    database_max_connections: Option<String>,
    listen: Option<String>,
    jwt_secret: Option<String>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    log_format: Option<String>,
    workers: Option<String>,
    scheduler_tick: Option<String>,
    scheduler_stale_after_s: Option<String>,
    auth_rate_limit_per_minute: Option<String>,
    page_cache_mib: Option<String>,
    push_allow_insecure: Option<String>,
    vapid_subject: Option<String>,
    vapid_private_key: Option<String>,
    push_grace_s: Option<String>,
    push_ttl_s: Option<String>,
    push_max_attempts: Option<String>,
    scheduler_batch: Option<String>,
    scheduler_lease_s: Option<String>,
    push_timeout_s: Option<String>,
    fcm_service_account_file: Option<String>,
    fcm_base_url: Option<String>,
    apns_key_file: Option<String>,
    apns_key_id: Option<String>,
    apns_team_id: Option<String>,
    apns_topic: Option<String>,
    apns_base_url: Option<String>,
}

/// Why settings could not be loaded; each problem names its key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings: {0}")]
    Source(String),
    #[error("{}", .0.iter().map(|(k, m)| format!("invalid setting {k}: {m}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<(String, String)>),
}

impl SettingsError {
    /// The environment-variable names of the invalid keys.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Self::Source(_) => vec![],
            Self::Invalid(v) => v.iter().map(|(k, _)| k.as_str()).collect(),
        }
    }
}

impl Settings {
    /// Loads from `milkflow.toml` (or the file named by `MILKFLOW_CONFIG`) and the process environment.
    pub fn load(default_listen: &str) -> Result<Self, SettingsError> {
        Self::from_sources(default_listen, std::env::vars().collect())
    }

    /// Loads from an explicit environment map, so tests need not touch the process environment.
    pub fn from_sources(default_listen: &str, env: HashMap<String, String>) -> Result<Self, SettingsError> {
        let file = env.get("MILKFLOW_CONFIG").map(PathBuf::from);
        let mut builder = config::Config::builder();
        builder = match &file {
            Some(path) => builder.add_source(config::File::from(path.clone()).required(true)),
            None => builder.add_source(config::File::with_name("milkflow.toml").required(false)),
        };
        let milkflow_env: HashMap<String, String> =
            env.into_iter().filter(|(k, _)| k.starts_with("MILKFLOW_")).collect();
        builder = builder
            .add_source(config::Environment::with_prefix("MILKFLOW").prefix_separator("_").source(Some(milkflow_env)));
        let raw: RawSettings =
            builder.build().and_then(|c| c.try_deserialize()).map_err(|e| SettingsError::Source(e.to_string()))?;
        raw.validate(default_listen)
    }
}

impl RawSettings {
    fn validate(self, default_listen: &str) -> Result<Settings, SettingsError> {
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut bad = |key: &str, msg: String| errors.push((format!("MILKFLOW_{}", key.to_uppercase()), msg));

        let environment = match self.env.as_deref().unwrap_or("development") {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => {
                bad("env", format!("'{other}' is not one of: development, production"));
                Environment::Development
            }
        };
        let database_url = self.database_url.filter(|s| !s.trim().is_empty()).unwrap_or(DEFAULT_DATABASE_URL.into());
        let database_kind = DatabaseKind::from_url(&database_url).unwrap_or_else(|e| {
            bad("database_url", e);
            DatabaseKind::Sqlite
        });
        let listen_raw = self.listen.unwrap_or_else(|| default_listen.to_owned());
        let listen = listen_raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            bad("listen", format!("'{listen_raw}' is not an address such as 127.0.0.1:8080"));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let mut number = |key: &str, raw: Option<String>, default: u64, min: u64, max: u64| -> u64 {
            match raw.map(|s| s.trim().parse::<u64>().map_err(|_| s)) {
                None => default,
                Some(Ok(n)) if (min..=max).contains(&n) => n,
                Some(Ok(n)) => {
                    bad(key, format!("{n} is outside {min}..={max}"));
                    default
                }
                Some(Err(s)) => {
                    bad(key, format!("'{s}' is not a whole number"));
                    default
                }
            }
        };
        let database_max_connections =
            number("database_max_connections", self.database_max_connections, 10, 1, 1000) as u32;
        let default_workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u64;
        let workers = number("workers", self.workers, default_workers, 1, 256) as usize;
        let scheduler_stale_after_s = number("scheduler_stale_after_s", self.scheduler_stale_after_s, 10, 1, 3600);
        let auth_rate_limit_per_minute =
            number("auth_rate_limit_per_minute", self.auth_rate_limit_per_minute, 10, 0, 100_000) as u32;
        let page_cache_mib = number("page_cache_mib", self.page_cache_mib, 64, 0, 65_536);
        let grace_s = number("push_grace_s", self.push_grace_s, 900, 0, 86_400);
        let ttl_s = number("push_ttl_s", self.push_ttl_s, 3600, 60, 86_400);
        let max_attempts = number("push_max_attempts", self.push_max_attempts, 8, 1, 50) as u32;
        let batch = number("scheduler_batch", self.scheduler_batch, 500, 1, 1_000);
        let lease_s = number("scheduler_lease_s", self.scheduler_lease_s, 60, 5, 3600);
        let timeout_s = number("push_timeout_s", self.push_timeout_s, 10, 1, 120);
        if lease_s <= timeout_s {
            let why = format!(
                "{lease_s} must be longer than MILKFLOW_PUSH_TIMEOUT_S ({timeout_s}): a send must end inside its lease"
            );
            bad("scheduler_lease_s", why);
        }

        let jwt_secret = self.jwt_secret.filter(|s| !s.is_empty());
        match (&jwt_secret, environment) {
            (Some(s), _) if s.len() < 32 => bad("jwt_secret", "must be at least 32 characters".into()),
            (None, Environment::Production) => bad("jwt_secret", "is required when MILKFLOW_ENV=production".into()),
            _ => {}
        }
        let admin_email = self.admin_email.filter(|s| !s.trim().is_empty());
        let admin_password = self.admin_password.filter(|s| !s.is_empty());
        let log_format = match self.log_format.as_deref() {
            None if environment == Environment::Production => LogFormat::Json,
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                bad("log_format", format!("'{other}' is not one of: pretty, json"));
                LogFormat::Pretty
            }
        };
        let allow_insecure = match self.push_allow_insecure.as_deref().map(str::trim) {
            None | Some("") | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                bad("push_allow_insecure", format!("'{other}' is not true or false"));
                false
            }
        };
        if allow_insecure && environment == Environment::Production {
            bad("push_allow_insecure", "must not be true when MILKFLOW_ENV=production".into());
        }
        let vapid_subject = match self.vapid_subject.filter(|s| !s.trim().is_empty()) {
            Some(s) if s.starts_with("mailto:") || s.starts_with("https://") => s,
            Some(s) => {
                bad("vapid_subject", format!("'{s}' must start with mailto: or https://"));
                s
            }
            None if environment == Environment::Production => {
                bad("vapid_subject", "is required when MILKFLOW_ENV=production (a mailto: or https: contact)".into());
                String::new()
            }
            None => "mailto:push-dev@localhost".into(),
        };
        let vapid_private_key = self.vapid_private_key.filter(|s| !s.trim().is_empty());
        let fcm_service_account_file = self.fcm_service_account_file.filter(|s| !s.trim().is_empty());
        let mut url = |key: &str, raw: Option<String>, default: &str| -> String {
            let value = raw.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| default.to_owned());
            if !(value.starts_with("https://") || (allow_insecure && value.starts_with("http://"))) {
                bad(key, format!("'{value}' must be an https:// URL"));
            }
            value
        };
        let fcm_base_url = url("fcm_base_url", self.fcm_base_url, "https://fcm.googleapis.com");
        let apns_base_url = url("apns_base_url", self.apns_base_url, "https://api.push.apple.com");
        let apns_parts = [
            ("apns_key_file", self.apns_key_file.filter(|s| !s.trim().is_empty())),
            ("apns_key_id", self.apns_key_id.filter(|s| !s.trim().is_empty())),
            ("apns_team_id", self.apns_team_id.filter(|s| !s.trim().is_empty())),
            ("apns_topic", self.apns_topic.filter(|s| !s.trim().is_empty())),
        ];
        let apns = if apns_parts.iter().all(|(_, v)| v.is_none()) {
            None
        } else {
            for (key, value) in &apns_parts {
                if value.is_none() {
                    bad(key, "is required once any MILKFLOW_APNS_* key is set".into());
                }
            }
            let [(_, key_file), (_, key_id), (_, team_id), (_, topic)] = apns_parts;
            if key_id.as_ref().is_some_and(|k| k.len() != 10) {
                bad("apns_key_id", "must be Apple's 10-character key id".into());
            }
            match (key_file, key_id, team_id, topic) {
                (Some(key_file), Some(key_id), Some(team_id), Some(topic)) => {
                    Some(ApnsSettings { key_file, key_id, team_id, topic })
                }
                _ => None,
            }
        };
        let scheduler_tick = self.scheduler_tick.unwrap_or_else(|| "* * * * * *".into());
        let fields = scheduler_tick.split_whitespace().count();
        if !(6..=7).contains(&fields) {
            bad("scheduler_tick", format!("'{scheduler_tick}' must be a cron expression with seconds (6 or 7 fields)"));
        }

        if !errors.is_empty() {
            return Err(SettingsError::Invalid(errors));
        }
        Ok(Settings {
            environment,
            database_url,
            database_kind,
            database_max_connections,
            listen,
            jwt_secret: jwt_secret.map(SecretString::from),
            admin_email,
            admin_password: admin_password.map(SecretString::from),
            log_format,
            workers,
            scheduler_tick,
            scheduler_stale_after_s,
            auth_rate_limit_per_minute,
            page_cache_mib,
            push: PushSettings {
                allow_insecure,
                vapid_subject,
                vapid_private_key: vapid_private_key.map(SecretString::from),
                grace_s,
                ttl_s,
                max_attempts,
                batch,
                lease_s,
                timeout_s,
                fcm_service_account_file,
                fcm_base_url,
                apns,
                apns_base_url,
            },
        })
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(err.keys(), vec!["MILKFLOW_JWT_SECRET"]);
        let ok = load(&[
            ("MILKFLOW_ENV", "production"),
            ("MILKFLOW_JWT_SECRET", &"s".repeat(40)),
            ("MILKFLOW_VAPID_SUBJECT", "mailto:ops@example.org"),
        ])
        .unwrap();
        assert_eq!(ok.log_format, LogFormat::Json);
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
        let err = load(&[("MILKFLOW_PUSH_ALLOW_INSECURE", "maybe"), ("MILKFLOW_VAPID_SUBJECT", "ops@example.org")])
            .unwrap_err();
        assert_eq!(err.keys(), vec!["MILKFLOW_PUSH_ALLOW_INSECURE", "MILKFLOW_VAPID_SUBJECT"]);
        let err = load(&[("MILKFLOW_ENV", "production"), ("MILKFLOW_JWT_SECRET", &"s".repeat(40))]).unwrap_err();
        assert_eq!(err.keys(), vec!["MILKFLOW_VAPID_SUBJECT"]);
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
        assert_eq!(
            load(&[("MILKFLOW_SCHEDULER_TICK", "* * * * *")]).unwrap_err().keys(),
            vec!["MILKFLOW_SCHEDULER_TICK"]
        );
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
}
