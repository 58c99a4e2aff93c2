//! Why a delivery did not arrive, as the account sees it: a reason from a closed set, never a push service's
//! own words (those go to the operator's log).

/// The reason a delivery failed or is being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FailureReason {
    /// The device's subscription or token no longer exists (404/410, UNREGISTERED); the device is removed.
    Gone,
    /// The push service asked to slow down (429).
    RateLimited,
    /// The push service refused the message (another 4xx).
    #[serde(rename = "rejected_4xx")]
    Rejected4xx,
    /// The push service failed (5xx).
    ServerError,
    /// No answer in time, or no connection (408 included).
    Timeout,
    /// The stored device cannot be sent to (its keys or endpoint are not usable).
    InvalidDevice,
    /// The reminder went stale before it could be delivered.
    Expired,
}

impl FailureReason {
    /// Every reason, for documentation and tests.
    pub const ALL: [Self; 7] = [
        Self::Gone,
        Self::RateLimited,
        Self::Rejected4xx,
        Self::ServerError,
        Self::Timeout,
        Self::InvalidDevice,
        Self::Expired,
    ];

    /// The stored and serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gone => "gone",
            Self::RateLimited => "rate_limited",
            Self::Rejected4xx => "rejected_4xx",
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::InvalidDevice => "invalid_device",
            Self::Expired => "expired",
        }
    }

    /// The reason stored as `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// The reason an HTTP answer gives (`None`: no answer at all).
    pub fn from_status(status: Option<u16>) -> Self {
        match status {
            None | Some(408) => Self::Timeout,
            Some(404 | 410) => Self::Gone,
            Some(429) => Self::RateLimited,
            Some(500..=599) => Self::ServerError,
            Some(_) => Self::Rejected4xx,
        }
    }
}

/// Whether a device's locale is one of `locales` (lower-case language tags; `de` matches `de-AT`).
pub fn locale_matches(device_locale: &str, locales: &[String]) -> bool {
    let locale = device_locale.to_lowercase().replace('_', "-");
    locales.iter().any(|l| locale == *l || locale.starts_with(&format!("{l}-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serialised_form_is_the_stored_one() {
        for r in FailureReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn statuses_map_to_reasons_and_reasons_round_trip() {
        assert_eq!(FailureReason::from_status(Some(410)), FailureReason::Gone);
        assert_eq!(FailureReason::from_status(Some(429)), FailureReason::RateLimited);
        assert_eq!(FailureReason::from_status(Some(400)), FailureReason::Rejected4xx);
        assert_eq!(FailureReason::from_status(Some(503)), FailureReason::ServerError);
        assert_eq!(FailureReason::from_status(None), FailureReason::Timeout);
        for r in FailureReason::ALL {
            assert_eq!(FailureReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(FailureReason::parse("push service answered 400: secret"), None);
    }
}
