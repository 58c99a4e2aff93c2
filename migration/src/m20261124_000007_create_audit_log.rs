use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every admin action: who, what, on which target, when, from which address. Written in the action's
/// transaction; the API never edits it.
#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    ActorId,
    Action,
    TargetType,
    TargetId,
    Detail,
    Ip,
    At,
}

#[derive(DeriveIden)]
enum UsersLockout {
    FailedLogins,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AuditLog::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(AuditLog::ActorId).uuid().not_null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::TargetType).string_len(32).not_null())
                    .col(ColumnDef::new(AuditLog::TargetId).string_len(64).null())
                    .col(ColumnDef::new(AuditLog::Detail).text().not_null())
                    .col(ColumnDef::new(AuditLog::Ip).string_len(64).null())
                    .col(ColumnDef::new(AuditLog::At).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, col) in [("idx_audit_log_at", AuditLog::At), ("idx_audit_log_actor", AuditLog::ActorId)] {
            manager
                .create_index(Index::create().name(name).table(AuditLog::Table).col(col).if_not_exists().to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(UsersLockout::FailedLogins).integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(UsersLockout::LockedUntil).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditLog::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Users::Table).drop_column(UsersLockout::LockedUntil).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(UsersLockout::FailedLogins).to_owned()).await
    }
}
