//! `/admin/v1/guides` and `/admin/v1/tips`: staff write the content; unpublished content stays invisible to users.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use entity::{guide, tip};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use store::content::{self, Change, GuideFields, TipFields};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::http::params::record_id;
use crate::http::views::merge_into;
use crate::routes::content::GuideStep;
use crate::startup::AppState;

/// Registers the content-administration routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/guides").route(web::get().to(list_guides)).route(web::post().to(create_guide)))
        .service(
            web::resource("/guides/{id}")
                .route(web::get().to(get_guide))
                .route(web::patch().to(patch_guide))
                .route(web::delete().to(delete_guide)),
        )
        .service(web::resource("/tips").route(web::get().to(list_tips)).route(web::post().to(create_tip)))
        .service(web::resource("/tips/{id}").route(web::patch().to(patch_tip)).route(web::delete().to(delete_tip)));
}

/// A guide as staff write it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GuideInput {
    #[schema(example = "gentle-everyday-massage")]
    pub slug: String,
    #[schema(example = "en")]
    pub locale: String,
    pub title: String,
    pub summary: String,
    pub steps: Vec<GuideStep>,
    #[serde(default)]
    pub published: bool,
    /// Citations the guide is written from.
    #[serde(default)]
    pub sources: Vec<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// A guide with its id and state.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminGuide {
    pub id: Uuid,
    #[serde(flatten)]
    pub guide: GuideInput,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tip as staff write it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TipInput {
    pub text: String,
    #[schema(example = "en")]
    pub locale: String,
    #[serde(default)]
    pub published: bool,
    /// Hidden until then, when set.
    pub publish_at: Option<DateTime<Utc>>,
}

