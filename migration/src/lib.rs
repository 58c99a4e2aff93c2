//! Schema migrations of milkflow; each runs on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_users;
mod m20261124_000002_create_refresh_tokens;
mod m20261124_000003_create_app_secrets;
mod m20261124_000004_create_records;
mod m20261124_000005_create_content;
mod m20261124_000006_create_push;
mod m20261124_000007_create_audit_log;
mod m20261124_000008_create_broadcasts;
mod m20261125_000009_create_delivery_claim_index;
mod m20261204_000010_create_auth_limits;
mod m20261204_000011_add_occurrence_snoozed_from;
mod m20261205_000012_typed_records;
mod m20261205_000013_occurrence_sources;
mod m20261205_000014_email_outbox_and_tokens;
mod m20261205_000015_token_epoch;
mod m20261205_000016_care_team;
mod m20261205_000017_care_alerts;
mod m20261206_000018_staged_deliveries;

pub use m20261206_000018_staged_deliveries::CLAIMABLE as DELIVERY_CLAIMABLE;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_users::Migration),
            Box::new(m20261124_000002_create_refresh_tokens::Migration),
            Box::new(m20261124_000003_create_app_secrets::Migration),
            Box::new(m20261124_000004_create_records::Migration),
            Box::new(m20261124_000005_create_content::Migration),
            Box::new(m20261124_000006_create_push::Migration),
            Box::new(m20261124_000007_create_audit_log::Migration),
            Box::new(m20261124_000008_create_broadcasts::Migration),
            Box::new(m20261125_000009_create_delivery_claim_index::Migration),
            Box::new(m20261204_000010_create_auth_limits::Migration),
            Box::new(m20261204_000011_add_occurrence_snoozed_from::Migration),
            Box::new(m20261205_000012_typed_records::Migration),
            Box::new(m20261205_000013_occurrence_sources::Migration),
            Box::new(m20261205_000014_email_outbox_and_tokens::Migration),
            Box::new(m20261205_000015_token_epoch::Migration),
            Box::new(m20261205_000016_care_team::Migration),
            Box::new(m20261205_000017_care_alerts::Migration),
            Box::new(m20261206_000018_staged_deliveries::Migration),
        ]
    }
}
