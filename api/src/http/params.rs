//! Query parameters and path ids: instants, page limits, keyset cursors, record ids.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

use crate::error::ApiError;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// A record id from the path; anything that is not a UUID names no record of the user's.
pub fn record_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

/// An opaque keyset cursor for lists ordered by (time, id), newest first.
pub fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", at.timestamp_millis(), id))
}

/// The (time, id) of a cursor from [`encode_cursor`]; `None` for anything else.
pub fn decode_cursor(raw: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (millis, id) = text.split_once(':')?;
    Some((DateTime::from_timestamp_millis(millis.parse().ok()?)?, Uuid::parse_str(id).ok()?))
}

/// Reads a query parameter as an RFC 3339 instant (a bare `YYYY-MM-DD` means midnight UTC), recording an error
/// under its name.
pub fn instant_param(
    params: &HashMap<String, String>,
    name: &str,
    v: &mut domain::Violations,
) -> Option<DateTime<Utc>> {
    let raw = params.get(name)?;
    let parsed = DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
    });
    v.check(name, parsed.ok_or_else(|| "must be an RFC 3339 date-time such as 2027-01-01T00:00:00Z".to_owned()))
}

/// Reads `limit` (1 to `max`, default `default`).
pub fn limit_param(params: &HashMap<String, String>, default: u64, max: u64, v: &mut domain::Violations) -> u64 {
    match params.get("limit") {
        None => default,
        Some(raw) => v
            .check(
                "limit",
                raw.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or(format!("must be a whole number from 1 to {max}")),
            )
            .unwrap_or(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_accept_rfc_3339_and_bare_dates() {
        let params: HashMap<String, String> = [
            ("a".to_owned(), "2027-01-02T03:04:05+01:00".to_owned()),
            ("b".to_owned(), "2027-01-02".to_owned()),
            ("c".to_owned(), "yesterday".to_owned()),
        ]
        .into();
        let mut v = domain::Violations::new();
        assert_eq!(instant_param(&params, "a", &mut v).unwrap().to_rfc3339(), "2027-01-02T02:04:05+00:00");
        assert_eq!(instant_param(&params, "b", &mut v).unwrap().to_rfc3339(), "2027-01-02T00:00:00+00:00");
        assert!(instant_param(&params, "c", &mut v).is_none());
        assert_eq!(v.finish().unwrap_err()[0].field, "c");
    }

    #[test]
    fn cursor_round_trips_and_garbage_is_refused() {
        let (at, id) = (DateTime::from_timestamp_millis(1_800_000_000_123).unwrap(), Uuid::now_v7());
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }
}
