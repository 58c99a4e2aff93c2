//! `/v1/guides` and `/v1/tips`: published content, in the user's locale with English as the fallback.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use entity::guide;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, Problem};
use crate::http::params::limit_param;
use crate::startup::AppState;

/// Registers the content routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/guides").route(web::get().to(list_guides)))
        .service(web::resource("/v1/guides/{slug}").route(web::get().to(get_guide)))
        .service(web::resource("/v1/tips").route(web::get().to(list_tips)));
}

/// The locale content falls back to.
pub const FALLBACK_LOCALE: &str = "en";

/// One step of a guide.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GuideStep {
    #[schema(example = "Circles from the outside in")]
    pub title: String,
    pub text: String,
    #[schema(example = 180)]
    pub duration_s: u32,
}

/// A technique guide.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuideView {
    #[schema(example = "gentle-everyday-massage")]
    pub slug: String,
    #[schema(example = "en")]
    pub locale: String,
    pub title: String,
    pub summary: String,
    pub steps: Vec<GuideStep>,
    /// The whole guide's length in seconds.
    pub total_duration_s: u32,
    /// Citations the guide is written from.
    pub sources: Vec<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl From<guide::Model> for GuideView {
    fn from(g: guide::Model) -> Self {
        let steps: Vec<GuideStep> = serde_json::from_str(&g.steps).unwrap_or_default();
        let sources: Vec<String> = serde_json::from_str(&g.sources).unwrap_or_default();
        let total_duration_s = steps.iter().map(|s| s.duration_s).sum();
        Self {
            slug: g.slug,
            locale: g.locale,
            title: g.title,
            summary: g.summary,
            steps,
            total_duration_s,
            sources,
            reviewed_at: g.reviewed_at,
        }
    }
}

/// A tip.
#[derive(Debug, Serialize, ToSchema)]
pub struct TipView {
    pub id: Uuid,
    pub text: String,
    #[schema(example = "en")]
    pub locale: String,
    pub published_at: DateTime<Utc>,
}

/// The languages to look in, best first: `de-AT` gives `de-AT`, `de`, then `en`.
fn locales(params: &HashMap<String, String>) -> Result<Vec<String>, ApiError> {
    let Some(raw) = params.get("locale") else { return Ok(vec![FALLBACK_LOCALE.into()]) };
    let ok =
        !raw.is_empty() && raw.len() <= 16 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(ApiError::field("locale", "must be a language tag such as en or de-AT"));
    }
    let tag = raw.replace('_', "-");
    let mut out = vec![tag.clone()];
    if let Some((lang, _)) = tag.split_once('-') {
        out.push(lang.to_owned());
    }
    out.push(FALLBACK_LOCALE.into());
    out.dedup();
    Ok(out)
}

/// Published guides in the user's locale (English where a guide has no translation).
#[utoipa::path(get, path = "/v1/guides", tag = "content",
    params(("locale" = Option<String>, Query, description = "A language tag; default en")),
    responses((status = 200, body = Vec<GuideView>), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_guides(
    state: web::Data<AppState>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let wanted = locales(&params)?;
    let rows = store::content::published_guides(&state.db, &wanted).await?;
    let mut best: Vec<guide::Model> = Vec::new();
    for row in rows {
        let rank = |g: &guide::Model| wanted.iter().position(|l| *l == g.locale).unwrap_or(usize::MAX);
        match best.iter_mut().find(|b| b.slug == row.slug) {
            Some(existing) if rank(&row) < rank(existing) => *existing = row,
            Some(_) => {}
            None => best.push(row),
        }
    }
    Ok(HttpResponse::Ok().json(best.into_iter().map(GuideView::from).collect::<Vec<_>>()))
}

/// One published guide in the user's locale (or English).
#[utoipa::path(get, path = "/v1/guides/{slug}", tag = "content",
    params(("slug" = String, Path), ("locale" = Option<String>, Query, description = "A language tag; default en")),
    responses((status = 200, body = GuideView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_guide(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let wanted = locales(&params)?;
    for locale in &wanted {
        let found = store::content::published_guide(&state.db, slug.as_str(), locale).await?;
        if let Some(g) = found {
            return Ok(HttpResponse::Ok().json(GuideView::from(g)));
        }
    }
    Err(ApiError::NotFound)
}

/// Published tips in the user's locale (or English), newest first; `limit` 1-100, default 20.
#[utoipa::path(get, path = "/v1/tips", tag = "content",
    params(("locale" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1-100, default 20")),
    responses((status = 200, body = Vec<TipView>), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_tips(
    state: web::Data<AppState>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let wanted = locales(&params)?;
    let mut v = domain::Violations::new();
    let limit = limit_param(&params, 20, 100, &mut v);
    v.finish().map_err(ApiError::Validation)?;
    let now = Utc::now();
    let rows = store::content::published_tips(&state.db, &wanted, limit, now).await?;
    let tips: Vec<TipView> = rows
        .into_iter()
        .map(|t| TipView {
            id: t.id,
            text: t.text,
            locale: t.locale,
            published_at: t.publish_at.unwrap_or(t.created_at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(tips))
}
