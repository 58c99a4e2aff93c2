//! Settings: defaults, then an optional `milkflow.toml`, then `MILKFLOW_*` environment variables.
//!
//! Every value is validated at start; an error names the environment variable it came from.

use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::DatabaseKind;

mod edge;
mod mail;
pub use edge::EdgeSettings;
pub use mail::MailSettings;

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
    /// Password-reset and email-change requests an hour per client address and per account; 0 turns it off.
    pub recovery_rate_limit_per_hour: u32,
    /// MiB of list pages kept to be sent again while their owner changes nothing; 0 keeps none.
    pub page_cache_mib: u64,
    pub push: PushSettings,
    /// Browser origins, trusted proxies and the shared limit store.
    pub edge: EdgeSettings,
    pub mail: MailSettings,
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
    /// Occurrences due within this many seconds are staged: their deliveries made and encrypted ahead.
    pub lookahead_s: u64,
    /// Pushes one process has in flight at once to one push service (origin).
    pub max_in_flight: usize,
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
    recovery_rate_limit_per_hour: Option<String>,
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
    scheduler_lookahead_s: Option<String>,
    push_max_in_flight: Option<String>,
    fcm_service_account_file: Option<String>,
    fcm_base_url: Option<String>,
    apns_key_file: Option<String>,
    apns_key_id: Option<String>,
    apns_team_id: Option<String>,
    apns_topic: Option<String>,
    apns_base_url: Option<String>,
    cors_origins: Option<String>,
    trusted_proxies: Option<String>,
    redis_url: Option<String>,
    smtp_url: Option<String>,
    smtp_ca_file: Option<String>,
    mail_from: Option<String>,
    mail_dir: Option<String>,
    public_url: Option<String>,
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
        let recovery_rate_limit_per_hour =
            number("recovery_rate_limit_per_hour", self.recovery_rate_limit_per_hour, 5, 0, 100_000) as u32;
        let page_cache_mib = number("page_cache_mib", self.page_cache_mib, 64, 0, 65_536);
        let grace_s = number("push_grace_s", self.push_grace_s, 900, 0, 86_400);
        let ttl_s = number("push_ttl_s", self.push_ttl_s, 3600, 60, 86_400);
        let max_attempts = number("push_max_attempts", self.push_max_attempts, 8, 1, 50) as u32;
        let batch = number("scheduler_batch", self.scheduler_batch, 500, 1, 1_000);
        let lease_s = number("scheduler_lease_s", self.scheduler_lease_s, 60, 5, 3600);
        let timeout_s = number("push_timeout_s", self.push_timeout_s, 10, 1, 120);
        let lookahead_s = number("scheduler_lookahead_s", self.scheduler_lookahead_s, 120, 0, 3600);
        let max_in_flight = number("push_max_in_flight", self.push_max_in_flight, 64, 1, 10_000) as usize;
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

        let cors_origins = edge::cors_origins(self.cors_origins.as_deref()).unwrap_or_else(|e| {
            bad("cors_origins", e);
            Vec::new()
        });
        let trusted_proxies = edge::trusted_proxies(self.trusted_proxies.as_deref()).unwrap_or_else(|e| {
            bad("trusted_proxies", e);
            Vec::new()
        });
        let redis_url = edge::redis_url(self.redis_url).unwrap_or_else(|e| {
            bad("redis_url", e);
            None
        });

        let mail = mail::RawMail {
            smtp_url: self.smtp_url,
            smtp_ca_file: self.smtp_ca_file,
            mail_from: self.mail_from,
            mail_dir: self.mail_dir,
            public_url: self.public_url,
        }
        .validate(environment, &listen.to_string(), &mut bad);
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
            recovery_rate_limit_per_hour,
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
                lookahead_s,
                max_in_flight,
                fcm_service_account_file,
                fcm_base_url,
                apns,
                apns_base_url,
            },
            edge: EdgeSettings { cors_origins, trusted_proxies, redis_url },
            mail,
        })
    }
}

#[cfg(test)]
mod tests;
