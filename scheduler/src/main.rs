use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// milkflow's scheduler service: claims due reminders and delivers them; serves /healthz and /readyz.
#[derive(Debug, Parser)]
#[command(name = "milkflow-scheduler", version)]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = Cli::parse();
    let settings = match platform::Settings::load("127.0.0.1:8081") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("milkflow-scheduler: {e}");
            return ExitCode::from(2);
        }
    };
    platform::telemetry::init(settings.log_format);
    match scheduler::service::run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "milkflow-scheduler failed");
            eprintln!("milkflow-scheduler: {e:#}");
            ExitCode::FAILURE
        }
    }
}
