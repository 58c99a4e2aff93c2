//! Single-use secrets sent by email: issued with the email that carries them, redeemed once by the link's token
//! or by the code (at most [`CODE_TRIES`] wrong codes), kept only as hashes.

use chrono::{DateTime, Utc};
use domain::email::TokenPurpose;
use entity::email_token;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// Wrong codes a token survives; the next wrong one ends it.
pub const CODE_TRIES: i32 = 5;

/// A token about to be issued, as hashes (the caller keeps the secrets for the email).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: Uuid,
    pub token_hash: String,
    pub code_hash: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Issues `token` for `purpose` to `email` of account `user_id`; the account's earlier live tokens of that purpose
/// stop working.
pub async fn issue(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: TokenPurpose,
    email: &str,
    token: &NewToken,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    let row = email_token::ActiveModel {
        id: Set(token.id),
        user_id: Set(user_id),
        purpose: Set(purpose),
        email: Set(email.to_owned()),
        token_hash: Set(token.token_hash.clone()),
        code_hash: Set(token.code_hash.clone()),
        attempts: Set(0),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
        created_at: Set(now),
    };
    email_token::Entity::insert(row).exec_without_returning(txn).await?;
    Ok(())
}

/// How a secret was presented.
pub enum Proof<'a> {
    /// The link's token, hashed.
    Token(&'a str),
    /// The address the email went to and the code typed; `code_hash(id)` hashes the code for token `id`.
    Code { email: &'a str, code_hash: &'a dyn Fn(Uuid) -> String },
}

/// Redeems a live token of one of `purposes` by `proof`, in the caller's transaction: the token, now used, or `None` when
/// no live token matches (unknown, used, expired, or the code wrong: a wrong code counts against its token).
pub async fn redeem(
    txn: &impl ConnectionTrait,
    purposes: &[TokenPurpose],
    proof: Proof<'_>,
    now: DateTime<Utc>,
) -> Result<Option<email_token::Model>, DbErr> {
    let live = email_token::Entity::find()
        .filter(email_token::Column::Purpose.is_in(purposes.iter().copied()))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now))
        .filter(email_token::Column::Attempts.lt(CODE_TRIES));
    let found = match &proof {
        Proof::Token(hash) => live.filter(email_token::Column::TokenHash.eq(*hash)).one(txn).await?,
        Proof::Code { email, code_hash } => {
            let newest = live
                .filter(email_token::Column::Email.eq(*email))
                .filter(email_token::Column::CodeHash.is_not_null())
                .order_by_desc(email_token::Column::CreatedAt)
                .one(txn)
                .await?;
            match newest {
                Some(t) if t.code_hash.as_deref() == Some(code_hash(t.id).as_str()) => Some(t),
                Some(t) => {
                    email_token::Entity::update_many()
                        .col_expr(email_token::Column::Attempts, Expr::col(email_token::Column::Attempts).add(1))
                        .filter(email_token::Column::Id.eq(t.id))
                        .exec(txn)
                        .await?;
                    None
                }
                None => None,
            }
        }
    };
    let Some(token) = found else { return Ok(None) };
    let used = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::Id.eq(token.id))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    Ok((used.rows_affected == 1).then_some(token))
}
