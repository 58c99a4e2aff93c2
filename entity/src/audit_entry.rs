//! One admin action in the audit log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The admin who acted.
    pub actor_id: Uuid,
    /// Such as `user.disable`, `guide.create`.
    pub action: String,
    /// `user`, `guide`, `tip`, `broadcast`.
    pub target_type: String,
    pub target_id: Option<String>,
    /// JSON: what changed (never health data).
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub ip: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
