//! `ApiError`: every failure of the API, written as RFC 9457 `application/problem+json`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use domain::FieldError;
use serde::Serialize;
use store::DbErr;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this needs a role the account does not have")]
    Forbidden,
    /// A 403 for a reason the account can fix (a verified email first, say).
    #[error("{0}")]
    Refused(&'static str),
    #[error("no such resource")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("the record changed since you read it (If-Match does not match its ETag)")]
    PreconditionFailed,
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("too many attempts; retry in {0} seconds")]
    TooManyRequests(u64),
    #[error("the database is unreachable")]
    Unavailable,
    #[error("database error")]
    Database(#[from] DbErr),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        use store::StoreError as S;
        match e {
            S::Validation(fields) => Self::Validation(fields),
            S::NotFound => Self::NotFound,
            S::Conflict(message) => Self::Conflict(message),
            S::PreconditionFailed => Self::PreconditionFailed,
            S::TooManyRequests(seconds) => Self::TooManyRequests(seconds),
            S::Unavailable => Self::Unavailable,
            S::Database(e) => Self::Database(e),
            S::Internal(e) => Self::Internal(e),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "https://milkflow.app/problems/validation")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    #[schema(example = "Your request has invalid fields")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every invalid field, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
}

/// One invalid field of a validation problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    /// The field, as a JSON path such as `password` or `quiet_hours.start`.
    #[schema(example = "password")]
    pub field: String,
    /// Why it was refused.
    #[schema(example = "must be at least 10 characters")]
    pub message: String,
}

impl Problem {
    /// A problem for a plain HTTP status.
    pub fn for_status(status: StatusCode, detail: Option<String>) -> Self {
        let slug = match status.as_u16() {
            400 => "malformed-request",
            401 => "unauthenticated",
            403 => "forbidden",
            404 => "not-found",
            405 => "method-not-allowed",
            409 => "conflict",
            412 => "precondition-failed",
            413 => "payload-too-large",
            415 => "unsupported-media-type",
            429 => "too-many-requests",
            422 => "validation",
            503 => "unavailable",
            s if s >= 500 => "internal",
            _ => "client-error",
        };
        Self {
            problem_type: format!("https://milkflow.app/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: None,
        }
    }

    /// Writes the problem as a response.
    pub fn respond(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_else(|_| "{}".into());
        HttpResponse::build(status).content_type(PROBLEM_JSON).body(body)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Refused(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            // A database that cannot be reached is a 503 (retry later), not a 500.
            Self::Database(e) if store::db::is_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // The body stays generic; the whole chain goes to the log.
            tracing::error!(error.chain = %error_chain(self), "request failed");
        }
        let detail = if status == StatusCode::SERVICE_UNAVAILABLE {
            "the service's storage is unreachable; retry later".to_owned()
        } else {
            self.to_string()
        };
        let mut problem = Problem::for_status(status, Some(detail));
        if let Self::Validation(errors) = self {
            problem.title = "Your request has invalid fields".into();
            problem.errors = Some(
                errors.iter().map(|e| ProblemField { field: e.field.clone(), message: e.message.clone() }).collect(),
            );
        }
        let mut response = problem.respond();
        if let Self::TooManyRequests(seconds) = self
            && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"milkflow\""),
            );
        }
        response
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Middleware: any error response that is not yet problem+json (a router 404/405, a framework error) becomes one.
pub async fn problem_for_bare_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let is_problem = res.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return Ok(res.map_into_left_body());
    }
    let allow = res.headers().get(actix_web::http::header::ALLOW).cloned();
    let detail = match status {
        StatusCode::NOT_FOUND => Some("no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => Some("this route does not accept that method".to_owned()),
        _ => None,
    };
    let (req, _) = res.into_parts();
    let mut response = Problem::for_status(status, detail).respond();
    if let Some(allow) = allow {
        response.headers_mut().insert(actix_web::http::header::ALLOW, allow);
    }
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(e: ApiError) -> (StatusCode, serde_json::Value, String) {
        let res = e.error_response();
        let status = res.status();
        let ctype = res.headers().get(CONTENT_TYPE).unwrap().to_str().unwrap().to_owned();
        let bytes = to_bytes(res.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), ctype)
    }

    #[actix_web::test]
    async fn validation_problem_lists_every_field() {
        let (status, body, ctype) = body_of(ApiError::Validation(vec![
            FieldError::new("password", "too short"),
            FieldError::new("timezone", "unknown"),
        ]))
        .await;
        assert_eq!(status, 422);
        assert_eq!(ctype, PROBLEM_JSON);
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["field"], "password");
        assert_eq!(body["errors"][1]["field"], "timezone");
    }

    #[actix_web::test]
    async fn server_errors_keep_their_cause_out_of_the_body() {
        let (status, body, _) = body_of(ApiError::Database(DbErr::Custom("secret table detail".into()))).await;
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("secret table detail"), "{body}");
    }
}
