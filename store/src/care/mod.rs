//! Care-team sharing as stored: invitations, grants and their scopes, and the access log. Every read a member
//! makes is authorised against the grant inside the read's own query ([`Reader::grant_condition`]), so a
//! revoked or expired grant stops the very next read in every process.

pub mod access;
pub mod alerts;
pub mod grants;
pub mod invitations;
pub mod notes;
pub mod suggestions;

use chrono::{DateTime, Utc};
use domain::care::Scope;
use entity::{care_grant as g, care_grant_scope as s};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use uuid::Uuid;

/// Whose data a read is of, and on whose authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The owner, reading the owner's own data.
    Owner(Uuid),
    /// A member of the owner's care team, through a live grant with `scope`.
    Member { owner: Uuid, member: Uuid, scope: Scope, now: DateTime<Utc> },
}

impl Reader {
    /// The account whose data is read.
    pub fn owner(&self) -> Uuid {
        match *self {
            Self::Owner(id) | Self::Member { owner: id, .. } => id,
        }
    }

    /// What a member's read adds to its query: a live grant from the owner to the member with the scope.
    /// `None` for the owner.
    pub fn grant_condition(&self) -> Option<SimpleExpr> {
        let Self::Member { owner, member, scope, now } = *self else { return None };
        let expires = Expr::col((g::Entity, g::Column::ExpiresAt));
        let grant = Query::select()
            .expr(Expr::value(1))
            .from(g::Entity)
            .inner_join(s::Entity, Expr::col((s::Entity, s::Column::GrantId)).equals((g::Entity, g::Column::Id)))
            .and_where(Expr::col((g::Entity, g::Column::OwnerId)).eq(owner))
            .and_where(Expr::col((g::Entity, g::Column::MemberId)).eq(member))
            .and_where(Expr::col((g::Entity, g::Column::RevokedAt)).is_null())
            .and_where(expires.clone().is_null().or(expires.gt(now)))
            .and_where(Expr::col((s::Entity, s::Column::Scope)).eq(scope.as_str()))
            .to_owned();
        Some(Expr::exists(grant))
    }
}
