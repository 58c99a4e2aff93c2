use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Push targets: a browser subscription (web), an FCM token or an APNs token.
#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    Platform,
    Target,
    P256dh,
    Auth,
    Name,
    Locale,
    CreatedAt,
    UpdatedAt,
    LastSuccessAt,
}

/// One planned firing of a routine (or a snooze), at one instant.
#[derive(DeriveIden)]
enum Occurrences {
    Table,
    Id,
    UserId,
    RoutineId,
    Kind,
    RoutineKind,
    DueAt,
    State,
    CreatedAt,
    UpdatedAt,
}

/// One occurrence sent to one device: at most one row per pair, so a confirmed delivery is never repeated.
#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    OccurrenceId,
    DeviceId,
    UserId,
    Provider,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LeasedBy,
    DueAt,
    ExpiresAt,
    SentAt,
    LastStatus,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Devices::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Devices::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Devices::UserId).uuid().not_null())
                    .col(ColumnDef::new(Devices::Platform).string_len(8).not_null())
                    .col(ColumnDef::new(Devices::Target).text().not_null())
                    .col(ColumnDef::new(Devices::P256dh).string_len(100).null())
                    .col(ColumnDef::new(Devices::Auth).string_len(32).null())
                    .col(ColumnDef::new(Devices::Name).string_len(100).null())
                    .col(ColumnDef::new(Devices::Locale).string_len(16).not_null())
                    .col(ColumnDef::new(Devices::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Devices::UpdatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Devices::LastSuccessAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_devices_user")
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let index = |name: &str, table: &str, cols: &[&str], unique: bool| {
            let mut i = Index::create();
            i.name(name).table(Alias::new(table)).if_not_exists();
            for c in cols {
                i.col(Alias::new(*c));
            }
            if unique {
                i.unique();
            }
            i.to_owned()
        };
        manager.create_index(index("idx_devices_target", "devices", &["platform", "target"], true)).await?;
        manager.create_index(index("idx_devices_user", "devices", &["user_id"], false)).await?;
        manager
            .create_table(
                Table::create()
                    .table(Occurrences::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Occurrences::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Occurrences::UserId).uuid().not_null())
                    .col(ColumnDef::new(Occurrences::RoutineId).uuid().not_null())
                    .col(ColumnDef::new(Occurrences::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Occurrences::RoutineKind).string_len(32).not_null())
                    .col(ColumnDef::new(Occurrences::DueAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Occurrences::State).string_len(16).not_null())
                    .col(ColumnDef::new(Occurrences::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Occurrences::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_occurrences_user")
                            .from(Occurrences::Table, Occurrences::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_occurrences_due", "occurrences", &["state", "due_at"], false)).await?;
        manager.create_index(index("idx_occurrences_user_due", "occurrences", &["user_id", "due_at"], false)).await?;
        manager.create_index(index("idx_occurrences_routine", "occurrences", &["routine_id", "state"], false)).await?;
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Deliveries::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Deliveries::OccurrenceId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::DeviceId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::UserId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::Provider).string_len(8).not_null())
                    .col(ColumnDef::new(Deliveries::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Deliveries::Attempts).integer().not_null())
                    .col(ColumnDef::new(Deliveries::NextAttemptAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Deliveries::LeaseUntil).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Deliveries::LeasedBy).string_len(64).null())
                    .col(ColumnDef::new(Deliveries::DueAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Deliveries::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Deliveries::SentAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Deliveries::LastStatus).integer().null())
                    .col(ColumnDef::new(Deliveries::LastError).text().null())
                    .col(ColumnDef::new(Deliveries::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Deliveries::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_occurrence")
                            .from(Deliveries::Table, Deliveries::OccurrenceId)
                            .to(Occurrences::Table, Occurrences::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_user")
                            .from(Deliveries::Table, Deliveries::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_deliveries_pair", "deliveries", &["occurrence_id", "device_id"], true)).await?;
        manager.create_index(index("idx_deliveries_due", "deliveries", &["status", "next_attempt_at"], false)).await?;
        manager.create_index(index("idx_deliveries_user", "deliveries", &["user_id"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["deliveries", "occurrences", "devices"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
