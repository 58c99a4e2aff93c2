//! End-to-end tests of milkflow: the real API and scheduler, on SQLite and PostgreSQL, one module per concern.
//!
//! One test binary, so a change links once (as zero2prod arranges its tests).

mod abuse;
mod accounts;
mod admin;
mod admins;
mod binaries;
mod care_alerts;
mod care_reminders;
mod care_suggestions;
mod care_team;
mod care_walk;
mod content;
mod database;
mod edge;
mod emails;
mod errors;
mod insights;
mod me;
mod own_data;
mod providers;
mod push_endpoints;
mod records;
mod recovery;
mod reminders;
mod reports;
mod routines;
mod snoozes;
mod staging;
mod sync;
mod tokens;
mod upgrade;
mod writes;
