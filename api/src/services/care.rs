//! Care-team sharing: inviting a member, accepting, and resolving a member's read of a client's data.

use chrono::{DateTime, Duration, Utc};
use domain::care::{self, CareRole, Scope};
use entity::{care_invitation, user};
use rand::RngCore;
use store::Database;
use store::care::grants::Grant;
use store::care::invitations::{self, Acceptance, NewInvitation};
use store::care::{Reader, access};
use uuid::Uuid;

use crate::auth::refresh;
use crate::error::ApiError;
use crate::ratelimit::AuthLimits;

/// How long an invitation code works.
pub const INVITATION_VALID_FOR: Duration = Duration::days(7);
/// The longest a grant may be given for at first (the owner may extend it later).
pub const MAX_GRANT: Duration = Duration::days(3 * 366);
/// The path of the invitation link under `MILKFLOW_PUBLIC_URL` (an app link that opens the app).
pub const JOIN_PATH: &str = "/care-team/join";
/// The longest note an owner may keep on a grant.
pub const MAX_NOTE_CHARS: usize = 500;

/// An invitation as asked for, before validation.
pub struct InvitationInput {
    pub role: String,
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// A new invitation and its code (shown once; only its hash is kept).
pub struct Invited {
    pub invitation: care_invitation::Model,
    pub code: String,
    pub link: String,
}

fn code_hash(normalised: &str) -> String {
    refresh::digest(&format!("care-invitation:{normalised}"))
}

/// Validates and keeps an invitation from `owner`.
#[tracing::instrument(skip_all, fields(user.id = %owner))]
pub async fn invite(
    db: &Database,
    public_url: &str,
    owner: Uuid,
    input: InvitationInput,
    now: DateTime<Utc>,
) -> Result<Invited, ApiError> {
    let mut v = domain::Violations::new();
    let role = v.check("role", CareRole::parse(&input.role).ok_or_else(|| "must be consultant or partner".to_owned()));
    let scopes = match (&input.scopes, role) {
        (Some(raw), _) => v.check("scopes", care::parse_scopes(raw)),
        (None, Some(role)) => {
            let mut preset = role.preset().to_vec();
            preset.sort_by_key(|s| s.as_str());
            Some(preset)
        }
        (None, None) => None,
    };
    if let Some(at) = input.expires_at
        && (at <= now || at > now + MAX_GRANT)
    {
        v.push("expires_at", "must be in the future, at most three years ahead");
    }
    let note = input.note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        v.push("note", format!("must be at most {MAX_NOTE_CHARS} characters"));
    }
    v.finish().map_err(ApiError::Validation)?;
    let (Some(role), Some(scopes)) = (role, scopes) else {
        return Err(anyhow::anyhow!("validated fields missing").into());
    };
    let mut random = [0u8; 8];
    rand::rng().fill_bytes(&mut random);
    let code = care::invitation_code(random);
    let normalised = care::normalise_code(&code).ok_or_else(|| anyhow::anyhow!("a new code reads back"))?;
    let new = NewInvitation {
        owner_id: owner,
        role,
        scopes,
        note,
        grant_expires_at: input.expires_at,
        code_hash: code_hash(&normalised),
        expires_at: now + INVITATION_VALID_FOR,
    };
    let invitation = invitations::create(db, new, now).await?;
    tracing::info!(invitation.id = %invitation.id, "care-team invitation made");
    let link = format!("{public_url}{JOIN_PATH}?code={code}");
    Ok(Invited { invitation, code, link })
}

/// Accepts an invitation `code` for `member` (whose address must be verified); a wrong code counts against the
/// member's tries.
#[tracing::instrument(skip_all, fields(user.id = %member.id))]
pub async fn accept(
    db: &Database,
    limits: &AuthLimits,
    member: &user::Model,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Grant, ApiError> {
    if member.email_verified_at.is_none() {
        return Err(ApiError::Refused("confirm your email address before joining a care team"));
    }
    limits.check_invite_tries(member.id, now).await?;
    let not_valid = || ApiError::field("code", "is not valid: it may be wrong, used or expired");
    let Some(normalised) = care::normalise_code(code) else {
        limits.invite_failed(member.id, now).await?;
        return Err(not_valid());
    };
    match invitations::accept(db, &code_hash(&normalised), member.id, now).await? {
        Acceptance::Granted(grant) => {
            tracing::info!(grant.id = %grant.grant.id, "care-team invitation accepted");
            Ok(grant)
        }
        Acceptance::Own => Err(ApiError::field("code", "is an invitation of your own")),
        Acceptance::Unknown => {
            limits.invite_failed(member.id, now).await?;
            Err(not_valid())
        }
    }
}

/// A member's read of a client's data: the client's account when a live grant allows `scope` (checked in the
/// query that reads it), else 404 as for anything that does not exist.
pub async fn client(
    db: &Database,
    member: Uuid,
    client: Uuid,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<(Reader, user::Model), ApiError> {
    let reader = Reader::Member { owner: client, member, scope, now };
    let found = store::care::grants::client_account(db, reader).await?.ok_or(ApiError::NotFound)?;
    Ok((reader, found))
}

/// Notes a member's read of `resource` for the owner's access log.
pub async fn log_read(db: &Database, reader: Reader, resource: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    if let Reader::Member { owner, member, .. } = reader {
        access::record(db, owner, member, resource, now).await?;
    }
    Ok(())
}
