//! One gate per push service (an endpoint's origin for Web Push; FCM; APNs): at most
//! `MILKFLOW_PUSH_MAX_IN_FLIGHT` sends in flight to it, and after a 429 a pause that holds back only its own
//! queue. Sends to the other services go on.

use chrono::{DateTime, Utc};
use entity::device;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The gates of one process's sender.
pub(super) struct Gates {
    max_in_flight: usize,
    by_service: Mutex<HashMap<String, Arc<Gate>>>,
}

/// One push service's gate.
pub(super) struct Gate {
    pub slots: Arc<Semaphore>,
    paused_until: Mutex<Option<DateTime<Utc>>>,
}

/// How long a service that answered 429 without a `Retry-After` is left alone.
pub(super) const PAUSE_WITHOUT_RETRY_AFTER: Duration = Duration::from_secs(5);

impl Gates {
    pub fn new(max_in_flight: usize) -> Self {
        Self { max_in_flight, by_service: Mutex::default() }
    }

    /// The gate of the service `device` is reached through.
    pub fn of(&self, device: Option<&device::Model>) -> Arc<Gate> {
        let service = device.map(service_of).unwrap_or_default();
        let mut gates = self.by_service.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if gates.len() >= 4096 && !gates.contains_key(&service) {
            // Push services are a handful; this only bounds what odd endpoints could pile up.
            gates.retain(|_, g| Arc::strong_count(g) > 1);
        }
        let gate = gates.entry(service).or_insert_with(|| {
            Arc::new(Gate { slots: Arc::new(Semaphore::new(self.max_in_flight)), paused_until: Mutex::default() })
        });
        gate.clone()
    }
}

impl Gate {
    /// How much longer, at `now`, the service asked to be left alone, if it did. (The tick's clock, as the
    /// retries it schedules.)
    pub fn paused_for(&self, now: DateTime<Utc>) -> Option<Duration> {
        let until = (*self.paused_until.lock().unwrap_or_else(|p| p.into_inner()))?;
        (until - now).to_std().ok().filter(|left| !left.is_zero())
    }

    /// Holds this service's queue back for `pause` (a 429's `Retry-After`) from `now`.
    pub fn pause(&self, now: DateTime<Utc>, pause: Duration) {
        let mut until = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        let end = now + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::hours(1));
        if until.is_none_or(|u| u < end) {
            *until = Some(end);
        }
    }
}

/// The push service a device is reached through: its endpoint's origin (Web Push), or its provider.
fn service_of(device: &device::Model) -> String {
    use domain::reminders::Platform;
    match device.platform {
        Platform::Web => match reqwest::Url::parse(&device.target) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(_) => String::new(),
        },
        other => other.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_kept_until_its_end_and_never_shortened() {
        let gates = Gates::new(2);
        let gate = gates.of(None);
        let now = Utc::now();
        assert_eq!(gate.paused_for(now), None);
        gate.pause(now, Duration::from_secs(30));
        gate.pause(now, Duration::from_secs(1));
        assert_eq!(gate.paused_for(now + chrono::Duration::seconds(10)), Some(Duration::from_secs(20)));
        assert_eq!(gate.paused_for(now + chrono::Duration::seconds(30)), None);
        assert_eq!(gate.slots.available_permits(), 2);
        assert!(Arc::ptr_eq(&gate, &gates.of(None)));
    }
}
