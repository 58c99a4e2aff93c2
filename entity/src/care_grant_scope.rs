//! One scope of a care-team grant.

use domain::care::Scope;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "care_grant_scopes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub grant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: Scope,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
