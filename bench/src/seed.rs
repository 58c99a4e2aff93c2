//! Seeds a database (migrated first) with users, one Web Push device each and routines that all fire at one
//! minute: the routines are planned by the scheduler's own planning, so the occurrences are the real ones.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, DurationRound, Utc};
use domain::{Email, Role, TimeZoneName};
use entity::{device, user};
use platform::DatabaseKind;
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};
use store::accounts::new_user;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    #[arg(long, default_value_t = 10)]
    routines_per_user: usize,
    /// The sink's base URL: each device's endpoint is `{endpoint}/{device}`.
    #[arg(long)]
    endpoint: String,
    #[command(flatten)]
    keys: crate::DeviceKeys,
    /// Every n-th device is gone (its endpoint starts with `gone-`); 0 for none.
    #[arg(long, default_value_t = 0)]
    gone_every: usize,
    /// The routines fire at the first whole minute at least this many seconds from now.
    #[arg(long, default_value_t = 30)]
    lead_s: i64,
    /// Fire half a day away instead (storage scale: nothing becomes due while measuring).
    #[arg(long)]
    far: bool,
    /// Spread the occurrences evenly over this many seconds from the minute instead (steady load); 0: all at it.
    #[arg(long, default_value_t = 0)]
    spread_s: i64,
}

/// Users per transaction.
const CHUNK: usize = 500;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let kind = DatabaseKind::from_url(&args.database_url).map_err(|e| anyhow::anyhow!("--database-url {e}"))?;
    store::db::migrate(&args.database_url, kind).await?;
    let db = store::db::connect(&args.database_url, kind, 4).await?;
    let now = Utc::now();
    let lead = if args.far { Duration::hours(12) } else { Duration::seconds(args.lead_s) };
    let slot: DateTime<Utc> = (now + lead + Duration::seconds(59)).duration_trunc(Duration::minutes(1))?;
    let routine = domain::routine::Routine::parse(&serde_json::json!({
        "name": "Burst", "kind": "pump", "schedule": {"type": "times", "times": [slot.format("%H:%M").to_string()]}
    }))
    .map_err(|e| anyhow::anyhow!("routine: {e:?}"))?;
    let (mut planned, mut devices) = (0usize, 0usize);
    for first in (0..args.users).step_by(CHUNK) {
        let txn = db.begin().await?;
        let (mut users, mut phones, mut routines) = (Vec::new(), Vec::new(), Vec::new());
        for n in first..(first + CHUNK).min(args.users) {
            let id = Uuid::now_v7();
            let mut account = account(id, now)?;
            account.change_seq = Set(args.routines_per_user as i64);
            users.push(account);
            let gone = args.gone_every > 0 && n % args.gone_every == 0;
            let name = format!("{}{}", if gone { "gone-" } else { "" }, id.simple());
            phones.push(device::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(id),
                platform: Set(domain::reminders::Platform::Web),
                target: Set(format!("{}/{name}", args.endpoint.trim_end_matches('/'))),
                p256dh: Set(Some(args.keys.p256dh.clone())),
                auth: Set(Some(args.keys.auth.clone())),
                name: Set(None),
                locale: Set("en".into()),
                created_at: Set(now),
                updated_at: Set(now),
                last_success_at: Set(None),
            });
            for seq in 1..=args.routines_per_user {
                let body = domain::RecordBody::Routine(routine.clone());
                routines.push(::store::records::Record::new(Uuid::now_v7(), id, body, seq as i64, now));
            }
        }
        devices += phones.len();
        user::Entity::insert_many(users).exec(&txn).await?;
        device::Entity::insert_many(phones).exec(&txn).await?;
        ::store::records::insert_stored(&txn, &routines).await?;
        let next = ::store::planning::replan_many(&txn, &routines, |_| slot - Duration::seconds(1), now).await?;
        planned += next.values().filter(|due| **due == slot).count();
        if args.spread_s > 0 {
            let total = (args.users * args.routines_per_user) as i64;
            for (k, r) in routines.iter().enumerate() {
                let n = (first * args.routines_per_user + k) as i64;
                spread(&txn, r.id, slot + Duration::milliseconds(n * args.spread_s * 1000 / total)).await?;
            }
        }
        txn.commit().await?;
        if (first / CHUNK) % 20 == 19 {
            analyze(&db).await?;
        }
    }
    analyze(&db).await?;
    db.close().await?;
    println!(
        "{}",
        serde_json::json!({
            "due_at": slot.to_rfc3339(), "due_at_ms": slot.timestamp_millis(), "users": args.users,
            "devices": devices, "routines": args.users * args.routines_per_user, "occurrences": planned,
            "seeded_in_s": (Utc::now() - now).num_milliseconds() as f64 / 1000.0,
        })
    );
    Ok(())
}

/// Moves routine `id`'s planned occurrence to `due`.
async fn spread(txn: &impl sea_orm::ConnectionTrait, id: Uuid, due: DateTime<Utc>) -> anyhow::Result<()> {
    use entity::occurrence;
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    occurrence::Entity::update_many()
        .col_expr(occurrence::Column::DueAt, Expr::value(due))
        .filter(occurrence::Column::RoutineId.eq(id))
        .filter(occurrence::Column::State.eq(domain::reminders::OccurrenceState::Planned))
        .exec(txn)
        .await?;
    Ok(())
}

/// A user `id` of the benchmarks, who cannot log in.
pub fn account(id: Uuid, now: DateTime<Utc>) -> anyhow::Result<user::ActiveModel> {
    let email = Email::parse(&format!("bench-{}@example.org", id.simple())).map_err(anyhow::Error::msg)?;
    // Not a hash: nobody logs in as a benchmark user.
    let mut account = new_user(email, "!".into(), TimeZoneName::default(), Role::User, now);
    account.id = Set(id);
    Ok(account)
}

/// Statistics, as a database in service has them from autovacuum: without them PostgreSQL plans the claim
/// and planning queries for the nearly empty tables it last saw.
async fn analyze(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}

/// A device key pair shared by every seeded device: (private scalar, uncompressed public point, auth), base64url.
pub fn device_keys() -> (String, String, String) {
    let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let auth: [u8; 16] = rand_bytes();
    (B64.encode(secret.to_bytes()), B64.encode(public.as_bytes()), B64.encode(auth))
}

fn rand_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    p256::elliptic_curve::rand_core::RngCore::fill_bytes(&mut p256::elliptic_curve::rand_core::OsRng, &mut out);
    out
}
