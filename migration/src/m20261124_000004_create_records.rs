use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What a user logs and plans (massage and pump sessions, symptom checks, routines), one row per record, with a
/// per-user change sequence for delta sync; deleted records stay as tombstones.
#[derive(DeriveIden)]
enum Records {
    Table,
    Id,
    UserId,
    Collection,
    SortAt,
    Side,
    PumpType,
    Data,
    Version,
    ChangeSeq,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum UsersChangeSeq {
    ChangeSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(UsersChangeSeq::ChangeSeq).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Records::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Records::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Records::UserId).uuid().not_null())
                    .col(ColumnDef::new(Records::Collection).string_len(32).not_null())
                    .col(ColumnDef::new(Records::SortAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Records::Side).string_len(8).null())
                    .col(ColumnDef::new(Records::PumpType).string_len(16).null())
                    .col(ColumnDef::new(Records::Data).text().not_null())
                    .col(ColumnDef::new(Records::Version).big_integer().not_null())
                    .col(ColumnDef::new(Records::ChangeSeq).big_integer().not_null())
                    .col(ColumnDef::new(Records::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Records::UpdatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Records::DeletedAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_records_user")
                            .from(Records::Table, Records::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_records_listing")
                    .table(Records::Table)
                    .col(Records::UserId)
                    .col(Records::Collection)
                    .col(Records::SortAt)
                    .col(Records::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_records_sync")
                    .table(Records::Table)
                    .col(Records::UserId)
                    .col(Records::ChangeSeq)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Records::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(UsersChangeSeq::ChangeSeq).to_owned()).await
    }
}
