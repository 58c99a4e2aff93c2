//! The benchmark tools that measure limits, run briefly on each database so they keep working. Nothing is
//! timed: the tool itself fails unless each call did what the API's own services promise (a PUT of a new id
//! creates it; a page of a user's 60 sessions holds 50 and says more follow).

use std::process::Command;

/// Runs `milkflow-bench store` for a moment; panics unless it exits 0 having finished calls.
fn store(database_url: &str, scenario: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_milkflow-bench"))
        .args(["store", "--database-url", database_url, "--scenario", scenario])
        .args(["--concurrency", "4", "--seconds", "0.3"])
        .output()
        .expect("milkflow-bench runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "store {scenario} failed:\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert!(report["calls"].as_u64().is_some_and(|n| n > 0), "no calls finished: {report}");
    assert!(report["p99_ms"].as_f64().is_some_and(|p99| p99 >= report["p50_ms"].as_f64().unwrap_or(f64::MAX)));
}

#[test]
fn the_data_layer_limit_tool_puts_and_lists_through_the_api_services_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("mf-store-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("store.db").display());
    store(&url, "put");
    store(&url, "list");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_data_layer_limit_tool_puts_and_lists_through_the_api_services_on_postgresql() {
    let Some(db) = milkflow_tests::postgres::FreshDatabase::create().await else { return };
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        store(&url, "put");
        store(&url, "list");
    })
    .await
    .unwrap();
}
