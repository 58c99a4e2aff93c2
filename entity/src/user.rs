//! An account: a mother using the app, or an admin.

use domain::{Role, UserStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    pub display_name: Option<String>,
    pub timezone: String,
    pub volume_unit: String,
    pub quiet_hours_start: Option<String>,
    pub quiet_hours_end: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The last change sequence number of the account's records (delta sync).
    pub change_seq: i64,
    /// The end of the latest login lock placed on the account from some address (shown to admins; the locks
    /// themselves are per account and address, in `auth_limits`).
    pub locked_until: Option<DateTimeUtc>,
    /// When the account's address was confirmed (by the link or the code of an email); `None` until then.
    pub email_verified_at: Option<DateTimeUtc>,
    /// Access tokens carry the epoch they were issued in; raising it (a new password, say) revokes every one
    /// issued before.
    pub token_epoch: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::refresh_token::Entity")]
    RefreshToken,
}

impl Related<super::refresh_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshToken.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
