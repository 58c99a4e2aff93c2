//! `StoreError`: why a use-case of the store failed, for each service to word in its own way.

use domain::FieldError;
use sea_orm::DbErr;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("no such record")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("the record changed since it was read")]
    PreconditionFailed,
    #[error("too many requests: retry in {0} s")]
    TooManyRequests(u64),
    #[error("the database is unreachable")]
    Unavailable,
    #[error("database error")]
    Database(#[from] DbErr),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl StoreError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Whether it failed because the database cannot be reached.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable => true,
            Self::Database(e) => crate::db::is_unavailable(e),
            _ => false,
        }
    }
}
