//! `/v1/care-team/*`: the owner invites members, sees and changes who has access, and sees every read they
//! made; an invitee accepts a code.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::care::Scope;
use entity::user;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::care::grants::{self, Grant, GrantChange, Shared};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::{DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, limit_param, record_id};
use crate::routes::clients::ClientView;
use crate::services::care::{self, InvitationInput};
use crate::startup::AppState;

/// Registers the care-team routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/care-team/invitations").route(web::post().to(invite)))
        .service(web::resource("/v1/care-team/invitations/accept").route(web::post().to(accept)))
        .service(web::resource("/v1/care-team/members").route(web::get().to(list_members)))
        .service(
            web::resource("/v1/care-team/members/{id}")
                .route(web::patch().to(change_member))
                .route(web::delete().to(revoke_member)),
        )
        .service(web::resource("/v1/care-team/access-log").route(web::get().to(access_log)));
}

/// An invitation to the care team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    /// `consultant` or `partner`: the preset of scopes.
    #[schema(example = "consultant")]
    pub role: String,
    /// Scopes instead of the role's preset: `logs:read`, `stats:read`, `advisories:read`, `advisories:notify`,
    /// `notes:write`, `routines:suggest`, `reminders:receive`.
    pub scopes: Option<Vec<String>>,
    /// When the access ends; absent: until revoked.
    pub expires_at: Option<DateTime<Utc>>,
    /// A note for the owner's own list (at most 500 characters).
    #[schema(example = "Jo, IBCLC at the clinic")]
    pub note: Option<String>,
}

/// A new invitation: give the code or the link to the member, once.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    /// Eight characters; single use, valid 7 days.
    #[schema(example = "7K2M-QX9D")]
    pub code: String,
    /// `MILKFLOW_PUBLIC_URL` + `/care-team/join?code=...`, opening the app.
    pub link: String,
    pub role: String,
    pub scopes: Vec<String>,
    /// When the access will end; `null`: until revoked.
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    pub code_expires_at: DateTime<Utc>,
    #[schema(required = true)]
    pub note: Option<String>,
}

/// The code an invitee received.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    #[schema(example = "7K2M-QX9D")]
    pub code: String,
}

/// Another account of a grant, as the other side sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    #[schema(required = true)]
    pub display_name: Option<String>,
}

impl From<&user::Model> for Person {
    fn from(u: &user::Model) -> Self {
        Self { id: u.id, email: u.email.clone(), display_name: u.display_name.clone() }
    }
}

/// Someone with access to the owner's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// The grant's id (for `PATCH` and `DELETE`).
    pub id: Uuid,
    pub member: Person,
    pub role: String,
    pub scopes: Vec<String>,
    #[schema(required = true)]
    pub note: Option<String>,
    /// `null`: until revoked.
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    pub since: DateTime<Utc>,
}

fn scope_names(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(|s| s.as_str().to_owned()).collect()
}

fn member_view(grant: &Grant, member: &user::Model) -> MemberView {
    let g = &grant.grant;
    MemberView {
        id: g.id,
        member: Person::from(member),
        role: g.role.as_str().to_owned(),
        scopes: scope_names(&grant.scopes),
        note: g.note.clone(),
        expires_at: g.expires_at,
        since: g.created_at,
    }
}

/// Invites a member: a code and a link to give them (single use, valid 7 days). The invitee accepts it signed
/// in with a verified email.
#[utoipa::path(post, path = "/v1/care-team/invitations", operation_id = "invite_member", tag = "care-team", security(("bearer" = [])), request_body = InvitationRequest,
    responses(
        (status = 201, body = InvitationView),
        (status = 409, description = "Too many invitations wait already", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: JsonBody<InvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody(req) = body;
    let input = InvitationInput { role: req.role, scopes: req.scopes, expires_at: req.expires_at, note: req.note };
    let made = care::invite(&state.db, &state.public_url, auth.user.id, input, Utc::now()).await?;
    let i = made.invitation;
    Ok(HttpResponse::Created().json(InvitationView {
        id: i.id,
        code: made.code,
        link: made.link,
        role: i.role.as_str().to_owned(),
        scopes: i.scopes.split_whitespace().map(str::to_owned).collect(),
        expires_at: i.grant_expires_at,
        code_expires_at: i.expires_at,
        note: i.note,
    }))
}

/// Accepts an invitation: the signed-in account joins the inviter's care team (an earlier grant between the
/// two ends). At most 10 wrong codes an hour.
#[utoipa::path(post, path = "/v1/care-team/invitations/accept", operation_id = "accept_invitation", tag = "care-team", security(("bearer" = [])), request_body = AcceptRequest,
    responses(
        (status = 201, description = "Joined; the client as `GET /v1/clients` lists it", body = ClientView),
        (status = 403, description = "The account's email is not verified", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The code is wrong, used or expired, or the account's own", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: JsonBody<AcceptRequest>,
) -> Result<HttpResponse, ApiError> {
    let member = auth.fresh(&state.db).await?;
    let now = Utc::now();
    let grant = care::accept(&state.db, &state.auth_limits, &member, &body.0.code, now).await?;
    let reader = store::care::Reader::Owner(grant.grant.owner_id);
    let owner = grants::client_account(&state.db, reader).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Created().json(ClientView::new(&Shared { grant, other: owner })))
}

/// Who has access to the user's data now, with what, until when.
#[utoipa::path(get, path = "/v1/care-team/members", tag = "care-team", security(("bearer" = [])),
    responses((status = 200, body = Vec<MemberView>)))]
