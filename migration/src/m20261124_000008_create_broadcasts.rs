use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A message from staff to many users, delivered through the reminders' path as one occurrence per user.
#[derive(DeriveIden)]
enum Broadcasts {
    Table,
    Id,
    Title,
    Body,
    Audience,
    SendAt,
    Targeted,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Broadcasts::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Broadcasts::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Broadcasts::Title).string_len(120).not_null())
                    .col(ColumnDef::new(Broadcasts::Body).text().not_null())
                    .col(ColumnDef::new(Broadcasts::Audience).text().not_null())
                    .col(ColumnDef::new(Broadcasts::SendAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Broadcasts::Targeted).integer().not_null())
                    .col(ColumnDef::new(Broadcasts::CreatedBy).uuid().not_null())
                    .col(ColumnDef::new(Broadcasts::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Broadcasts::Table).to_owned()).await
    }
}
