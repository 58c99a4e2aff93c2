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

#[derive(DeriveIden)]
enum CareNotes {
    Table,
    Id,
    UserId,
    Text,
    AuthorId,
    AuthorName,
    Version,
    ChangeSeq,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum RoutineSuggestions {
    Table,
    Id,
    OwnerId,
    MemberId,
    AuthorName,
    Routine,
    RoutineId,
    Status,
    CreatedAt,
    DecidedAt,
}

fn cascade(from: (impl IntoIden, impl IntoIden), to: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).to_owned()
}

/// Care-team sharing: invitations (codes kept hashed), grants from an owner to a member with their scopes (one
/// row each, so a read can check its scope in its own query), every read a member made, and the notes members
/// write (a record kind of the owner's), and the routines they suggest.
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
        // A record kind of the owner's (synced like the others): its envelope, and what the member wrote.
        let notes = Table::create()
            .table(CareNotes::Table)
            .col(ColumnDef::new(CareNotes::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(CareNotes::UserId).uuid().not_null())
            .col(ColumnDef::new(CareNotes::Text).text().null())
            .col(ColumnDef::new(CareNotes::AuthorId).uuid().null())
            .col(ColumnDef::new(CareNotes::AuthorName).string_len(320).null())
            .col(ColumnDef::new(CareNotes::Version).big_integer().not_null())
            .col(ColumnDef::new(CareNotes::ChangeSeq).big_integer().not_null())
            .col(ColumnDef::new(CareNotes::CreatedAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(CareNotes::UpdatedAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(CareNotes::DeletedAt).timestamp_with_time_zone().null())
            .foreign_key(&mut cascade((CareNotes::Table, CareNotes::UserId), (Users::Table, Users::Id)))
            .check(Expr::cust(
                "deleted_at IS NOT NULL OR (text IS NOT NULL AND author_id IS NOT NULL AND author_name IS NOT NULL)",
            ))
            .to_owned();
        manager.create_table(notes).await?;
        let suggestions = Table::create()
            .table(RoutineSuggestions::Table)
            .col(ColumnDef::new(RoutineSuggestions::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(RoutineSuggestions::OwnerId).uuid().not_null())
            .col(ColumnDef::new(RoutineSuggestions::MemberId).uuid().null())
            .col(ColumnDef::new(RoutineSuggestions::AuthorName).string_len(320).not_null())
            .col(ColumnDef::new(RoutineSuggestions::Routine).text().not_null())
            .col(ColumnDef::new(RoutineSuggestions::RoutineId).uuid().not_null())
            .col(ColumnDef::new(RoutineSuggestions::Status).string_len(32).not_null())
            .col(ColumnDef::new(RoutineSuggestions::CreatedAt).timestamp_with_time_zone().not_null())
            .col(ColumnDef::new(RoutineSuggestions::DecidedAt).timestamp_with_time_zone().null())
            .foreign_key(&mut cascade(
                (RoutineSuggestions::Table, RoutineSuggestions::OwnerId),
                (Users::Table, Users::Id),
            ))
            .foreign_key(
                ForeignKey::create()
                    .from(RoutineSuggestions::Table, RoutineSuggestions::MemberId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::SetNull),
            )
            .to_owned();
        manager.create_table(suggestions).await?;
        let db = manager.get_connection();
        for index in [
            "CREATE INDEX idx_care_invitations_owner ON care_invitations (owner_id)",
            "CREATE INDEX idx_care_grants_owner ON care_grants (owner_id, member_id)",
            "CREATE INDEX idx_care_grants_member ON care_grants (member_id)",
            "CREATE INDEX idx_care_access_log_owner ON care_access_log (owner_id, at)",
            "CREATE INDEX idx_care_access_log_grant ON care_access_log (grant_id)",
            "CREATE INDEX idx_care_notes_listing ON care_notes (user_id, created_at, id)",
            "CREATE INDEX idx_routine_suggestions_owner ON routine_suggestions (owner_id, created_at)",
            "CREATE UNIQUE INDEX idx_care_notes_sync ON care_notes (user_id, change_seq)",
        ] {
            db.execute_unprepared(index).await?;
        }
        if db.get_database_backend() == DbBackend::Postgres {
            for (table, check) in [
                ("care_invitations", "role IN ('consultant', 'partner')"),
                ("care_grants", "role IN ('consultant', 'partner')"),
                ("care_grants", "owner_id <> member_id"),
                ("routine_suggestions", "status IN ('pending', 'accepted', 'declined')"),
            ] {
                db.execute_unprepared(&format!("ALTER TABLE {table} ADD CHECK ({check})")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RoutineSuggestions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareNotes::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareAccessLog::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareGrantScopes::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareGrants::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CareInvitations::Table).to_owned()).await
    }
}
