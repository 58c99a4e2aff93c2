//! `spawn_app()` and typed helpers: the real milkflow API on port 0 against a fresh SQLite file or PostgreSQL database.

pub mod binaries;
pub mod postgres;
pub mod providers;
pub mod reminders;
pub mod smtp;
pub mod webpush;

use api::Application;
use platform::Settings;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use store::Database;
use tempfile::TempDir;

/// The JWT secret test apps sign with, so tests can forge tokens.
pub const TEST_JWT_SECRET: &str = "test-secret-0123456789-0123456789-abcdef";
/// The bootstrap admin every test app has.
pub const ADMIN_EMAIL: &str = "admin@milkflow.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";
/// A password that meets the policy.
pub const PASSWORD: &str = "gentle-circles-42";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running API (with its embedded scheduler) and a client for it.
pub struct TestApp {
    pub address: String,
    /// The settings the app was built with (tests build scheduler contexts from them).
    pub settings: Settings,
    pub client: reqwest::Client,
    pub db: Database,
    pub kind: Db,
    handle: actix_web::dev::ServerHandle,
    _dir: TempDir,
    _pg: Option<postgres::FreshDatabase>,
}

/// Installs a test subscriber when `TEST_LOG` is set; tests are silent otherwise.
fn init_test_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        platform::telemetry::init(platform::LogFormat::Pretty);
    }
}

/// Builds the real application on port 0 against a fresh database.
///
/// `None` means PostgreSQL is unreachable on a machine without it (the case is skipped, and says so);
/// with `CI=true` an unreachable PostgreSQL fails the test instead.
pub async fn spawn_app(kind: Db) -> Option<TestApp> {
    spawn_app_with(kind, &[]).await
}

/// Like [`spawn_app`], with extra `MILKFLOW_*` settings.
pub async fn spawn_app_with(kind: Db, extra: &[(&str, &str)]) -> Option<TestApp> {
    spawn(kind, extra, true, |_| async {}).await
}

/// The API (without its scheduler) on a database that `prepare` filled first, given its URL: an installation
/// upgraded by starting the new binary on it.
pub async fn spawn_api_on<F, Fut>(kind: Db, prepare: F) -> Option<TestApp>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    spawn(kind, &[], false, prepare).await
}

/// The API alone, without the embedded scheduler: tests drive `run_once` themselves with an injected clock.
/// Push endpoints on loopback are allowed, for the stand-ins.
pub async fn spawn_api_only(kind: Db) -> Option<TestApp> {
    let extra = [("MILKFLOW_PUSH_ALLOW_INSECURE", "true"), ("MILKFLOW_VAPID_SUBJECT", VAPID_SUBJECT)];
    spawn(kind, &extra, false, |_| async {}).await
}

/// The VAPID subject of test apps that push.
pub const VAPID_SUBJECT: &str = "mailto:ops@milkflow.test";

