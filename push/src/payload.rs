//! What a reminder says: gentle wording from the product's guidance, in the device's locale.

use serde::Serialize;
use uuid::Uuid;

/// The JSON a device receives (at most 4 KiB).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reminder {
    #[serde(rename = "type")]
    pub kind_of_message: &'static str,
    /// The routine's kind (`massage`, `pump`, `massage_then_pump`), or `broadcast`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routine_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast_id: Option<Uuid>,
    /// For a care alert: the client to look at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
    pub occurrence_id: Uuid,
    pub title: String,
    pub body: String,
    pub actions: Vec<&'static str>,
}

/// Texts per language: (title, body) for massage, pump, massage-then-pump, and the gentle pump body used
/// while an inflammation advisory is active.
struct Texts {
    massage: (&'static str, &'static str),
    pump: (&'static str, &'static str),
    both: (&'static str, &'static str),
    gentle_pump: &'static str,
}

const EN: Texts = Texts {
    massage: ("Time for a gentle massage", "A few minutes of light circles, from the outer breast toward the nipple."),
    pump: ("Time to pump", "A gentle massage before and during pumping can help your milk flow."),
    both: ("Massage, then pump", "Start with light circles toward the nipple, then pump at your own pace."),
    gentle_pump: "Keep your usual rhythm, gently: no extra pumping. Light strokes and a cold compress can ease a tender spot.",
};

const DE: Texts = Texts {
    massage: ("Zeit für eine sanfte Massage", "Ein paar Minuten leichte Kreise, von außen zur Brustwarze hin."),
    pump: ("Zeit zum Abpumpen", "Eine sanfte Massage vor und während des Abpumpens kann den Milchfluss fördern."),
    both: ("Massage, dann abpumpen", "Beginne mit leichten Kreisen zur Brustwarze hin, dann pumpe in deinem Tempo ab."),
    gentle_pump: "Bleib sanft bei deinem gewohnten Rhythmus: kein zusätzliches Abpumpen. Leichte Streichbewegungen und Kühlen können eine empfindliche Stelle lindern.",
};

/// The reminder for one occurrence, in `locale` (English when the language is not known).
pub fn reminder(kind: &str, routine_id: Uuid, occurrence_id: Uuid, locale: &str, inflammation: bool) -> Reminder {
    let texts = if locale.to_ascii_lowercase().starts_with("de") { &DE } else { &EN };
    let (title, mut body) = match kind {
        "massage" => texts.massage,
        "pump" => texts.pump,
        _ => texts.both,
    };
    if inflammation && kind != "massage" {
        body = texts.gentle_pump;
    }
    Reminder {
        kind_of_message: "reminder",
        kind: kind.to_owned(),
        routine_id: Some(routine_id),
        broadcast_id: None,
        client_id: None,
        occurrence_id,
        title: title.to_owned(),
        body: body.to_owned(),
        actions: vec!["done", "snooze"],
    }
}

/// A reminder of the owner's as a care-team member with `reminders:receive` gets it: the same words (never the
/// gentle wording that would hint at the owner's health), and no actions (done and snooze are the owner's).
pub fn for_care_team(mut reminder: Reminder) -> Reminder {
    reminder.kind_of_message = "care_team_reminder";
    reminder.actions.clear();
    reminder
}

/// A care alert to a member of a client's care team: that the client may need attention, naming no symptom (it
/// shows on a lock screen); the app fetches the client's advisories, which the grant allows.
pub fn care_alert(client_id: Uuid, occurrence_id: Uuid, locale: &str) -> Reminder {
    let (title, body) = if locale.to_ascii_lowercase().starts_with("de") {
        ("Eine Klientin braucht vielleicht deine Aufmerksamkeit", "Öffne milkflow, um zu sehen, was sie teilt.")
    } else {
        ("A client may need your attention", "Open milkflow to see what they share with you.")
    };
    Reminder {
        kind_of_message: "care_alert",
        kind: "care_alert".into(),
        routine_id: None,
        broadcast_id: None,
        client_id: Some(client_id),
        occurrence_id,
        title: title.to_owned(),
        body: body.to_owned(),
        actions: vec![],
    }
}

/// A message from staff, as staff wrote it.
pub fn broadcast(broadcast_id: Uuid, occurrence_id: Uuid, title: &str, body: &str) -> Reminder {
    Reminder {
        kind_of_message: "broadcast",
        kind: "broadcast".into(),
        routine_id: None,
        broadcast_id: Some(broadcast_id),
        client_id: None,
        occurrence_id,
        title: title.to_owned(),
        body: body.to_owned(),
        actions: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_are_gentle_localised_and_small() {
        let r = reminder("pump", Uuid::nil(), Uuid::nil(), "en-GB", false);
        assert_eq!(r.title, "Time to pump");
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"type\":\"reminder\"") && json.contains("\"actions\":[\"done\",\"snooze\"]"));
        assert!(json.len() < 4096);
        assert_eq!(reminder("massage", Uuid::nil(), Uuid::nil(), "de-AT", false).title, "Zeit für eine sanfte Massage");
        assert_eq!(reminder("massage", Uuid::nil(), Uuid::nil(), "fr", false).title, "Time for a gentle massage");
    }

    #[test]
    fn inflammation_makes_pump_reminders_say_no_extra_pumping() {
        let r = reminder("massage_then_pump", Uuid::nil(), Uuid::nil(), "en", true);
        assert!(r.body.contains("no extra pumping"));
        let m = reminder("massage", Uuid::nil(), Uuid::nil(), "en", true);
        assert!(!m.body.contains("pumping"));
    }
}
