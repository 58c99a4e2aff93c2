//! The drills of `bench/drills/`, each at its small size against this build's binaries, so they keep working.
//! (Benchmarks are not tests: nothing here is timed.) Full sizes: run the scripts without `--small`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Runs `bench/drills/{script}` with `args`; panics with its output unless it exits 0 saying it passed.
fn drill(script: &str, args: &[&str]) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_milkflow-bench")).parent().expect("binary directory");
    let interpreter = if script.ends_with(".sh") { "bash" } else { "python3" };
    let out = Command::new(interpreter)
        .arg(root().join("bench/drills").join(script))
        .args(args)
        .env("MILKFLOW_BIN_DIR", bin_dir)
        .current_dir(root())
        .output()
        .expect("python3 runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("passed"), "{script} failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

#[tokio::test]
async fn a_scheduler_killed_mid_burst_loses_no_reminder_and_repeats_none_outside_its_unrecorded_leases() {
    // Three scheduler processes need PostgreSQL; the database made here only proves it answers.
    let Some(_reachable) = milkflow_tests::postgres::FreshDatabase::create().await else { return };
    tokio::task::spawn_blocking(|| drill("kill_scheduler.py", &["--small"])).await.unwrap();
}

#[test]
fn retries_back_off_honour_retry_after_and_gone_devices_get_nothing_more() {
    drill("sink_failures.py", &["--small"]);
}

#[test]
fn a_postgresql_outage_under_load_is_answered_503_and_the_api_recovers_with_nothing_lost() {
    if !Path::new("/usr/lib/postgresql").exists() {
        assert!(!in_ci(), "CI needs PostgreSQL's server binaries for the outage drill");
        eprintln!("SKIPPED: no PostgreSQL server binaries to run a throwaway cluster");
        return;
    }
    drill("pg_outage.py", &["--small"]);
}

/// Whether a tool the drills need is installed (`.ci/run` installs them); outside CI a missing one skips.
fn tool_installed(what: &str, check: &mut Command) -> bool {
    if check.output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(!in_ci(), "CI installs {what} (.ci/run)");
    eprintln!("SKIPPED: {what} is not installed (see .ci/run)");
    false
}

#[test]
fn contract_fuzzing_finds_no_5xx_and_no_answer_outside_the_schema() {
    let mut check = Command::new("python3");
    check.args(["-c", "import schemathesis"]);
    if tool_installed("schemathesis (pip install -r bench/requirements.txt)", &mut check) {
        drill("contract_fuzz.sh", &["--small"]);
    }
}

#[test]
fn a_strict_typescript_client_generated_from_openapi_compiles_and_runs() {
    let tsc = root().join("bench/drills/ts_client/node_modules/.bin/tsc");
    let mut check = Command::new(tsc);
    check.arg("--version");
    if tool_installed("the TypeScript client's packages (npm install --prefix bench/drills/ts_client)", &mut check) {
        drill("ts_client.sh", &["--small"]);
    }
}
