//! A push target of an account: a browser subscription (web), an FCM token or an APNs token.

use domain::reminders::Platform;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub platform: Platform,
    /// The push endpoint (web) or the token (fcm, apns).
    #[sea_orm(column_type = "Text")]
    pub target: String,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    pub name: Option<String>,
    pub locale: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_success_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