pub async fn list_members(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let members = grants::members(&state.db, auth.user.id, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(members.iter().map(|s| member_view(&s.grant, &s.other)).collect::<Vec<_>>()))
}

/// A change of a member's access: other scopes, or another end (`null`: until revoked).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    pub scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::routes::me::present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

/// Narrows or widens a member's scopes, or changes when the access ends; the next read of the member follows it.
#[utoipa::path(patch, path = "/v1/care-team/members/{id}", tag = "care-team", security(("bearer" = [])), request_body = MemberChange,
    params(("id" = Uuid, Path, description = "The grant's id")),
    responses((status = 200, body = MemberView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn change_member(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    body: JsonBody<MemberChange>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let JsonBody(req) = body;
    let now = Utc::now();
    let mut v = domain::Violations::new();
    let scopes = req.scopes.as_deref().and_then(|raw| v.check("scopes", domain::care::parse_scopes(raw)));
    if let Some(Some(at)) = req.expires_at
        && (at <= now || at > now + care::MAX_GRANT)
    {
        v.push("expires_at", "must be in the future, at most three years ahead");
    }
    v.finish().map_err(ApiError::Validation)?;
    let grant =
        grants::change(&state.db, auth.user.id, id, GrantChange { scopes, expires_at: req.expires_at }, now).await?;
    let member = store::admin_users::find(&state.db, grant.grant.member_id).await?;
    tracing::info!(user.id = %auth.user.id, grant.id = %id, "care-team access changed");
    Ok(HttpResponse::Ok().json(member_view(&grant, &member)))
}

/// Ends a member's access; the member's next read, in any process, finds nothing.
#[utoipa::path(delete, path = "/v1/care-team/members/{id}", tag = "care-team", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The grant's id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_member(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    grants::revoke(&state.db, auth.user.id, id, Utc::now()).await?;
    tracing::info!(user.id = %auth.user.id, grant.id = %id, "care-team access revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// One read a member made of the user's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessEntry {
    /// `null` once the member's account is erased.
    #[schema(required = true)]
    pub member: Option<Person>,
    /// What was read: `pump-sessions`, `stats/daily`, `advisories`, ...
    #[schema(example = "pump-sessions")]
    pub resource: String,
    pub at: DateTime<Utc>,
}

/// A page of the access log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLogPage {
    pub items: Vec<AccessEntry>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Every read the user's care team made of the user's data, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/care-team/access-log", tag = "care-team", security(("bearer" = [])),
    params(("limit" = Option<u64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AccessLogPage), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn access_log(
    state: web::Data<AppState>,
    auth: AuthUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut v = domain::Violations::new();
    let limit = limit_param(&params, DEFAULT_LIMIT, MAX_LIMIT, &mut v);
    let after = params
        .get("cursor")
        .and_then(|c| v.check("cursor", decode_cursor(c).ok_or("is not a cursor from this list".into())));
    v.finish().map_err(ApiError::Validation)?;
    let (rows, more) = store::care::access::page(&state.db, auth.user.id, after, limit).await?;
    let next_cursor = if more { rows.last().map(|(r, _)| encode_cursor(r.at, r.id)) } else { None };
    let items = rows
        .into_iter()
        .map(|(r, member)| AccessEntry { member: member.as_ref().map(Person::from), resource: r.resource, at: r.at })
        .collect();
    Ok(HttpResponse::Ok().json(AccessLogPage { items, next_cursor }))
}
