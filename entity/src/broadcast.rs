//! A message from staff to many users.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcasts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// JSON: `{"all": true}`, `{"timezones": [...]}` or `{"locales": [...]}`.
    #[sea_orm(column_type = "Text")]
    pub audience: String,
    pub send_at: DateTimeUtc,
    /// Devices that matched the audience when it was created.
    pub targeted: i32,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
