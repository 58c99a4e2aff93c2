//! Records as the app sees them: their fields plus id, version and times; pump volumes also in oz; merge patches.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::VolumeUnit;
use entity::record;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use store::records::{self, Collection};

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
pub fn view(row: &record::Model, unit: VolumeUnit) -> Value {
    let oz = Collection::from_name(&row.collection).is_some_and(|c| shows_oz(c, unit));
    view_of(&row.data, row.id, row.version, row.created_at, row.updated_at, oz)
}

/// [`view`] from a record's parts; `oz` adds the oz figures of pump volumes.
pub fn view_of(
    data: &str,
    id: Uuid,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    oz: bool,
) -> Value {
    let mut obj = match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    obj.insert("id".into(), json!(id));
    obj.insert("version".into(), json!(version));
    obj.insert("created_at".into(), json!(created_at));
    obj.insert("updated_at".into(), json!(updated_at));
    if oz {
        for side in ["left", "right"] {
            if let Some(ml) = obj.get(&format!("volume_{side}_ml")).and_then(Value::as_f64) {
                let oz = (ml / VolumeUnit::ML_PER_OZ * 100.0).round() / 100.0;
                obj.insert(format!("volume_{side}_oz"), json!(oz));
            }
        }
    }
    Value::Object(obj)
}

/// Whether her records of `collection` show volumes in oz as well.
pub fn shows_oz(collection: Collection, unit: VolumeUnit) -> bool {
    collection == Collection::PumpSessions && unit == VolumeUnit::Oz
}

/// The unit she reads volumes in.
pub fn unit_of(auth: &AuthUser) -> VolumeUnit {
    VolumeUnit::parse(&auth.user.volume_unit).unwrap_or_default()
}

/// Appends a listed record's JSON, the same as [`view`] gives: its stored fields, which this service wrote as one
/// JSON object, are copied as they are, not parsed and written again. Pump volumes for oz users need the parse.
pub fn write_listed(out: &mut String, row: &records::Listed, oz: bool) -> serde_json::Result<()> {
    let stored = row.data.trim();
    if oz || !(stored.starts_with('{') && stored.ends_with('}')) {
        let view = view_of(&row.data, row.id, row.version, row.created_at, row.updated_at, oz);
        out.push_str(&serde_json::to_string(&view)?);
        return Ok(());
    }
    let fields = stored[1..stored.len() - 1].trim();
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
/// character at a time, which a profile of a page of 50 put at 9% of the API's CPU. An RFC 3339 instant
/// has nothing to escape.
pub fn push_instant(out: &mut String, key: &str, at: DateTime<Utc>) {
    out.push_str(key);
    out.push('"');
    out.push_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_record_reads_the_same_as_its_view() {
        let now = Utc::now();
        for (collection, data) in [
            (Collection::PumpSessions, json!({"volume_left_ml": 59.147, "notes": "a \"quoted\" }, {", "side": "both"})),
            (Collection::SymptomChecks, json!({})),
        ] {
            let row = record::Model {
                id: Uuid::now_v7(),
                user_id: Uuid::nil(),
                collection: collection.name().into(),
                sort_at: now,
                side: None,
                pump_type: None,
                data: data.to_string(),
                version: 7,
                change_seq: 3,
                created_at: now - chrono::Duration::milliseconds(1500),
                updated_at: now,
                deleted_at: None,
            };
            // Instants with a fraction of any length and none (serde writes as many digits as they need).
            let whole = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            let tenth = DateTime::from_timestamp_millis(1_800_000_000_100).unwrap();
            for (created_at, updated_at) in [(row.created_at, row.updated_at), (whole, tenth), (tenth, whole)] {
                let row = record::Model { created_at, updated_at, ..row.clone() };
                let listed = records::Listed {
                    id: row.id,
                    sort_at: row.sort_at,
                    data: row.data.clone(),
                    version: row.version,
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                };
                for unit in [VolumeUnit::Ml, VolumeUnit::Oz] {
                    let mut out = String::new();
                    write_listed(&mut out, &listed, shows_oz(collection, unit)).unwrap();
                    assert_eq!(
                        serde_json::from_str::<Value>(&out).unwrap(),
                        view(&row, unit),
                        "{collection:?} {unit:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn pump_volumes_gain_an_oz_figure_for_oz_users() {
        let row = record::Model {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            collection: "pump_sessions".into(),
            sort_at: Utc::now(),
            side: None,
            pump_type: None,
            data: json!({"volume_left_ml": 59.147, "volume_right_ml": 0.0}).to_string(),
            version: 2,
            change_seq: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
        };
        let oz = view(&row, VolumeUnit::Oz);
        assert_eq!(oz["volume_left_oz"], 2.0);
        assert_eq!(oz["version"], 2);
        assert!(view(&row, VolumeUnit::Ml).get("volume_left_oz").is_none());
    }
}
