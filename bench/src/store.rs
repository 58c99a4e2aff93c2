//! The data-layer limit: the API's own record services (`records::put`, `records::list`) called straight on a
//! pool like the API's, at the load generator's concurrency, with no HTTP, token check or JSON rendering. The
//! API's rates are reported as a share of this one, so a table tells the cost of the data layer apart from
//! the cost of everything around it.

use ::store::records::{self, Collection, ListQuery};
use ::store::writes::Writes;
use chrono::{Duration, Utc};
use entity::user;
use platform::DatabaseKind;
use sea_orm::{ActiveModelTrait, DatabaseConnection};
use std::time::Instant;
use uuid::Uuid;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Scenario {
    /// A new pump session of one user per call.
    Put,
    /// One user's newest 50 pump sessions (of 60).
    List,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Callers side by side (wrk's connections).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// The pool's size (the API's default).
    #[arg(long, default_value_t = 10)]
    max_connections: u32,
}

/// The user's sessions before a list is measured: more than a page.
const SEEDED: usize = 60;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let kind = DatabaseKind::from_url(&args.database_url).map_err(|e| anyhow::anyhow!("--database-url {e}"))?;
    store::db::migrate(&args.database_url, kind).await?;
    let db = store::db::connect(&args.database_url, kind, args.max_connections).await?;
    let user_id = new_account(&db).await?;
    let writes = Writes::start(db.clone(), Default::default()).await?;
    if matches!(args.scenario, Scenario::List) {
        for _ in 0..SEEDED {
            put(&writes, user_id).await?;
        }
    }
    let deadline = Instant::now() + std::time::Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let callers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (db, writes) = (db.clone(), writes.clone());
            tokio::spawn(async move {
                let mut latencies_us = Vec::new();
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    match args.scenario {
                        Scenario::Put => put(&writes, user_id).await?,
                        Scenario::List => list(&db, user_id).await?,
                    }
                    latencies_us.push(t0.elapsed().as_micros() as u64);
                }
                anyhow::Ok(latencies_us)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    for caller in callers {
        latencies_us.extend(caller.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    db.close().await?;
    anyhow::ensure!(!latencies_us.is_empty(), "no call finished in {seconds:.1} s");
    latencies_us.sort_unstable();
    let at = |p: f64| latencies_us[((latencies_us.len() as f64 * p) as usize).min(latencies_us.len() - 1)];
    let (p50, p99) = (at(0.50), at(0.99));
    println!(
        "{}",
        serde_json::json!({
            "calls": latencies_us.len(), "seconds": seconds, "rps": latencies_us.len() as f64 / seconds,
            "p50_ms": p50 as f64 / 1000.0, "p99_ms": p99 as f64 / 1000.0,
        })
    );
    Ok(())
}

async fn new_account(db: &DatabaseConnection) -> anyhow::Result<Uuid> {
    let account: user::Model = crate::seed::account(Uuid::now_v7(), Utc::now())?.insert(db).await?;
    Ok(account.id)
}

/// What `bench/run.py` PUTs: a pump session of an hour ago.
async fn put(writes: &Writes, user_id: Uuid) -> anyhow::Result<()> {
    let now = Utc::now();
    let body = serde_json::json!({
        "started_at": (now - Duration::minutes(60)).to_rfc3339(), "ended_at": (now - Duration::minutes(40)).to_rfc3339(),
        "volume_left_ml": 60, "volume_right_ml": 45, "pump_type": "electric", "mode": "double", "massage_before": true,
    });
    let (_, created) = records::put(writes, user_id, Collection::PumpSessions, Uuid::new_v4(), &body, None, now)
        .await
        .map_err(|e| anyhow::anyhow!("put: {e:?}"))?;
    anyhow::ensure!(created, "a new id replaced a record");
    Ok(())
}

async fn list(db: &DatabaseConnection, user_id: Uuid) -> anyhow::Result<()> {
    let query = ListQuery { limit: 50, ..Default::default() };
    let (page, more) = records::list(db, store::care::Reader::Owner(user_id), Collection::PumpSessions, &query)
        .await
        .map_err(|e| anyhow::anyhow!("list: {e:?}"))?;
    anyhow::ensure!(page.len() == 50 && more, "a page of {} (more: {more}) of the account's {SEEDED}", page.len());
    Ok(())
}
