//! The nested lists some records keep, stored as JSON: a session's spots, a routine's days and schedule.

use domain::logs::Spot;
use domain::routine::{Day, ScheduleSpec};
use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

/// The tender or hard spots of a massage session or symptom check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct Spots(pub Vec<Spot>);

/// The days a routine runs on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct Days(pub Vec<Day>);

/// When a routine fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct Schedule(pub ScheduleSpec);
