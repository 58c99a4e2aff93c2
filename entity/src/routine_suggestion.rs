//! A routine a care-team member suggested to the owner: pending until the owner accepts or declines it.

use domain::care::SuggestionStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "routine_suggestions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    /// `None` once the member's account is erased.
    pub member_id: Option<Uuid>,
    /// The member's name (or address) when suggested.
    pub author_name: String,
    /// The routine as validated (JSON).
    pub routine: String,
    /// The id the routine gets when accepted (so accepting twice makes one routine).
    pub routine_id: Uuid,
    pub status: SuggestionStatus,
    pub created_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
