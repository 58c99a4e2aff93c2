//! sea-orm models of milkflow's tables.

pub mod app_secret;
pub mod audit_entry;
pub mod auth_limit;
pub mod broadcast;
pub mod care_access;
pub mod care_alert;
pub mod care_alert_cursor;
pub mod care_grant;
pub mod care_grant_scope;
pub mod care_invitation;
pub mod care_note;
pub mod delivery;
pub mod device;
pub mod email;
pub mod email_token;
pub mod guide;
pub mod json;
pub mod massage_session;
pub mod occurrence;
pub mod pump_session;
pub mod refresh_token;
pub mod routine;
pub mod routine_suggestion;
pub mod symptom_check;
pub mod tip;
pub mod user;
