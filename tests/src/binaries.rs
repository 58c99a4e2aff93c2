//! The built `milkflow-api` and `milkflow-scheduler` executables, run as child processes.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of a workspace binary next to this test executable (`target/<profile>/<name>`).
pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target profile directory");
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is not built; run the tests with `cargo nextest run --workspace`", bin.display());
    bin
}

/// A command for a binary with no inherited `MILKFLOW_*` settings and `dir` as working directory.
pub fn command(name: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(path(name));
    for (k, _) in std::env::vars() {
        if k.starts_with("MILKFLOW_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Polls `url` until it answers 200 or the deadline passes; false if the child exits first.
pub async fn wait_ready(child: &mut Child, url: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if client.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Sends SIGTERM and waits for the exit; true when it exited successfully within `timeout`.
pub fn terminate(child: &mut Child, timeout: Duration) -> bool {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    false
}
