//! The wire limit: reqwest alone POSTing already encrypted Web Push payloads, with their headers, to the sink
//! at the scheduler's concurrency. The scheduler's delivery rate is reported as a share of this rate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The sink's base URL: requests go to `{endpoint}/wire-{n}`.
    #[arg(long)]
    endpoint: String,
    #[arg(long, default_value_t = 100_000)]
    requests: usize,
    #[arg(long, default_value_t = scheduler::tick::SEND_CONCURRENCY)]
    concurrency: usize,
    #[command(flatten)]
    keys: crate::DeviceKeys,
}

/// Distinct encrypted payloads, sent round-robin.
const DISTINCT: usize = 1000;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let public = web_push_native::p256::PublicKey::from_sec1_bytes(&B64.decode(&args.keys.p256dh)?)?;
    let mut auth = web_push_native::Auth::default();
    auth.copy_from_slice(&B64.decode(&args.keys.auth)?);
    let payloads: Vec<Vec<u8>> = (0..DISTINCT)
        .map(|_| {
            let reminder = push::payload::reminder("pump", uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), "en", false);
            let body = serde_json::to_vec(&reminder)?;
            Ok(web_push_native::encrypt(body, &public, &auth)?)
        })
        .collect::<anyhow::Result<_>>()?;
    let payloads = Arc::new(payloads);
    // The sink does not verify signatures in counting mode; the header has the real size and shape.
    let authorization =
        format!("vapid t={}.{}.{}, k={}", "e".repeat(36), "c".repeat(120), "s".repeat(86), "k".repeat(87));
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
    let base = args.endpoint.trim_end_matches('/').to_owned();
    let started = Instant::now();
    let sends = (0..args.requests).map(|n| {
        let (client, payloads, authorization) = (client.clone(), payloads.clone(), authorization.clone());
        let url = format!("{base}/wire-{}", n % 10_000);
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("ttl", "3600")
                .header("urgency", "normal")
                .header("topic", "AAAAAAAAAAAAAAAAAAAAAA")
                .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::AUTHORIZATION, authorization)
                .body(payloads[n % DISTINCT].clone())
                .send()
                .await;
            response.is_ok_and(|r| r.status().is_success())
        })
    });
    let ok = futures_util::stream::iter(sends)
        .buffer_unordered(args.concurrency)
        .filter(|r| std::future::ready(matches!(r, Ok(true))))
        .count()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"requests": args.requests, "ok": ok, "seconds": seconds, "rps": ok as f64 / seconds})
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct EncryptArgs {
    #[arg(long, default_value_t = 100_000)]
    requests: usize,
    /// Threads encrypting side by side (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    keys: crate::DeviceKeys,
}

/// The encryption limit: the scheduler's RFC 8291 encryption alone (a fresh ephemeral key pair and ECDH
/// agreement per message, as the RFC requires) on every core, nothing sent. The wire limit leaves this work
/// out; the scheduler cannot.
pub fn encrypt(args: EncryptArgs) -> anyhow::Result<()> {
    let p256dh = B64.decode(&args.keys.p256dh)?;
    let auth: [u8; 16] =
        B64.decode(&args.keys.auth)?.try_into().map_err(|_| anyhow::anyhow!("--auth must be 16 bytes"))?;
    let reminder = push::payload::reminder("pump", uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), "en", false);
    let body = serde_json::to_vec(&reminder)?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let started = Instant::now();
    let ok: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (body, p256dh) = (&body, &p256dh);
                let share = args.requests / threads + usize::from(t < args.requests % threads);
                scope.spawn(move || (0..share).filter(|_| push::ece::encrypt(body, p256dh, &auth).is_ok()).count())
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"requests": args.requests, "ok": ok, "threads": threads, "seconds": seconds, "rps": ok as f64 / seconds})
    );
    anyhow::ensure!(ok == args.requests, "{} of {} payloads failed to encrypt", args.requests - ok, args.requests);
    Ok(())
}
