//! One planned firing of a routine (or of a snooze) at one instant.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "occurrences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub routine_id: Uuid,
    /// `routine`, `snooze` or `broadcast`.
    pub kind: String,
    /// The routine's kind: `massage`, `pump` or `massage_then_pump`; `broadcast` for a broadcast and its snoozes.
    pub routine_kind: String,
    pub due_at: DateTimeUtc,
    /// `planned`, `sent`, `missed`, `done`, `snoozed` or `cancelled`.
    pub state: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// For a re-reminder (`kind` = `snooze`): the occurrence it snoozes.
    pub snoozed_from: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
