//! One thing she logged or planned (a massage or pump session, a symptom check, a routine), or its tombstone.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "records")]
pub struct Model {
    /// Client-generated (PUT) or server-generated (POST).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// `massage_sessions`, `pump_sessions`, `symptom_checks` or `routines`.
    pub collection: String,
    /// When it happened (sessions, checks) or was created (routines): the listing order.
    pub sort_at: DateTimeUtc,
    pub side: Option<String>,
    pub pump_type: Option<String>,
    /// The validated fields as JSON; `{}` once deleted.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    /// Starts at 1, +1 on every change: the ETag.
    pub version: i64,
    /// The owner's change sequence number at the last change: the sync cursor.
    pub change_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
