//! An email in the outbox: queued with what it carries, sent by the scheduler.

use domain::email::{EmailStatus, EmailTemplate};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "emails")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account it concerns, if any (its emails go with it when it is erased).
    pub user_id: Option<Uuid>,
    pub to_address: String,
    pub template: EmailTemplate,
    /// The template's values (JSON); emptied once the email is sent or has failed, so a link's secret does not
    /// outlive its delivery.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub status: EmailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub lease_until: Option<DateTimeUtc>,
    pub leased_by: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
