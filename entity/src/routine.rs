//! A routine (what to be reminded of, when, on which days), or its tombstone.

use domain::routine::RoutineKind;
use sea_orm::entity::prelude::*;

use crate::json::{Days, Schedule};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "routines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: Option<String>,
    pub kind: Option<RoutineKind>,
    pub enabled: Option<bool>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub days: Option<Days>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub schedule: Option<Schedule>,
    pub version: i64,
    pub change_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
