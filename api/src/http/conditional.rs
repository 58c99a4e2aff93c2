//! Conditional requests: strong ETags of record versions, `If-None-Match` and `If-Match`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use store::records::IfMatch;

/// The strong ETag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

pub fn with_etag(mut response: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Whether `If-None-Match` names `tag` (or is `*`): the client already holds it.
pub fn none_match(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

/// Parses `If-Match`: `*` or a list of strong ETags; a malformed one matches nothing.
pub fn if_match(req: &HttpRequest) -> Option<IfMatch> {
    let raw = req.headers().get(header::IF_MATCH)?.to_str().ok()?.trim();
    if raw == "*" {
        return Some(IfMatch::Any);
    }
    let versions = raw.split(',').filter_map(|t| t.trim().strip_prefix('"')?.strip_suffix('"')?.parse().ok()).collect();
    Some(IfMatch::Versions(versions))
}
