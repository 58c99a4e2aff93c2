use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Occurrences {
    Table,
    RoutineId,
    BroadcastId,
}

/// An occurrence names what it came from in its own column: `routine_id` for a routine's firing (and its
/// snoozes), `broadcast_id` for a broadcast's (and its snoozes), split out of `routine_id`, which held either. On
/// PostgreSQL the stored names of states, kinds, statuses and platforms are also checked.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // SQLite cannot make a column nullable in place: the old one is renamed, its values copied into the
        // new ones, and then dropped (which needs its index gone first).
        db.execute_unprepared("DROP INDEX IF EXISTS idx_occurrences_routine").await?;
        db.execute_unprepared("ALTER TABLE occurrences RENAME COLUMN routine_id TO came_from").await?;
        for column in [Occurrences::RoutineId, Occurrences::BroadcastId] {
            let add =
                Table::alter().table(Occurrences::Table).add_column(ColumnDef::new(column).uuid().null()).to_owned();
            manager.alter_table(add).await?;
        }
        db.execute_unprepared("UPDATE occurrences SET routine_id = came_from WHERE routine_kind <> 'broadcast'")
            .await?;
        db.execute_unprepared("UPDATE occurrences SET broadcast_id = came_from WHERE routine_kind = 'broadcast'")
            .await?;
        db.execute_unprepared("ALTER TABLE occurrences DROP COLUMN came_from").await?;
        db.execute_unprepared("CREATE INDEX idx_occurrences_routine ON occurrences (routine_id, state)").await?;
        db.execute_unprepared("CREATE INDEX idx_occurrences_broadcast ON occurrences (broadcast_id)").await?;
        if db.get_database_backend() == DbBackend::Postgres {
            for (table, check) in CHECKS {
                db.execute_unprepared(&format!("ALTER TABLE {table} ADD CHECK ({check})")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("an occurrence's routine and broadcast ids cannot be folded back into one".into()))
    }
}

/// What PostgreSQL checks of every row from now on (SQLite cannot add a check to a table it has).
const CHECKS: [(&str, &str); 8] = [
    ("occurrences", "(routine_id IS NULL) <> (broadcast_id IS NULL)"),
    ("occurrences", "(routine_kind = 'broadcast') = (broadcast_id IS NOT NULL)"),
    ("occurrences", "kind IN ('routine', 'snooze', 'broadcast')"),
    ("occurrences", "routine_kind IN ('massage', 'pump', 'massage_then_pump', 'broadcast')"),
    ("occurrences", "state IN ('planned', 'sent', 'missed', 'done', 'snoozed', 'cancelled')"),
    ("deliveries", "status IN ('pending', 'retrying', 'delivered', 'failed', 'pruned', 'expired')"),
    ("deliveries", "provider IN ('web', 'fcm', 'apns')"),
    ("devices", "platform IN ('web', 'fcm', 'apns')"),
];
