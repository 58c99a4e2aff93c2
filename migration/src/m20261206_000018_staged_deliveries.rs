//! Staging (issue 23): deliveries made ahead of their due time keep the body they will post (`payload`: the
//! encrypted Web Push body, or the FCM/APNs message), wait in the new status `staged`, and their occurrence
//! in the new state `staged`. The claim index now takes staged rows too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Payload,
}

/// The claimable states, written literally so both databases can match the claim to the index.
pub const CLAIMABLE: &str = "status IN ('pending', 'retrying', 'staged')";

/// The stored names PostgreSQL now checks, by table and by the column the old check named.
const CHECKS: [(&str, &str, &str); 2] = [
    ("occurrences", "state", "state IN ('planned', 'staged', 'sent', 'missed', 'done', 'snoozed', 'cancelled')"),
    ("deliveries", "status", "status IN ('pending', 'retrying', 'staged', 'delivered', 'failed', 'pruned', 'expired')"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(Deliveries::Payload).blob().null().to_owned();
        manager.alter_table(Table::alter().table(Deliveries::Table).add_column(column).to_owned()).await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_deliveries_claim").await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX idx_deliveries_claim ON deliveries (next_attempt_at) WHERE {CLAIMABLE}"
        ))
        .await?;
        // Un-staging looks for an account's staged occurrences, and for staged deliveries to its devices.
        db.execute_unprepared("CREATE INDEX idx_occurrences_staged ON occurrences (user_id) WHERE state = 'staged'")
            .await?;
        db.execute_unprepared("CREATE INDEX idx_deliveries_staged ON deliveries (user_id) WHERE status = 'staged'")
            .await?;
        if db.get_database_backend() == DbBackend::Postgres {
            for (table, column, check) in CHECKS {
                // The checks these replace were added unnamed: found by what they check.
                let found = db
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!(
                            "SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = 'c' \
                             AND (pg_get_constraintdef(oid) LIKE '%({column})::text = ANY%' \
                             OR pg_get_constraintdef(oid) LIKE '%({column} = ANY%')"
                        ),
                    ))
                    .await?;
                for row in found {
                    let name: String = row.try_get_by_index(0)?;
                    db.execute_unprepared(&format!("ALTER TABLE {table} DROP CONSTRAINT \"{name}\"")).await?;
                }
                db.execute_unprepared(&format!("ALTER TABLE {table} ADD CHECK ({check})")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("staged deliveries cannot be told apart from pending ones once unstaged".into()))
    }
}
