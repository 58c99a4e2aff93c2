//! One occurrence sent to one device, with its attempts and outcome.

use domain::reminders::{DeliveryStatus, Platform};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurrence_id: Uuid,
    pub device_id: Uuid,
    pub user_id: Uuid,
    pub provider: Platform,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub lease_until: Option<DateTimeUtc>,
    pub leased_by: Option<String>,
    /// The occurrence's due time, for lateness.
    pub due_at: DateTimeUtc,
    /// After this, a reminder is stale and is not retried.
    pub expires_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub last_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// What is posted, made ahead: the encrypted Web Push body, or the FCM/APNs message as JSON. `None`: made at
    /// the send.
    pub payload: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