async fn spawn<F, Fut>(kind: Db, extra: &[(&str, &str)], with_scheduler: bool, prepare: F) -> Option<TestApp>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    init_test_logs();
    let dir = tempfile::tempdir().expect("temporary directory");
    let (url, pg) = match kind {
        Db::Sqlite => (format!("sqlite://{}/milkflow.db?mode=rwc", dir.path().display()), None),
        Db::Postgres => {
            let fresh = postgres::FreshDatabase::create().await?;
            (fresh.url.clone(), Some(fresh))
        }
    };
    prepare(url.clone()).await;
    let mut env: HashMap<String, String> = [
        ("MILKFLOW_DATABASE_URL", url.as_str()),
        ("MILKFLOW_LISTEN", "127.0.0.1:0"),
        ("MILKFLOW_JWT_SECRET", TEST_JWT_SECRET),
        ("MILKFLOW_WORKERS", "1"),
        ("MILKFLOW_DATABASE_MAX_CONNECTIONS", "5"),
        ("MILKFLOW_ADMIN_EMAIL", ADMIN_EMAIL),
        ("MILKFLOW_ADMIN_PASSWORD", ADMIN_PASSWORD),
        // Tests sign many accounts up from one address; the limits have tests of their own.
        ("MILKFLOW_AUTH_RATE_LIMIT_PER_MINUTE", "0"),
        ("MILKFLOW_RECOVERY_RATE_LIMIT_PER_HOUR", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // An empty settings file of its own, so a stray milkflow.toml in the working directory cannot leak in.
    let config = dir.path().join("milkflow.toml");
    std::fs::write(&config, "").expect("settings file");
    env.insert("MILKFLOW_CONFIG".into(), config.display().to_string());
    // Without SMTP, emails become .eml files: in the test's own directory, not the working directory.
    env.insert("MILKFLOW_MAIL_DIR".into(), dir.path().join("mail").display().to_string());
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::from_sources("127.0.0.1:0", env).expect("valid test settings");
    let app = Application::build(settings.clone(), with_scheduler).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Some(TestApp { address, settings, client, db, kind, handle, _dir: dir, _pg: pg })
}

impl TestApp {
    /// Another API on this app's database, without a scheduler, as a second process of a deployment would be:
    /// it shares nothing with this one but the database. It must not outlive this app.
    pub async fn another_api(&self) -> TestApp {
        self.another_api_with(self.settings.clone()).await
    }

    /// Like [`TestApp::another_api`], with other settings.
    pub async fn another_api_with(&self, settings: Settings) -> TestApp {
        let app = Application::build(settings.clone(), false).await.expect("application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (db, handle) = (app.db().clone(), app.handle());
        tokio::spawn(app.run_until_stopped());
        let dir = tempfile::tempdir().expect("temporary directory");
        TestApp { address, settings, client: self.client.clone(), db, kind: self.kind, handle, _dir: dir, _pg: None }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command; the server winds down on its own.
        drop(self.handle.stop(false));
    }
}

/// A new unique email address.
pub fn unique_email() -> String {
    format!("mother.{}@Example.org", uuid::Uuid::new_v4().simple())
}

/// A response's status and JSON body (`Null` when the body is empty or not JSON) and content type.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The `ETag` header.
    pub fn etag(&self) -> Option<String> {
        self.headers.get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Reads a response.
    pub async fn from_response(r: Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let content_type =
            headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, content_type, body, headers }
    }

    /// Asserts an RFC 9457 problem with `status`, returning its body.
    pub fn assert_problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert!(self.content_type.starts_with("application/problem+json"), "content type {:?}", self.content_type);
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert!(self.body["type"].is_string() && self.body["title"].is_string(), "body: {}", self.body);
        &self.body
    }

    /// The fields named by a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.assert_problem(422);
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    /// Sends a request with an optional JSON body and bearer token.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>, token: Option<&str>) -> Reply {
        let mut req = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::from_response(req.send().await.expect("request sent")).await
    }

    /// Sends a request with extra headers.
    pub async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{}", self.address, path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from_response(req.send().await.expect("request sent")).await
    }

    /// PUTs a JSON body with a bearer token.
    pub async fn put(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(reqwest::Method::PUT, path, Some(body), Some(token)).await
    }

    /// POSTs a JSON body with a bearer token.
    pub async fn post_auth(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body), Some(token)).await
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(&self, method: reqwest::Method, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let req = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        Reply::from_response(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(reqwest::Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body), None).await
    }

    /// Registers a new account with [`PASSWORD`] and signs in, as the app does; returns the login's body.
    pub async fn register(&self, email: &str) -> Value {
        let r = self.post("/v1/auth/register", &json!({"email": email, "password": PASSWORD})).await;
        assert_eq!(r.status, 202, "register: {}", r.body);
        let signed_in = self.login(email, PASSWORD).await;
        assert_eq!(signed_in.status, 200, "login after registering: {}", signed_in.body);
        signed_in.body
    }

    /// Registers a fresh account; its access token and refresh token.
    pub async fn signed_up(&self) -> (String, String) {
        let body = self.register(&unique_email()).await;
        (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/v1/auth/login", &json!({"email": email, "password": password})).await
    }

    /// Counts rows of `table` matching a raw SQL condition (test inspection only).
    pub async fn count(&self, table: &str, condition: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}")).await
    }

    /// Runs a raw SQL statement (a test moving the clock of stored rows, say).
    pub async fn execute(&self, sql: &str) {
        use sea_orm::ConnectionTrait;
        self.db.execute_unprepared(sql).await.expect("statement");
    }

    /// The integer column `n` of the one row a raw SQL query answers (test inspection only).
    pub async fn scalar(&self, sql: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let sql = sql.to_owned();
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    }
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::spawn_app($crate::Db::Sqlite).await {
                        super::$name(app).await
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::spawn_app($crate::Db::Postgres).await {
                        super::$name(app).await
                    }
                }
            }
        )*
    };
}

/// A pump session body starting `minutes_ago` minutes before now, lasting 20 minutes (or until now).
pub fn pump_body(minutes_ago: i64, left: f64, right: f64) -> Value {
    let start = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    let minutes = minutes_ago.clamp(1, 20);
    json!({
        "started_at": start.to_rfc3339(),
        "ended_at": (start + chrono::Duration::minutes(minutes)).to_rfc3339(),
        "volume_left_ml": left,
        "volume_right_ml": right,
        "pump_type": "electric",
        "mode": "double",
        "massage_before": true,
    })
}

/// A massage session body starting `minutes_ago` minutes before now.
pub fn massage_body(minutes_ago: i64) -> Value {
    let start = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    json!({
        "started_at": start.to_rfc3339(),
        "duration_s": 300,
        "side": "both",
        "pressure": "light",
        "context": "before_pumping",
        "spots": [{"side": "left", "quadrant": "upper_outer", "kind": "tender", "severity": 2}],
    })
}

/// Like [`on_both_databases`], with the API alone ([`spawn_api_only`]): the test drives the scheduler itself.
#[macro_export]
macro_rules! on_both_databases_api_only {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::spawn_api_only($crate::Db::Sqlite).await {
                        super::$name(app).await
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::spawn_api_only($crate::Db::Postgres).await {
                        super::$name(app).await
                    }
                }
            }
        )*
    };
}
