//! A pumping session (volumes in ml), or its tombstone.

use domain::logs::{PumpMode, PumpType, Side};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pump_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    pub side: Option<Side>,
    pub volume_left_ml: Option<f64>,
    pub volume_right_ml: Option<f64>,
    pub pump_type: Option<PumpType>,
    pub mode: Option<PumpMode>,
    pub massage_before: Option<bool>,
    pub massage_during: Option<bool>,
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
