//! A counter or lock of the login and registration limits, shared by every API process.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_limits")]
pub struct Model {
    /// What is counted: `rate:address:…`, `rate:account:…`, `fail:{user}:{address}`, `lock:{user}:{address}`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub count: i32,
    /// When the window or lock ends, in Unix milliseconds.
    pub expires_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
