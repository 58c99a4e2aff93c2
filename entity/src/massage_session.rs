//! A massage session, or its tombstone (its fields dropped; its start kept, as its place in lists).
//! Every record table shares the sync envelope: id, owner, version, change number, times, deletion.

use domain::logs::{MassageContext, Pressure, Side};
use sea_orm::entity::prelude::*;

use crate::json::Spots;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "massage_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub started_at: DateTimeUtc,
    pub duration_s: Option<i32>,
    pub side: Option<Side>,
    pub pressure: Option<Pressure>,
    pub guide: Option<String>,
    pub context: Option<MassageContext>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub spots: Option<Spots>,
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
