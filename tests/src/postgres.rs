//! Fresh PostgreSQL databases for tests, on the server at `MILKFLOW_TEST_POSTGRES_URL`.

use sea_orm::{ConnectionTrait, Database};

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("MILKFLOW_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{name}")
}

/// A database named by a UUID, dropped when this value is dropped.
pub struct FreshDatabase {
    pub url: String,
    name: String,
}

impl FreshDatabase {
    /// Creates one; `None` (and a note on stderr) when PostgreSQL is unreachable and `CI` is not `true`.
    pub async fn create() -> Option<Self> {
        let server = server_url();
        let admin = match Database::connect(server.as_str()).await {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL is unreachable at {server} and CI=true: {e}");
                }
                eprintln!("SKIPPED: PostgreSQL case, PostgreSQL is unreachable at {server}: {e}");
                return None;
            }
        };
        let name = format!("milkflow_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
        let _ = admin.close().await;
        Some(Self { url: with_database(&server, &name), name })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (server, name) = (server_url(), self.name.clone());
        // Drop runs outside any runtime guarantee, so a short-lived thread and runtime do the work.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let admin = Database::connect(server.as_str()).await.ok()?;
                let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                let _ = admin.close().await;
                Some(())
            })
        })
        .join();
    }
}
