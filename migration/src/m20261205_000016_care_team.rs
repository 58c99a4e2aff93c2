use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CareInvitations {
    Table,
    Id,
    OwnerId,
    Role,
    Scopes,
    Note,
    GrantExpiresAt,
    CodeHash,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CareGrants {
    Table,
    Id,
    OwnerId,
    MemberId,
    Role,
    Note,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum CareGrantScopes {
    Table,
    GrantId,
    Scope,
}

#[derive(DeriveIden)]
enum CareAccessLog {
    Table,
    Id,
    GrantId,
    OwnerId,
    MemberId,
    Resource,
    At,
}

fn cascade(from: (impl IntoIden, impl IntoIden), to: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).to_owned()
}

/// Care-team sharing: invitations (codes kept hashed), grants from an owner to a member with their scopes (one
/// row each, so a read can check its scope in its own query), and every read a member made.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let invitations = Table::create()
            .table(CareInvitations::Table)
            .col(ColumnDef::new(CareInvitations::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(CareInvitations::OwnerId).uuid().not_null())
            .col(ColumnDef::new(CareInvitations::Role).string_len(32).not_null())
            .col(ColumnDef::new(CareInvitations::Scopes).string_len(512).not_null())
            .col(ColumnDef::new(CareInvitations::Note).string_len(500).null())
            .col(ColumnDef::new(CareInvitations::GrantExpiresAt).timestamp_with_time_zone().null())
            .col(ColumnDef::new(CareInvitations::CodeHash).string_len(64).not_null().unique_key())
            .col(ColumnDef::new(CareInvitations::ExpiresAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(CareInvitations::AcceptedAt).timestamp_with_time_zone().null())
            .col(ColumnDef::new(CareInvitations::AcceptedBy).uuid().null())
            .col(ColumnDef::new(CareInvitations::CreatedAt).timestamp_with_time_zone().not_null())
            .foreign_key(&mut cascade((CareInvitations::Table, CareInvitations::OwnerId), (Users::Table, Users::Id)))
            .to_owned();
        manager.create_table(invitations).await?;
        let grants = Table::create()
            .table(CareGrants::Table)
            .col(ColumnDef::new(CareGrants::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(CareGrants::OwnerId).uuid().not_null())
            .col(ColumnDef::new(CareGrants::MemberId).uuid().not_null())
            .col(ColumnDef::new(CareGrants::Role).string_len(32).not_null())
            .col(ColumnDef::new(CareGrants::Note).string_len(500).null())
            .col(ColumnDef::new(CareGrants::ExpiresAt).timestamp_with_time_zone().null())
            .col(ColumnDef::new(CareGrants::CreatedAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(CareGrants::UpdatedAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(CareGrants::RevokedAt).timestamp_with_time_zone().null())
            .foreign_key(&mut cascade((CareGrants::Table, CareGrants::OwnerId), (Users::Table, Users::Id)))
            .foreign_key(&mut cascade((CareGrants::Table, CareGrants::MemberId), (Users::Table, Users::Id)))
            .to_owned();
        manager.create_table(grants).await?;
        let scopes = Table::create()
            .table(CareGrantScopes::Table)
            .col(ColumnDef::new(CareGrantScopes::GrantId).uuid().not_null())
            .col(ColumnDef::new(CareGrantScopes::Scope).string_len(32).not_null())
            .primary_key(Index::create().col(CareGrantScopes::GrantId).col(CareGrantScopes::Scope))
            .foreign_key(&mut cascade(
                (CareGrantScopes::Table, CareGrantScopes::GrantId),
                (CareGrants::Table, CareGrants::Id),
            ))
            .to_owned();
        manager.create_table(scopes).await?;
        let log = Table::create()
            .table(CareAccessLog::Table)
            .col(ColumnDef::new(CareAccessLog::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(CareAccessLog::GrantId).uuid().not_null())
            .col(ColumnDef::new(CareAccessLog::OwnerId).uuid().not_null())
            .col(ColumnDef::new(CareAccessLog::MemberId).uuid().not_null())
            .col(ColumnDef::new(CareAccessLog::Resource).string_len(64).not_null())
            .col(ColumnDef::new(CareAccessLog::At).timestamp_with_time_zone().not_null())
            .foreign_key(&mut cascade(
                (CareAccessLog::Table, CareAccessLog::GrantId),
                (CareGrants::Table, CareGrants::Id),
            ))
            .to_owned();
        manager.create_table(log).await?;
        let db = manager.get_connection();
        for index in [
            "CREATE INDEX idx_care_invitations_owner ON care_invitations (owner_id)",
            "CREATE INDEX idx_care_grants_owner ON care_grants (owner_id, member_id)",
            "CREATE INDEX idx_care_grants_member ON care_grants (member_id)",
            "CREATE INDEX idx_care_access_log_owner ON care_access_log (owner_id, at)",
            "CREATE INDEX idx_care_access_log_grant ON care_access_log (grant_id)",
        ] {
            db.execute_unprepared(index).await?;
        }
        if db.get_database_backend() == DbBackend::Postgres {
            for (table, check) in [
                ("care_invitations", "role IN ('consultant', 'partner')"),
                ("care_grants", "role IN ('consultant', 'partner')"),
                ("care_grants", "owner_id <> member_id"),
            ] {
                db.execute_unprepared(&format!("ALTER TABLE {table} ADD CHECK ({check})")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CareAccessLog::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareGrantScopes::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareGrants::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareInvitations::Table).to_owned()).await
    }
}
