//! The `milkflow-api` command line: serve (default), migrate, admin create, openapi.

use clap::{Parser, Subcommand};
use platform::Settings;
use secrecy::ExposeSecret;
use std::io::BufRead;
use std::process::ExitCode;

use crate::error::ApiError;
use crate::startup::Application;

/// milkflow's REST API; by default it also runs the reminder scheduler in the same process.
#[derive(Debug, Parser)]
#[command(name = "milkflow-api", version)]
pub struct Cli {
    /// Run the API alone, for deployments that run milkflow-scheduler separately.
    #[arg(long, global = true)]
    pub no_scheduler: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Print the OpenAPI document (YAML) and exit.
    Openapi,
}

/// Admin account actions.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an admin; the password comes from MILKFLOW_ADMIN_PASSWORD or the first line of stdin.
    Create {
        #[arg(long)]
        email: String,
    },
}

/// Runs the command line; the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    if let Some(Command::Openapi) = cli.command {
        return match crate::openapi::yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let settings = match Settings::load("127.0.0.1:8080") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("milkflow-api: {e}");
            return ExitCode::from(2);
        }
    };
    platform::telemetry::init(settings.log_format);
    let result = match cli.command {
        None | Some(Command::Serve) => serve(settings, !cli.no_scheduler).await,
        Some(Command::Migrate) => store::db::migrate(&settings.database_url, settings.database_kind)
            .await
            .map(|_| tracing::info!("migrations applied"))
            .map_err(Into::into),
        Some(Command::Admin { action: AdminAction::Create { email } }) => create_admin(settings, &email).await,
        Some(Command::Openapi) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    tracing::error!(error = format!("{e:#}"), "milkflow-api failed");
    eprintln!("milkflow-api: {e:#}");
    ExitCode::FAILURE
}

async fn serve(settings: Settings, with_scheduler: bool) -> anyhow::Result<()> {
    Application::build(settings, with_scheduler).await?.run_until_stopped().await
}

async fn create_admin(settings: Settings, email: &str) -> anyhow::Result<()> {
    let password = match &settings.admin_password {
        Some(p) => p.expose_secret().to_owned(),
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    store::db::migrate(&settings.database_url, settings.database_kind).await?;
    let db = store::db::connect(&settings.database_url, settings.database_kind, 1).await?;
    let created = crate::services::admins::create_admin(&db, email, &password, chrono::Utc::now()).await;
    db.close().await?;
    match created {
        Ok(admin) => {
            println!("admin {} created with id {}", admin.email, admin.id);
            Ok(())
        }
        Err(ApiError::Validation(errors)) => Err(anyhow::anyhow!(
            "{}",
            errors.iter().map(|f| format!("{} {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
        )),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}