/// A tip with its id.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminTip {
    pub id: Uuid,
    #[serde(flatten)]
    pub tip: TipInput,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn locale_ok(l: &str) -> bool {
    !l.is_empty() && l.len() <= 16 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn check_guide(g: &GuideInput) -> Result<(), ApiError> {
    let mut v = domain::Violations::new();
    let slug_ok = !g.slug.is_empty()
        && g.slug.len() <= 64
        && g.slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !slug_ok {
        v.push("slug", "must be lower-case letters, digits and hyphens, at most 64");
    }
    if !locale_ok(&g.locale) {
        v.push("locale", "must be a language tag such as en or de-AT");
    }
    if g.title.trim().is_empty() || g.title.chars().count() > 200 {
        v.push("title", "must be 1 to 200 characters");
    }
    if g.summary.chars().count() > 2000 {
        v.push("summary", "must be at most 2,000 characters");
    }
    if g.steps.is_empty() || g.steps.len() > 30 {
        v.push("steps", "must list 1 to 30 steps");
    }
    for (i, s) in g.steps.iter().enumerate() {
        if s.title.trim().is_empty() || s.title.chars().count() > 200 {
            v.push(&format!("steps[{i}].title"), "must be 1 to 200 characters");
        }
        if s.text.trim().is_empty() || s.text.chars().count() > 4000 {
            v.push(&format!("steps[{i}].text"), "must be 1 to 4,000 characters");
        }
        if !(1..=3600).contains(&s.duration_s) {
            v.push(&format!("steps[{i}].duration_s"), "must be between 1 and 3600 seconds");
        }
    }
    if g.sources.len() > 20 || g.sources.iter().any(|s| s.chars().count() > 500) {
        v.push("sources", "at most 20 citations of at most 500 characters");
    }
    v.finish().map_err(ApiError::Validation)
}

fn check_tip(t: &TipInput) -> Result<(), ApiError> {
    let mut v = domain::Violations::new();
    if t.text.trim().is_empty() || t.text.chars().count() > 500 {
        v.push("text", "must be 1 to 500 characters");
    }
    if !locale_ok(&t.locale) {
        v.push("locale", "must be a language tag such as en or de-AT");
    }
    v.finish().map_err(ApiError::Validation)
}

fn guide_view(g: guide::Model) -> AdminGuide {
    AdminGuide {
        id: g.id,
        guide: GuideInput {
            slug: g.slug,
            locale: g.locale,
            title: g.title,
            summary: g.summary,
            steps: serde_json::from_str(&g.steps).unwrap_or_default(),
            published: g.published,
            sources: serde_json::from_str(&g.sources).unwrap_or_default(),
            reviewed_at: g.reviewed_at,
        },
        created_at: g.created_at,
        updated_at: g.updated_at,
    }
}

fn tip_view(t: tip::Model) -> AdminTip {
    AdminTip {
        id: t.id,
        tip: TipInput { text: t.text, locale: t.locale, published: t.published, publish_at: t.publish_at },
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

fn guide_fields(g: GuideInput) -> GuideFields {
    GuideFields {
        slug: g.slug,
        locale: g.locale,
        title: g.title.trim().to_owned(),
        summary: g.summary,
        steps: serde_json::to_value(&g.steps).unwrap_or_else(|_| json!([])),
        sources: serde_json::to_value(&g.sources).unwrap_or_else(|_| json!([])),
        published: g.published,
        reviewed_at: g.reviewed_at,
    }
}

fn tip_fields(t: TipInput) -> TipFields {
    TipFields { text: t.text.trim().to_owned(), locale: t.locale, published: t.published, publish_at: t.publish_at }
}

/// Every guide, published or not (`locale` filters).
#[utoipa::path(operation_id = "admin_list_guides", get, path = "/admin/v1/guides", tag = "admin", security(("bearer" = [])), params(("locale" = Option<String>, Query)),
    responses((status = 200, body = Vec<AdminGuide>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_guides(
    state: web::Data<AppState>,
    _admin: AdminUser,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let rows = content::all_guides(&state.db, params.get("locale").map(String::as_str)).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(guide_view).collect::<Vec<_>>()))
}

/// Writes a guide; a slug is unique per locale (409 otherwise).
#[utoipa::path(operation_id = "admin_create_guide", post, path = "/admin/v1/guides", tag = "admin", security(("bearer" = [])), request_body = GuideInput,
    responses((status = 201, body = AdminGuide), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_guide(
    state: web::Data<AppState>,
    admin: AdminUser,
    req: HttpRequest,
    body: JsonBody<GuideInput>,
) -> Result<HttpResponse, ApiError> {
    let g = body.0;
    check_guide(&g)?;
    let now = Utc::now();
    let detail = json!({"slug": g.slug, "locale": g.locale, "published": g.published});
    let change = Change { actor: &admin.actor(&req), detail, now };
    let saved = content::create_guide(&state.db, guide_fields(g), change).await?;
    Ok(HttpResponse::Created().json(guide_view(saved)))
}

/// One guide.
#[utoipa::path(operation_id = "admin_get_guide", get, path = "/admin/v1/guides/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = AdminGuide), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_guide(
    state: web::Data<AppState>,
    _admin: AdminUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let g = content::guide(&state.db, record_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(guide_view(g)))
}

/// Changes a guide (a JSON merge patch over its fields; the result is validated whole).
#[utoipa::path(operation_id = "admin_patch_guide", patch, path = "/admin/v1/guides/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = GuideInput,
    responses((status = 200, body = AdminGuide), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn patch_guide(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let now = Utc::now();
    let edit = |current: &guide::Model| -> Result<GuideFields, ApiError> {
        let merged: GuideInput = merge_into(&guide_view(current.clone()).guide, &body.0)?;
        check_guide(&merged)?;
        Ok(guide_fields(merged))
    };
    let change = Change { actor: &admin.actor(&req), detail: body.0.clone(), now };
    let saved = content::update_guide(&state.db, id, edit, change).await?;
    Ok(HttpResponse::Ok().json(guide_view(saved)))
}

/// Deletes a guide.
#[utoipa::path(operation_id = "admin_delete_guide", delete, path = "/admin/v1/guides/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_guide(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let now = Utc::now();
    content::delete_guide(&state.db, id, &admin.actor(&req), now).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every tip, published or not.
#[utoipa::path(operation_id = "admin_list_tips", get, path = "/admin/v1/tips", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<AdminTip>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_tips(state: web::Data<AppState>, _admin: AdminUser) -> Result<HttpResponse, ApiError> {
    let rows = content::all_tips(&state.db).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(tip_view).collect::<Vec<_>>()))
}

/// Writes a tip.
#[utoipa::path(operation_id = "admin_create_tip", post, path = "/admin/v1/tips", tag = "admin", security(("bearer" = [])), request_body = TipInput,
    responses((status = 201, body = AdminTip), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_tip(
    state: web::Data<AppState>,
    admin: AdminUser,
    req: HttpRequest,
    body: JsonBody<TipInput>,
) -> Result<HttpResponse, ApiError> {
    let t = body.0;
    check_tip(&t)?;
    let now = Utc::now();
    let detail = json!({"locale": t.locale, "published": t.published});
    let saved =
        content::create_tip(&state.db, tip_fields(t), Change { actor: &admin.actor(&req), detail, now }).await?;
    Ok(HttpResponse::Created().json(tip_view(saved)))
}

/// Changes a tip (JSON merge patch).
#[utoipa::path(operation_id = "admin_patch_tip", patch, path = "/admin/v1/tips/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = TipInput,
    responses((status = 200, body = AdminTip), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn patch_tip(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let now = Utc::now();
    let edit = |current: &tip::Model| -> Result<TipFields, ApiError> {
        let merged: TipInput = merge_into(&tip_view(current.clone()).tip, &body.0)?;
        check_tip(&merged)?;
        Ok(tip_fields(merged))
    };
    let change = Change { actor: &admin.actor(&req), detail: body.0.clone(), now };
    let saved = content::update_tip(&state.db, id, edit, change).await?;
    Ok(HttpResponse::Ok().json(tip_view(saved)))
}

/// Deletes a tip.
#[utoipa::path(operation_id = "admin_delete_tip", delete, path = "/admin/v1/tips/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_tip(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path)?;
    let now = Utc::now();
    content::delete_tip(&state.db, id, &admin.actor(&req), now).await?;
    Ok(HttpResponse::NoContent().finish())
}
