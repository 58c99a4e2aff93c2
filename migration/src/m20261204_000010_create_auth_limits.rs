//! Login and registration limits and login locks, kept where every API process sees them; and the users'
//! `failed_logins` count, which counted failures from any address (locks are now per account and address).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthLimits {
    Table,
    Key,
    Count,
    ExpiresMs,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    FailedLogins,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthLimits::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AuthLimits::Key).string_len(320).not_null().primary_key())
                    .col(
                        ColumnDef::new(AuthLimits::Count)
                            .integer()
                            .not_null()
                            .check(Expr::col(AuthLimits::Count).gte(0)),
                    )
                    .col(ColumnDef::new(AuthLimits::ExpiresMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_auth_limits_expires")
                    .table(AuthLimits::Table)
                    .col(AuthLimits::ExpiresMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::FailedLogins).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::FailedLogins).integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(AuthLimits::Table).to_owned()).await
    }
}
