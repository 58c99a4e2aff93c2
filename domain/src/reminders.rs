//! The states and sources of reminders and their deliveries, and the push platforms, stored by their
//! snake_case names.

stored_name!(
    /// Where an occurrence came from.
    OccurrenceKind {
        /// A routine's planned firing.
        Routine = "routine",
        /// A re-reminder the user asked for.
        Snooze = "snooze",
        /// A staff broadcast.
        Broadcast = "broadcast",
        /// To a care-team member: a client may need attention (a red flag became active).
        CareAlert = "care_alert",
    }
);

stored_name!(
    /// Where an occurrence is in its life.
    OccurrenceState {
        /// Waiting for its time.
        Planned = "planned",
        /// Inside the look-ahead window: its deliveries are made, rendered and encrypted, and wait for its time.
        Staged = "staged",
        /// Handed to its deliveries.
        Sent = "sent",
        /// Its time passed while the scheduler was away, too long ago to send.
        Missed = "missed",
        /// The user marked it done.
        Done = "done",
        /// The user asked to be reminded again later.
        Snoozed = "snoozed",
        /// Its routine changed or went away before its time.
        Cancelled = "cancelled",
    }
);

stored_name!(
    /// What a reminder is about: its routine's kind, or a broadcast.
    ReminderTopic {
        Massage = "massage",
        Pump = "pump",
        MassageThenPump = "massage_then_pump",
        Broadcast = "broadcast",
        CareAlert = "care_alert",
    }
);

stored_name!(
    /// Where one delivery of an occurrence to one device stands.
    DeliveryStatus {
        /// Waiting for its first attempt.
        Pending = "pending",
        /// Failed in a way worth another attempt, which is scheduled.
        Retrying = "retrying",
        /// Made ahead of its due time, its body ready; it may not be sent before then. Changes of the account
        /// before its time remove it (un-staging).
        Staged = "staged",
        /// Accepted by the push service.
        Delivered = "delivered",
        /// Given up.
        Failed = "failed",
        /// Dropped with its device (gone, or moved to another account) before it was sent.
        Pruned = "pruned",
        /// Went stale before it could be delivered.
        Expired = "expired",
    }
);

stored_name!(
    /// A push platform: Web Push, Firebase Cloud Messaging or the Apple Push Notification service.
    Platform {
        Web = "web",
        Fcm = "fcm",
        Apns = "apns",
    }
);

impl DeliveryStatus {
    /// The states a delivery leaves no more.
    pub const FINAL: [Self; 4] = [Self::Delivered, Self::Failed, Self::Pruned, Self::Expired];
    /// The states of a delivery still to be attempted.
    pub const WAITING: [Self; 3] = [Self::Pending, Self::Retrying, Self::Staged];
}

impl From<crate::routine::RoutineKind> for ReminderTopic {
    fn from(kind: crate::routine::RoutineKind) -> Self {
        use crate::routine::RoutineKind;
        match kind {
            RoutineKind::Massage => Self::Massage,
            RoutineKind::Pump => Self::Pump,
            RoutineKind::MassageThenPump => Self::MassageThenPump,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Copy + PartialEq + std::fmt::Debug + serde::Serialize>(
        all: &[T],
        name: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for v in all.iter().copied() {
            assert_eq!(serde_json::to_value(v).unwrap(), name(v), "serde says the stored name");
            assert_eq!(parse(name(v)), Some(v));
        }
        assert_eq!(parse("sms"), None);
    }

    #[test]
    fn stored_names_are_the_serde_names_and_parse_back() {
        round_trips(OccurrenceKind::ALL, OccurrenceKind::as_str, OccurrenceKind::parse);
        round_trips(OccurrenceState::ALL, OccurrenceState::as_str, OccurrenceState::parse);
        round_trips(ReminderTopic::ALL, ReminderTopic::as_str, ReminderTopic::parse);
        round_trips(DeliveryStatus::ALL, DeliveryStatus::as_str, DeliveryStatus::parse);
        round_trips(Platform::ALL, Platform::as_str, Platform::parse);
        assert_eq!(Platform::parse("apns"), Some(Platform::Apns));
        assert_eq!(ReminderTopic::from(crate::routine::RoutineKind::MassageThenPump).as_str(), "massage_then_pump");
    }
}
