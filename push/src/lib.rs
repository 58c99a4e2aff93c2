//! Push delivery to phones and browsers: Web Push with its encryption and VAPID, FCM, APNs, the SSRF guard, what
//! a provider answered, and the payload a reminder carries.

pub mod apns;
pub mod ece;
pub mod fcm;
pub mod payload;
pub mod ssrf;
pub mod vapid;
pub mod webpush;

use std::time::Duration;

/// How one push attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted the message.
    Delivered,
    /// The subscription or token no longer exists: delete the device.
    Gone { status: u16, reason: String },
    /// Try again later (408, 429, 5xx, timeout), after at least `after` when the provider said so.
    Retry { status: Option<u16>, after: Option<Duration>, reason: String },
    /// Refused for good (another 4xx); the reason is kept.
    Failed { status: Option<u16>, reason: String },
}

impl SendOutcome {
    /// What the account is told of this outcome (`None` when delivered); the detail is for the operator's log.
    pub fn failure_reason(&self) -> Option<domain::FailureReason> {
        use domain::FailureReason;
        match self {
            Self::Delivered => None,
            Self::Gone { .. } => Some(FailureReason::Gone),
            Self::Retry { status, .. } => Some(FailureReason::from_status(*status)),
            Self::Failed { status: None, .. } => Some(FailureReason::InvalidDevice),
            Self::Failed { status, .. } => Some(FailureReason::from_status(*status)),
        }
    }
}

/// What of a push service's answer goes to the operator's log: at most 200 characters, no control characters
/// (a body must not forge log lines). It never reaches the account: the user sees a [`domain::FailureReason`].
pub fn excerpt(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Parses `Retry-After`: seconds, or an HTTP date.
pub fn retry_after(value: Option<&reqwest::header::HeaderValue>, now: std::time::SystemTime) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn an_excerpt_is_short_and_on_one_line() {
        let body = format!("bad\nINFO forged line\r{}", "x".repeat(500));
        let cut = excerpt(&body);
        assert_eq!(cut.chars().count(), 200);
        assert!(cut.starts_with("badINFO forged line") && !cut.contains('\n'));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(retry_after(Some(&HeaderValue::from_static("120")), now), Some(Duration::from_secs(120)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(Some(&HeaderValue::from_str(&date).unwrap()), now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("soon")), now), None);
        assert_eq!(retry_after(None, now), None);
    }
}
