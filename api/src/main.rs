use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    api::cli::run(api::cli::Cli::parse()).await
}
