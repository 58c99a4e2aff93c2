//! Records as the app sees them: their fields plus id, version and times; pump volumes also in oz; merge patches.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::VolumeUnit;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use store::records::{self, Collection, Record};

/// Applies a JSON merge patch to a typed value and reads the result back, naming the field that no longer fits.
pub fn merge_into<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: &Value,
) -> Result<T, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut doc = serde_json::to_value(current).map_err(anyhow::Error::from)?;
    records::merge_patch(&mut doc, patch);
    crate::extract::parse(doc.to_string().as_bytes())
}

/// A record as the app sees it: its fields plus id, version and times; pump volumes also in oz for oz users.
pub fn view(row: &Record, unit: VolumeUnit) -> Value {
    let mut obj = match row.body.as_ref().map(serde_json::to_value) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    obj.insert("id".into(), json!(row.id));
    obj.insert("version".into(), json!(row.version));
    obj.insert("created_at".into(), json!(row.created_at));
    obj.insert("updated_at".into(), json!(row.updated_at));
    if shows_oz(row.kind, unit) {
        for side in ["left", "right"] {
            if let Some(ml) = obj.get(&format!("volume_{side}_ml")).and_then(Value::as_f64) {
                let oz = (ml / VolumeUnit::ML_PER_OZ * 100.0).round() / 100.0;
                obj.insert(format!("volume_{side}_oz"), json!(oz));
            }
        }
    }
    Value::Object(obj)
}

/// Whether the user's records of `collection` show volumes in oz as well.
pub fn shows_oz(collection: Collection, unit: VolumeUnit) -> bool {
    collection == Collection::PumpSessions && unit == VolumeUnit::Oz
}

/// The unit the user reads volumes in.
pub fn unit_of(auth: &AuthUser) -> VolumeUnit {
    VolumeUnit::parse(&auth.user.volume_unit).unwrap_or_default()
}

/// Appends a listed record's JSON, the same as [`view`] gives: its typed fields serialised straight into the
/// page, then its id, version and times. Pump volumes for oz users go through [`view`].
pub fn write_listed(out: &mut String, row: &Record, oz: bool) -> serde_json::Result<()> {
    let fields = match &row.body {
        Some(body) if !oz => serde_json::to_string(body)?,
        _ => {
            let unit = if oz { VolumeUnit::Oz } else { VolumeUnit::Ml };
            out.push_str(&serde_json::to_string(&view(row, unit))?);
            return Ok(());
        }
    };
    let fields = fields.strip_prefix('{').and_then(|f| f.strip_suffix('}')).unwrap_or_default();
    out.push('{');
    out.push_str(fields);
    if !fields.is_empty() {
        out.push(',');
    }
    out.push_str("\"id\":\"");
    out.push_str(row.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    out.push_str("\",\"version\":");
    out.push_str(&row.version.to_string());
    push_instant(out, ",\"created_at\":", row.created_at);
    push_instant(out, ",\"updated_at\":", row.updated_at);
    out.push('}');
    Ok(())
}

/// Appends `"key":` and an instant as serde writes it (RFC 3339, `Z`, as many fraction digits as it needs).
///
/// Written directly, not through serde: serde passes a formatted instant through its string escaper one
/// character at a time, a cost paid for every instant of every page, and an RFC 3339 instant has nothing to
/// escape.
pub fn push_instant(out: &mut String, key: &str, at: DateTime<Utc>) {
    out.push_str(key);
    out.push('"');
    out.push_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{RecordBody, RecordKind};

    fn record(kind: RecordKind, body: Value) -> Record {
        let now = Utc::now();
        let body = RecordBody::parse(kind, &body, now).unwrap();
        Record { version: 7, ..Record::new(Uuid::now_v7(), Uuid::nil(), body, 3, now) }
    }

    #[test]
    fn a_listed_record_reads_the_same_as_its_view() {
        let now = Utc::now();
        let pump = json!({"started_at": now, "ended_at": now, "volume_left_ml": 59.147, "volume_right_ml": 0,
            "pump_type": "manual", "mode": "single", "notes": "a \"quoted\" }, {"});
        let routine = json!({"kind": "pump", "schedule": {"type": "every", "hours": 2, "window": {"start": "06:00", "end": "22:00"}}});
        for row in [record(RecordKind::PumpSessions, pump), record(RecordKind::Routines, routine)] {
            // Instants with a fraction of any length and none (serde writes as many digits as they need).
            let whole = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            let tenth = DateTime::from_timestamp_millis(1_800_000_000_100).unwrap();
            for (created_at, updated_at) in [(row.created_at, row.updated_at), (whole, tenth), (tenth, whole)] {
                let row = Record { created_at, updated_at, ..row.clone() };
                for unit in [VolumeUnit::Ml, VolumeUnit::Oz] {
                    let mut out = String::new();
                    write_listed(&mut out, &row, shows_oz(row.kind, unit)).unwrap();
                    assert_eq!(
                        serde_json::from_str::<Value>(&out).unwrap(),
                        view(&row, unit),
                        "{:?} {unit:?}",
                        row.kind
                    );
                }
            }
        }
    }

    #[test]
    fn pump_volumes_gain_an_oz_figure_for_oz_users() {
        let now = Utc::now();
        let row = record(
            RecordKind::PumpSessions,
            json!({"started_at": now, "ended_at": now, "volume_left_ml": 59.147, "volume_right_ml": 0,
                "pump_type": "manual", "mode": "single"}),
        );
        let oz = view(&row, VolumeUnit::Oz);
        assert_eq!(oz["volume_left_oz"], 2.0);
        assert_eq!(oz["version"], 7);
        assert!(view(&row, VolumeUnit::Ml).get("volume_left_oz").is_none());
    }
}
