//! An invitation to an owner's care team: its code kept only as a hash, usable once within its time.

use domain::care::CareRole;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "care_invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub role: CareRole,
    /// The scopes the grant will have, space-separated.
    pub scopes: String,
    pub note: Option<String>,
    /// When the grant made from it ends; `None`: until revoked.
    pub grant_expires_at: Option<DateTimeUtc>,
    /// SHA-256 (hex) of the normalised code.
    #[sea_orm(unique)]
    pub code_hash: String,
    pub expires_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
    pub accepted_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
