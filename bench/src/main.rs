//! `milkflow-bench`: the tools behind milkflow's benchmarks and drills (driven by `bench/run.py` and
//! `bench/drills/*.py`): a Web Push sink that counts what reaches it, a seeder of users, devices and routines,
//! a sender measuring the wire limit (reqwest alone posting encrypted payloads to the sink) and the encryption
//! limit (the payload encryption alone), and the data-layer limit of the API's record services.

mod seed;
mod sink;
mod store;
mod wire;

use clap::{Parser, Subcommand};

/// The devices' shared public key (base64url uncompressed point) and auth secret (base64url): what seeded
/// devices carry and what payloads are encrypted for. A base64url value may begin with '-'.
#[derive(clap::Args)]
pub struct DeviceKeys {
    #[arg(long, allow_hyphen_values = true)]
    p256dh: String,
    #[arg(long, allow_hyphen_values = true)]
    auth: String,
}

#[derive(Parser)]
#[command(name = "milkflow-bench", about = "Benchmark and drill tools of milkflow")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a Web Push sink on 127.0.0.1 that accepts (or refuses, as scripted) and counts.
    Sink(sink::Args),
    /// Seed users with one Web Push device each and routines firing in one minute.
    Seed(seed::Args),
    /// POST encrypted Web Push payloads to the sink with reqwest alone: the wire limit.
    Wire(wire::Args),
    /// Encrypt Web Push payloads as the scheduler does, on every core, sending nothing: the encryption limit.
    Encrypt(wire::EncryptArgs),
    /// Call the API's own record services on the database alone, at wrk's concurrency: the data-layer limit.
    Store(store::Args),
    /// Print a new device key pair and auth secret (base64url) for seeded devices.
    Keys,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Sink(args) => runtime.block_on(sink::run(args)),
        Command::Seed(args) => runtime.block_on(seed::run(args)),
        Command::Wire(args) => runtime.block_on(wire::run(args)),
        Command::Encrypt(args) => wire::encrypt(args),
        Command::Store(args) => runtime.block_on(store::run(args)),
        Command::Keys => {
            let (private_key, p256dh, auth) = seed::device_keys();
            println!("{}", serde_json::json!({"private_key": private_key, "p256dh": p256dh, "auth": auth}));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base64url key or secret begins with '-' once in 64 draws; it must still be read as the value.
    #[test]
    fn keys_beginning_with_a_hyphen_are_values_not_flags() {
        let sink = Cli::try_parse_from(["milkflow-bench", "sink", "--ua-private-key", "-k", "--auth", "-a"]);
        assert!(sink.is_ok(), "{:?}", sink.err());
        for tool in ["seed", "wire", "encrypt"] {
            let mut argv = vec!["milkflow-bench", tool, "--p256dh", "-p", "--auth", "-a"];
            if tool == "seed" {
                argv.extend(["--database-url", "sqlite::memory:", "--endpoint", "http://127.0.0.1:1/push"]);
            } else if tool == "wire" {
                argv.extend(["--endpoint", "http://127.0.0.1:1/push"]);
            }
            let parsed = Cli::try_parse_from(&argv);
            assert!(parsed.is_ok(), "{tool}: {:?}", parsed.err());
        }
    }
}
