//! Middleware every response passes: a guard against input nothing should see, then metrics, the request log
//! and the security headers.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use std::time::Instant;
use tracing_actix_web::RequestId;

use crate::error::Problem;
use crate::startup::AppState;

/// The longest method token HTTP defines (`OPTIONS`, `CONNECT`); longer ones are refused before any work.
const LONGEST_METHOD: usize = 7;

/// A method as a metric label: the standard ones by name, anything invented as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Refuses, before the log or the metrics see it, a method token longer than any real one (501) and a query
/// parameter holding a NUL character (422 naming it: no database stores one).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = if req.method().as_str().len() > LONGEST_METHOD {
        Some(Problem::for_status(StatusCode::NOT_IMPLEMENTED, Some("unknown HTTP method".into())).respond())
    } else {
        nul_in_query(req.query_string()).map(|field| {
            actix_web::ResponseError::error_response(&crate::error::ApiError::field(
                &field,
                "must not contain NUL characters",
            ))
        })
    };
    let Some(mut response) = refusal else { return Ok(next.call(req).await?.map_into_left_body()) };
    secure(response.headers_mut());
    let (req, _) = req.into_parts();
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}

/// The query parameter (its name) whose name or value holds a NUL character.
fn nul_in_query(query: &str) -> Option<String> {
    let spelled = query.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0');
    spelled
        .then(|| url::form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0')))
        .flatten()
        .map(|(k, _)| k.replace('\0', ""))
}

/// `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` unless a handler chose otherwise: responses
/// carry tokens or account data, which no shared or browser cache may keep.
fn secure(headers: &mut actix_web::http::header::HeaderMap) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Adds `x-request-id` and the security headers ([`secure`]) to every response, counts it in the metrics and logs
/// one line per request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let elapsed_ms = elapsed * 1000.0;
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        // Every label from a closed set: the route's pattern, a known method, a status the framework can send.
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        let method = method_label(res.request().method());
        state.metrics.http_requests.with_label_values(&[method, route.as_str(), &status.to_string()]).inc();
        state.metrics.http_duration.with_label_values(&[route.as_str()]).observe(elapsed);
    }
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), id);
    }
    secure(res.headers_mut());
    if status >= 500 {
        tracing::error!(status, elapsed_ms, "request finished");
    } else {
        tracing::info!(status, elapsed_ms, "request finished");
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let invented = Method::from_bytes(b"ZZMETHD").unwrap();
        assert_eq!(method_label(&invented), "other");
        assert_eq!(method_label(&Method::from_bytes(b"PROPFIND").unwrap()), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
