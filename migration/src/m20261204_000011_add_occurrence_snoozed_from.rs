//! A re-reminder names the occurrence it snoozes, and each occurrence has at most one pending re-reminder:
//! snoozing again moves it instead of adding another.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Occurrences {
    Table,
    SnoozedFrom,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Occurrences::Table)
                    .add_column(ColumnDef::new(Occurrences::SnoozedFrom).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_occurrences_one_pending_snooze ON occurrences (snoozed_from) \
                 WHERE snoozed_from IS NOT NULL AND state = 'planned'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS idx_occurrences_one_pending_snooze").await?;
        manager
            .alter_table(Table::alter().table(Occurrences::Table).drop_column(Occurrences::SnoozedFrom).to_owned())
            .await
    }
}
