//! A symptom check, or its tombstone.

use sea_orm::entity::prelude::*;

use crate::json::Spots;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "symptom_checks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub at: DateTimeUtc,
    pub engorgement: Option<i16>,
    pub pain: Option<i16>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub spots: Option<Spots>,
    pub redness: Option<bool>,
    pub temperature_c: Option<f64>,
    pub flu_like: Option<bool>,
    pub notes: Option<String>,
    pub version: i64,
    pub change_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
