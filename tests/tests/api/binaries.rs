//! The built binaries as an operator runs them: defaults, config errors, migrate, admin create, the scheduler
//! service, graceful stop, and the API and scheduler as separate processes on one database.

use milkflow_tests::binaries::{command, free_port, terminate, wait_ready};
use milkflow_tests::postgres::FreshDatabase;
use serde_json::json;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

const READY: Duration = Duration::from_secs(30);
const SECRET: &str = "binary-test-secret-0123456789-0123456789";

#[tokio::test]
async fn api_with_no_settings_serves_an_sqlite_file_in_the_working_directory_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Only the listen address is set (the default port may be taken on a test machine).
    let mut child =
        command("milkflow-api", dir.path()).env("MILKFLOW_LISTEN", format!("127.0.0.1:{port}")).spawn().unwrap();
    assert!(
        wait_ready(&mut child, &format!("http://127.0.0.1:{port}/readyz"), READY).await,
        "api did not become ready"
    );
    assert!(dir.path().join("milkflow.db").exists(), "milkflow.db was not created in the working directory");
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/auth/register"))
        .json(&json!({"email": "a@example.org", "password": "gentle-circles-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(terminate(&mut child, Duration::from_secs(15)), "api did not exit cleanly on SIGTERM");
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("MILKFLOW_JWT_SECRET is unset"), "no warning about the generated secret: {log}");
    assert!(!log.contains("gentle-circles-42"), "a password reached the log");
}

#[test]
fn invalid_settings_exit_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (binary, key, value) in [
        ("milkflow-api", "MILKFLOW_LISTEN", "not-an-address"),
        ("milkflow-api", "MILKFLOW_DATABASE_URL", "mysql://x"),
        ("milkflow-scheduler", "MILKFLOW_SCHEDULER_TICK", "* * * * *"),
    ] {
        let out = command(binary, dir.path()).env(key, value).output().unwrap();
        assert!(!out.status.success(), "{binary} accepted {key}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{binary}: {stderr}");
    }
    let out = command("milkflow-api", dir.path()).env("MILKFLOW_ENV", "production").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MILKFLOW_JWT_SECRET"));
    let toml = dir.path().join("milkflow.toml");
    std::fs::write(&toml, "workers = \"many\"\n").unwrap();
    let out = command("milkflow-api", dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MILKFLOW_WORKERS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn migrate_then_admin_create_from_stdin_gives_an_admin_who_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/ops.db?mode=rwc", dir.path().display());
    let out = command("milkflow-api", dir.path()).arg("migrate").env("MILKFLOW_DATABASE_URL", &db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("ops.db").exists());

    let mut create = command("milkflow-api", dir.path())
        .args(["admin", "create", "--email", "Ops@Example.org"])
        .env("MILKFLOW_DATABASE_URL", &db)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"operator-password-1\n").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A second admin with the same email is refused.
    let again = command("milkflow-api", dir.path())
        .args(["admin", "create", "--email", "ops@example.org"])
        .env("MILKFLOW_DATABASE_URL", &db)
        .env("MILKFLOW_ADMIN_PASSWORD", "operator-password-2")
        .output()
        .unwrap();
    assert!(!again.status.success());
    // A short password is refused with the field named.
    let short = command("milkflow-api", dir.path())
        .args(["admin", "create", "--email", "other@example.org"])
        .env("MILKFLOW_DATABASE_URL", &db)
        .env("MILKFLOW_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));

    let port = free_port();
    let mut api = command("milkflow-api", dir.path())
        .args(["--no-scheduler"])
        .env("MILKFLOW_DATABASE_URL", &db)
        .env("MILKFLOW_LISTEN", format!("127.0.0.1:{port}"))
        .env("MILKFLOW_JWT_SECRET", SECRET)
        .spawn()
        .unwrap();
    assert!(wait_ready(&mut api, &format!("http://127.0.0.1:{port}/readyz"), READY).await);
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/auth/login"))
        .json(&json!({"email": "ops@example.org", "password": "operator-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");
    assert!(terminate(&mut api, Duration::from_secs(15)));
}

#[tokio::test]
async fn scheduler_service_is_healthy_ready_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = command("milkflow-scheduler", dir.path())
        .env("MILKFLOW_LISTEN", format!("127.0.0.1:{port}"))
        .env("MILKFLOW_DATABASE_URL", format!("sqlite://{}/s.db?mode=rwc", dir.path().display()))
        .spawn()
        .unwrap();
    assert!(wait_ready(&mut child, &format!("http://127.0.0.1:{port}/readyz"), READY).await, "scheduler not ready");
    let h = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.unwrap();
    assert_eq!(h.status(), 200);
    // Readiness stays up across several claim ticks (one a second), and the ticks are counted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.unwrap().status(), 200);
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("milkflow_scheduler_ticks_total{result=\"ok\"}"), "{metrics}");
    assert!(terminate(&mut child, Duration::from_secs(15)), "scheduler did not exit cleanly on SIGTERM");
}

#[tokio::test]
async fn api_and_scheduler_run_as_separate_processes_on_one_postgres_database() {
    let Some(pg) = FreshDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (api_port, sched_port) = (free_port(), free_port());
    // Both start at once: migrations must serialise, not collide.
    let mut api = command("milkflow-api", dir.path())
        .arg("--no-scheduler")
        .env("MILKFLOW_DATABASE_URL", &pg.url)
        .env("MILKFLOW_LISTEN", format!("127.0.0.1:{api_port}"))
        .env("MILKFLOW_JWT_SECRET", SECRET)
        .spawn()
        .unwrap();
    let mut sched = command("milkflow-scheduler", dir.path())
        .env("MILKFLOW_DATABASE_URL", &pg.url)
        .env("MILKFLOW_LISTEN", format!("127.0.0.1:{sched_port}"))
        .spawn()
        .unwrap();
    assert!(wait_ready(&mut api, &format!("http://127.0.0.1:{api_port}/readyz"), READY).await, "api not ready");
    assert!(
        wait_ready(&mut sched, &format!("http://127.0.0.1:{sched_port}/readyz"), READY).await,
        "scheduler not ready"
    );
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{api_port}/v1/auth/register"))
        .json(&json!({"email": "pg@example.org", "password": "gentle-circles-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(terminate(&mut api, Duration::from_secs(15)));
    assert!(terminate(&mut sched, Duration::from_secs(15)));
}
