use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Occurrences {
    Table,
    ClientId,
}

#[derive(DeriveIden)]
enum CareAlerts {
    Table,
    Id,
    OwnerId,
    MemberId,
    AdvisoryKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CareAlertCursors {
    Table,
    OwnerId,
    ChangeSeq,
}

/// What PostgreSQL now checks of occurrences: each came from exactly one of a routine, a broadcast or a care
/// alert about a client, and care alerts are a kind and a topic of their own.
const CHECKS: [&str; 5] = [
    "(routine_id IS NOT NULL)::int + (broadcast_id IS NOT NULL)::int + (client_id IS NOT NULL)::int = 1",
    "(routine_kind = 'broadcast') = (broadcast_id IS NOT NULL)",
    "(routine_kind = 'care_alert') = (client_id IS NOT NULL)",
    "kind IN ('routine', 'snooze', 'broadcast', 'care_alert')",
    "routine_kind IN ('massage', 'pump', 'massage_then_pump', 'broadcast', 'care_alert')",
];

/// Care alerts: when a red flag becomes active for an owner, each member with `advisories:notify` gets one
/// occurrence (a push naming no symptom), once per advisory (`care_alerts` remembers which were sent); the
/// owners' change numbers last evaluated spare the owners that changed nothing.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(Occurrences::ClientId).uuid().null().to_owned();
        manager.alter_table(Table::alter().table(Occurrences::Table).add_column(column).to_owned()).await?;
        let alerts = Table::create()
            .table(CareAlerts::Table)
            .col(ColumnDef::new(CareAlerts::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(CareAlerts::OwnerId).uuid().not_null())
            .col(ColumnDef::new(CareAlerts::MemberId).uuid().not_null())
            .col(ColumnDef::new(CareAlerts::AdvisoryKey).string_len(200).not_null())
            .col(ColumnDef::new(CareAlerts::CreatedAt).timestamp_with_time_zone().not_null())
            .foreign_key(
                ForeignKey::create()
                    .from(CareAlerts::Table, CareAlerts::OwnerId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(CareAlerts::Table, CareAlerts::MemberId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned();
        manager.create_table(alerts).await?;
        let cursors = Table::create()
            .table(CareAlertCursors::Table)
            .col(ColumnDef::new(CareAlertCursors::OwnerId).uuid().not_null().primary_key())
            .col(ColumnDef::new(CareAlertCursors::ChangeSeq).big_integer().not_null())
            .foreign_key(
                ForeignKey::create()
                    .from(CareAlertCursors::Table, CareAlertCursors::OwnerId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned();
        manager.create_table(cursors).await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_care_alerts_once ON care_alerts (owner_id, member_id, advisory_key)",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX idx_care_alerts_member ON care_alerts (member_id)").await?;
        db.execute_unprepared("CREATE INDEX idx_occurrences_client ON occurrences (client_id)").await?;
        if db.get_database_backend() == DbBackend::Postgres {
            // The checks these replace were added unnamed: found by what they check.
            let found = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'occurrences'::regclass AND contype = 'c' \
                     AND (pg_get_constraintdef(oid) LIKE '%broadcast_id%' OR pg_get_constraintdef(oid) LIKE '%kind%')",
                ))
                .await?;
            for row in found {
                let name: String = row.try_get_by_index(0)?;
                db.execute_unprepared(&format!("ALTER TABLE occurrences DROP CONSTRAINT \"{name}\"")).await?;
            }
            for check in CHECKS {
                db.execute_unprepared(&format!("ALTER TABLE occurrences ADD CHECK ({check})")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("care alerts' occurrences cannot be folded into routines or broadcasts".into()))
    }
}
