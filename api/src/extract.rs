//! `JsonBody<T>`: a JSON request body that fails as problem+json, naming the offending field.

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A deserialised JSON body.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json =
            matches!(req.mime_type(), Ok(Some(m)) if m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = body.await.map_err(|e| match e.as_response_error().status_code() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(MAX_BODY_BYTES),
                _ => ApiError::BadRequest("the request body could not be read".into()),
            })?;
            parse(&bytes).map(JsonBody)
        })
    }
}

/// Parses JSON: broken syntax is a 400, a well-formed body with a wrong field a 422 naming that field, and a
/// string holding a NUL character a 422 naming its field (no database stores one; PostgreSQL refuses it).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_escaped_nul(bytes)
        && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = field_with_nul(&doc, String::new())
    {
        return Err(ApiError::field(&field, "must not contain NUL characters"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = strip_position(&inner.to_string());
        match inner.classify() {
            Category::Data => {
                let (field, message) = field_of(&path, &message);
                ApiError::field(&field, message)
            }
            _ => ApiError::BadRequest(format!("malformed JSON: {message}")),
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest(format!("malformed JSON: {}", strip_position(&e.to_string()))))?;
    Ok(value)
}

/// Whether the body spells a NUL character (`\\u0000`); raw control bytes are already invalid JSON.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|b| *b == b'0'))
}

/// The JSON path of the first string (or key) holding a NUL character.
fn field_with_nul(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() { "body".into() } else { path }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| field_with_nul(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') { Some(at(&k.replace('\0', ""))) } else { field_with_nul(v, at(k)) }
        }),
        _ => None,
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// serde reports a missing field at its parent's path; name the field itself instead.
fn field_of(path: &str, message: &str) -> (String, String) {
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let field = match (missing, path) {
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "") => "body".to_owned(),
        (None, p) => p.to_owned(),
    };
    let message = if missing.is_some() { "is required".to_owned() } else { message.to_owned() };
    (field, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        start: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        count: Option<u8>,
        inner: Option<Inner>,
    }

    fn fields(e: ApiError) -> Vec<(String, String)> {
        match e {
            ApiError::Validation(v) => v.into_iter().map(|f| (f.field, f.message)).collect(),
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse::<Body>(br#"{"count": 1}"#).unwrap_err();
        assert_eq!(fields(e), vec![("email".into(), "is required".into())]);
    }

    #[test]
    fn missing_nested_field_is_named_with_its_path() {
        let e = parse::<Body>(br#"{"email": "a", "inner": {}}"#).unwrap_err();
        assert_eq!(fields(e)[0].0, "inner.start");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse::<Body>(br#"{"email": "a", "count": 999}"#).unwrap_err();
        let f = fields(e);
        assert_eq!(f[0].0, "count");
        assert!(!f[0].1.contains("line"), "{f:?}");
    }

    #[test]
    fn a_nul_character_in_any_string_names_its_field() {
        let e = parse::<Body>(br#"{"email": "a\u0000b@example.org"}"#).unwrap_err();
        assert_eq!(fields(e)[0].0, "email");
        let e = parse::<Body>(br#"{"email": "a", "inner": {"start": "\u0000"}}"#).unwrap_err();
        assert_eq!(fields(e)[0].0, "inner.start");
        let e = parse::<serde_json::Value>(br#"{"spots": [{"note": "x"}, {"note": "\u0000"}]}"#).unwrap_err();
        assert_eq!(fields(e)[0].0, "spots[1].note");
        assert!(parse::<Body>(br#"{"email": "a\\u0000"}"#).is_ok(), "an escaped backslash is not a NUL");
    }

    #[test]
    fn broken_syntax_and_trailing_garbage_are_bad_requests() {
        assert!(matches!(parse::<Body>(br#"{"email": "#), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse::<Body>(br#"{"email": "a"} x"#), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse::<Body>(b"[1, 2]"), Err(ApiError::Validation(_))));
    }
}
