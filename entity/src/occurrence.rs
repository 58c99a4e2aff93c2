//! One planned firing of a routine, a broadcast, a care alert or a snooze of one of them, at one instant.

use domain::reminders::{OccurrenceKind, OccurrenceState, ReminderTopic};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "occurrences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// The routine it came from (directly or as a snooze); `None` for a broadcast's.
    pub routine_id: Option<Uuid>,
    /// The broadcast it came from (directly or as a snooze); `None` for a routine's.
    pub broadcast_id: Option<Uuid>,
    pub kind: OccurrenceKind,
    /// The routine's kind, or `broadcast`.
    pub routine_kind: ReminderTopic,
    pub due_at: DateTimeUtc,
    pub state: OccurrenceState,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// For a re-reminder (`kind` = `snooze`): the occurrence it snoozes.
    pub snoozed_from: Option<Uuid>,
    /// For a care alert: the client (owner) who may need attention; `None` otherwise.
    pub client_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
