use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    TokenEpoch,
}

/// Every template the outbox may hold.
const TEMPLATES: &str = "'verify_email', 'signup_attempt', 'password_reset', 'password_changed', \
    'email_change_requested', 'confirm_new_email'";

/// The account's token epoch (access tokens carry it; a bump revokes every earlier one), and the recovery
/// emails' templates.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(Users::TokenEpoch).big_integer().not_null().default(0).to_owned();
        manager.alter_table(Table::alter().table(Users::Table).add_column(column).to_owned()).await?;
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE emails DROP CONSTRAINT emails_template_check").await?;
            db.execute_unprepared(&format!(
                "ALTER TABLE emails ADD CONSTRAINT emails_template_check CHECK (template IN ({TEMPLATES}))"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE emails DROP CONSTRAINT emails_template_check").await?;
            db.execute_unprepared(
                "ALTER TABLE emails ADD CONSTRAINT emails_template_check \
                 CHECK (template IN ('verify_email', 'signup_attempt'))",
            )
            .await?;
        }
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::TokenEpoch).to_owned()).await
    }
}
