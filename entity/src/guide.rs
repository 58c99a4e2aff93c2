//! A massage technique guide: titled steps with durations, in one locale.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "guides")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub slug: String,
    pub locale: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub summary: String,
    /// JSON: `[{title, text, duration_s}]`.
    #[sea_orm(column_type = "Text")]
    pub steps: String,
    /// JSON: `["citation", ...]`.
    #[sea_orm(column_type = "Text")]
    pub sources: String,
    pub published: bool,
    pub reviewed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
