//! Figures computed by the database: a user's pumping and massage per local day, pumping with and without
//! massage, and the admin usage figures. Only sums and counts leave the database, never whole histories.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

pub use domain::insights::DayTotals;

use crate::care::Reader;

/// SQL with its values, written with the placeholders of `backend`.
struct Sql {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DbBackend) -> Self {
        Self { backend, values: Vec::new() }
    }

    /// A placeholder for `value`; `cast` names its type for PostgreSQL.
    fn bind(&mut self, value: impl Into<Value>, cast: &str) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}::{cast}", self.values.len()),
            _ => "?".into(),
        }
    }

    /// What a member's read adds to its `WHERE` or `ON`: a live grant from the owner with the scope
    /// (see `care::Reader`); nothing for the owner's own read.
    fn grant(&mut self, reader: &Reader) -> String {
        let Reader::Member { owner, member, scope, now } = *reader else { return String::new() };
        let (owner, member) = (self.bind(owner, "uuid"), self.bind(member, "uuid"));
        let now = self.bind(now, "timestamptz");
        let scope = self.bind(scope.as_str(), "text");
        format!(
            " AND EXISTS (SELECT 1 FROM care_grants g JOIN care_grant_scopes s ON s.grant_id = g.id \
             WHERE g.owner_id = {owner} AND g.member_id = {member} AND g.revoked_at IS NULL \
             AND (g.expires_at IS NULL OR g.expires_at > {now}) AND s.scope = {scope})"
        )
    }

    fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

/// The totals of the owner `reader` reads for each local day, given as `(date, start, end)` in UTC (days of 23
/// or 25 hours as the zone has them); sessions count on the day they started. A member's read counts nothing
/// unless a live grant allows it (checked in the same query).
pub async fn daily_totals(
    db: &impl ConnectionTrait,
    reader: Reader,
    days: &[(NaiveDate, DateTime<Utc>, DateTime<Utc>)],
) -> Result<BTreeMap<NaiveDate, DayTotals>, DbErr> {
    let mut totals: BTreeMap<NaiveDate, DayTotals> = days.iter().map(|(d, _, _)| (*d, DayTotals::default())).collect();
    if days.is_empty() {
        return Ok(totals);
    }
    let mut sql = Sql::new(db.get_database_backend());
    let rows: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, (_, start, end))| {
            let i = sql.bind(i as i32, "integer");
            format!("({i}, {}, {})", sql.bind(*start, "timestamptz"), sql.bind(*end, "timestamptz"))
        })
        .collect();
    // (SQLite's `?` takes values in order, so each use of a value binds it again, in the order of the text.)
    let pump_owner = sql.bind(reader.owner(), "uuid");
    let pump_grant = sql.grant(&reader);
    let massage_owner = sql.bind(reader.owner(), "uuid");
    let massage_grant = sql.grant(&reader);
    let query = format!(
        "WITH days (n, day_start, day_end) AS (VALUES {rows}) \
         SELECT days.n, 'pump', COUNT(*), SUM(p.volume_left_ml), SUM(p.volume_right_ml) FROM days \
         JOIN pump_sessions p ON p.user_id = {pump_owner} AND p.deleted_at IS NULL \
           AND p.started_at >= days.day_start AND p.started_at < days.day_end{pump_grant} GROUP BY days.n \
         UNION ALL \
         SELECT days.n, 'massage', COUNT(*), 0.0, 0.0 FROM days \
         JOIN massage_sessions m ON m.user_id = {massage_owner} AND m.deleted_at IS NULL \
           AND m.started_at >= days.day_start AND m.started_at < days.day_end{massage_grant} GROUP BY days.n",
        rows = rows.join(", "),
    );
    for row in db.query_all_raw(sql.statement(query)).await? {
        let n: i32 = row.try_get_by_index(0)?;
        let what: String = row.try_get_by_index(1)?;
        let count: i64 = row.try_get_by_index(2)?;
        let Some((date, _, _)) = days.get(n as usize) else { continue };
        let day = totals.entry(*date).or_default();
        if what == "pump" {
            day.pump_sessions = count as u32;
            day.volume_left_ml = row.try_get_by_index::<Option<f64>>(3)?.unwrap_or(0.0);
            day.volume_right_ml = row.try_get_by_index::<Option<f64>>(4)?.unwrap_or(0.0);
        } else {
            day.massage_sessions = count as u32;
        }
    }
    Ok(totals)
}

/// The pump sessions of the owner `reader` reads started in `[from, to)`: count and average total volume, with
/// massage and without (none for a member without a live grant).
pub async fn massage_effect_totals(
    db: &impl ConnectionTrait,
    reader: Reader,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<((u32, Option<f64>), (u32, Option<f64>)), DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    let query = format!(
        "SELECT CASE WHEN massage_before OR massage_during THEN 1 ELSE 0 END AS with_massage, COUNT(*), \
         AVG(volume_left_ml + volume_right_ml) FROM pump_sessions \
         WHERE user_id = {} AND deleted_at IS NULL AND started_at >= {} AND started_at < {}{} GROUP BY 1",
        sql.bind(reader.owner(), "uuid"),
        sql.bind(from, "timestamptz"),
        sql.bind(to, "timestamptz"),
        sql.grant(&reader),
    );
    let (mut with, mut without) = ((0, None), (0, None));
    for row in db.query_all_raw(sql.statement(query)).await? {
        let group = (row.try_get_by_index::<i64>(1)? as u32, row.try_get_by_index::<Option<f64>>(2)?);
        if row.try_get_by_index::<i32>(0)? == 1 { with = group } else { without = group }
    }
    Ok((with, without))
}

/// The accounts that changed a record since `since`.
pub async fn writers_since(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<HashSet<Uuid>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    let parts: Vec<String> = domain::RecordKind::ALL
        .iter()
        .map(|kind| {
            format!("SELECT user_id FROM {} WHERE updated_at >= {}", kind.name(), sql.bind(since, "timestamptz"))
        })
        .collect();
    let rows = db.query_all_raw(sql.statement(parts.join(" UNION "))).await?;
    rows.iter().map(|row| row.try_get_by_index::<Uuid>(0)).collect()
}

/// Sessions and checks created since `since`, by UTC date.
pub async fn sessions_created_per_day(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<BTreeMap<NaiveDate, u64>, DbErr> {
    let backend = db.get_database_backend();
    // SQLite keeps instants as RFC 3339 text in UTC, whose first ten characters are the date.
    let day = match backend {
        DbBackend::Postgres => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        _ => "substr(created_at, 1, 10)",
    };
    let mut sql = Sql::new(backend);
    let parts: Vec<String> = ["massage_sessions", "pump_sessions", "symptom_checks"]
        .iter()
        .map(|table| format!("SELECT {day} AS day FROM {table} WHERE created_at >= {}", sql.bind(since, "timestamptz")))
        .collect();
    let query = format!("SELECT day, COUNT(*) FROM ({}) AS created GROUP BY day", parts.join(" UNION ALL "));
    let mut per_day = BTreeMap::new();
    for row in db.query_all_raw(sql.statement(query)).await? {
        let (day, count): (String, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        if let Ok(date) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") {
            per_day.insert(date, count as u64);
        }
    }
    Ok(per_day)
}
