use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Emails {
    Table,
    Id,
    UserId,
    ToAddress,
    Template,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LeasedBy,
    LastError,
    CreatedAt,
    UpdatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVerifiedAt,
}

#[derive(DeriveIden)]
enum EmailTokens {
    Table,
    Id,
    UserId,
    Purpose,
    Email,
    TokenHash,
    CodeHash,
    Attempts,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

/// The outbox of emails: each is queued in the transaction that makes what it carries (a token, say) and sent
/// by the scheduler, with the claim, lease and retries of push deliveries. Beside it, the single-use secrets
/// emails carry (kept only as hashes), and when an account's address was verified.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table(Emails::Table)
            .col(ColumnDef::new(Emails::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(Emails::UserId).uuid().null())
            .col(ColumnDef::new(Emails::ToAddress).string_len(320).not_null())
            .col(ColumnDef::new(Emails::Template).string_len(32).not_null())
            .col(ColumnDef::new(Emails::Payload).text().not_null())
            .col(ColumnDef::new(Emails::Status).string_len(32).not_null())
            .col(ColumnDef::new(Emails::Attempts).integer().not_null().default(0))
            .col(ColumnDef::new(Emails::NextAttemptAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(Emails::LeaseUntil).timestamp_with_time_zone().null())
            .col(ColumnDef::new(Emails::LeasedBy).string_len(128).null())
            .col(ColumnDef::new(Emails::LastError).text().null())
            .col(ColumnDef::new(Emails::CreatedAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(Emails::UpdatedAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(Emails::SentAt).timestamp_with_time_zone().null())
            .foreign_key(
                ForeignKey::create()
                    .from(Emails::Table, Emails::UserId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned();
        manager.create_table(table).await?;
        let verified = ColumnDef::new(Users::EmailVerifiedAt).timestamp_with_time_zone().null().to_owned();
        manager.alter_table(Table::alter().table(Users::Table).add_column(verified).to_owned()).await?;
        let tokens = Table::create()
            .table(EmailTokens::Table)
            .col(ColumnDef::new(EmailTokens::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(EmailTokens::UserId).uuid().not_null())
            .col(ColumnDef::new(EmailTokens::Purpose).string_len(32).not_null())
            .col(ColumnDef::new(EmailTokens::Email).string_len(320).not_null())
            .col(ColumnDef::new(EmailTokens::TokenHash).string_len(64).not_null().unique_key())
            .col(ColumnDef::new(EmailTokens::CodeHash).string_len(64).null())
            .col(ColumnDef::new(EmailTokens::Attempts).integer().not_null().default(0))
            .col(ColumnDef::new(EmailTokens::ExpiresAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(EmailTokens::UsedAt).timestamp_with_time_zone().null())
            .col(ColumnDef::new(EmailTokens::CreatedAt).timestamp_with_time_zone().not_null())
            .foreign_key(
                ForeignKey::create()
                    .from(EmailTokens::Table, EmailTokens::UserId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned();
        manager.create_table(tokens).await?;
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX idx_email_tokens_user ON email_tokens (user_id, purpose)").await?;
        db.execute_unprepared(
            "CREATE INDEX idx_emails_waiting ON emails (next_attempt_at) WHERE status IN ('pending', 'retrying')",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX idx_emails_user ON emails (user_id)").await?;
        if db.get_database_backend() == DbBackend::Postgres {
            for check in [
                "status IN ('pending', 'retrying', 'sent', 'failed')",
                "template IN ('verify_email', 'signup_attempt')",
                "attempts >= 0",
            ] {
                db.execute_unprepared(&format!("ALTER TABLE emails ADD CHECK ({check})")).await?;
            }
            for check in ["purpose IN ('verify_email', 'password_reset', 'change_email')", "attempts >= 0"] {
                db.execute_unprepared(&format!("ALTER TABLE email_tokens ADD CHECK ({check})")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(EmailTokens::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Emails::Table).to_owned()).await?;
        let column = Table::alter().table(Users::Table).drop_column(Users::EmailVerifiedAt).to_owned();
        manager.alter_table(column).await
    }
}
