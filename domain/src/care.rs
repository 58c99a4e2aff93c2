//! Care-team sharing: what a member of the owner's care team may see and do, the invitation code that brings
//! one in, and the notes a member writes for the owner.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::fields::FieldReader;
use crate::validation::FieldError;

stored_name!(
    /// One thing a grant allows.
    Scope {
        /// The massage and pump sessions and symptom checks.
        LogsRead = "logs:read",
        /// Daily stats and the massage-effect insight.
        StatsRead = "stats:read",
        /// The active advisories (red flags).
        AdvisoriesRead = "advisories:read",
        /// A push, naming no symptom, when a red flag becomes active.
        AdvisoriesNotify = "advisories:notify",
        /// Notes the owner reads among the owner's records.
        NotesWrite = "notes:write",
        /// Routines the owner may accept or decline.
        RoutinesSuggest = "routines:suggest",
        /// The owner's reminders on the member's devices too.
        RemindersReceive = "reminders:receive",
    }
);

stored_name!(
    /// Who a member is to the owner: a preset of scopes to start from.
    CareRole {
        /// A lactation consultant (IBCLC) or another clinician.
        Consultant = "consultant",
        /// A partner or another helper at home.
        Partner = "partner",
    }
);

impl CareRole {
    /// The scopes a grant of this role starts with.
    pub fn preset(self) -> &'static [Scope] {
        match self {
            Self::Consultant => &[
                Scope::LogsRead,
                Scope::StatsRead,
                Scope::AdvisoriesRead,
                Scope::AdvisoriesNotify,
                Scope::NotesWrite,
                Scope::RoutinesSuggest,
            ],
            Self::Partner => &[Scope::StatsRead, Scope::RemindersReceive],
        }
    }
}

/// Scopes as given by a client: each known, none twice, sorted; an error names the first unknown one.
pub fn parse_scopes(raw: &[String]) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::with_capacity(raw.len());
    for s in raw {
        let scope = Scope::parse(s.trim()).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            format!("'{s}' is not one of: {}", known.join(", "))
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("must name at least one scope".into());
    }
    scopes.sort_by_key(|s| s.as_str());
    Ok(scopes)
}

/// The letters of invitation codes: Crockford's base 32, without the ones read alike (I, L, O, U).
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The invitation code of eight random bytes: eight characters (40 bits, each byte's low five) written
/// `XXXX-XXXX`.
pub fn invitation_code(random: [u8; 8]) -> String {
    let chars: String = random.iter().map(|b| CODE_ALPHABET[usize::from(b % 32)] as char).collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A code as typed, in its one stored form: upper case, without spaces or dashes, `O` read as `0`, `I` and
/// `L` as `1`; `None` when it cannot be a code.
pub fn normalise_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    (code.len() == 8 && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

stored_name!(
    /// Where a routine a member suggested stands.
    SuggestionStatus {
        /// Waiting for the owner.
        Pending = "pending",
        /// The owner took it: a routine was made from it.
        Accepted = "accepted",
        /// The owner said no.
        Declined = "declined",
    }
);

/// A note a care-team member wrote for the owner; kept among the owner's records (and synced with them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CareNote {
    /// At most 4,000 characters.
    #[cfg_attr(feature = "openapi", schema(example = "Try the laid-back position before the 6 a.m. pump."))]
    pub text: String,
    /// The member who wrote it.
    pub author_id: Uuid,
    /// The member's name (or address) when it was written.
    pub author_name: String,
}

impl CareNote {
    /// The longest note.
    pub const MAX_CHARS: usize = 4_000;

    /// Reads a note as the server writes it: the member's `text`, and the author the server adds.
    pub fn parse(body: &Value) -> Result<Self, Vec<FieldError>> {
        let mut r = FieldReader::new(body)?;
        let text: Option<String> = r.required("text");
        let text = r.check(
            "text",
            text.map(|t| t.trim().to_owned()),
            |t| !t.is_empty() && t.chars().count() <= Self::MAX_CHARS,
            "must be 1 to 4,000 characters",
        );
        let (author_id, author_name) = (r.required("author_id"), r.required("author_name"));
        let value = (|| Some(Self { text: text?, author_id: author_id?, author_name: author_name? }))();
        r.finish(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_has_text_and_its_author() {
        let author = Uuid::now_v7();
        let note = CareNote::parse(&serde_json::json!({"text": "  rest  ", "author_id": author, "author_name": "Jo"}));
        assert_eq!(note.unwrap(), CareNote { text: "rest".into(), author_id: author, author_name: "Jo".into() });
        let long = "x".repeat(CareNote::MAX_CHARS + 1);
        let bad = CareNote::parse(&serde_json::json!({"text": long, "author_id": author, "author_name": "Jo"}));
        assert_eq!(bad.unwrap_err()[0].field, "text");
        assert!(CareNote::parse(&serde_json::json!({"text": " ", "author_id": author, "author_name": "Jo"})).is_err());
    }

    #[test]
    fn presets_follow_the_roles() {
        assert_eq!(CareRole::Partner.preset(), &[Scope::StatsRead, Scope::RemindersReceive]);
        assert!(CareRole::Consultant.preset().contains(&Scope::LogsRead));
        assert!(!CareRole::Consultant.preset().contains(&Scope::RemindersReceive));
    }

    #[test]
    fn scopes_are_checked_deduplicated_and_sorted() {
        let raw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_scopes(&raw(&["stats:read", "logs:read", "stats:read"])),
            Ok(vec![Scope::LogsRead, Scope::StatsRead])
        );
        assert!(parse_scopes(&raw(&["logs:write"])).unwrap_err().contains("'logs:write'"));
        assert!(parse_scopes(&[]).is_err());
    }

    #[test]
    fn a_code_reads_back_however_it_is_typed() {
        let code = invitation_code([0, 31, 8, 40, 200, 17, 255, 3]);
        assert_eq!(code, "0Z88-8HZ3");
        assert_eq!(code.len(), 9);
        let stored = normalise_code(&code).unwrap();
        assert_eq!(normalise_code(&code.to_lowercase().replace('-', " ")), Some(stored.clone()));
        assert_eq!(normalise_code("abcd-efgo"), Some("ABCDEFG0".into()));
        assert_eq!(normalise_code("ABCD-EFG"), None);
        assert_eq!(normalise_code("ABCD-EFGU"), None);
    }
}
