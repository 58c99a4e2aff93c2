use super::*;
use serde_json::json;

#[test]
fn merge_patch_follows_rfc_7396() {
    let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]});
    merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}, "list": [3]}));
    assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "list": [3]}));
}

#[test]
fn preconditions_compare_versions() {
    let body = RecordBody::parse(
        RecordKind::Routines,
        &json!({"kind": "pump", "schedule": {"type": "after_last", "hours": 3}}),
        Utc::now(),
    )
    .unwrap();
    let rec = Record { version: 3, ..Record::new(Uuid::nil(), Uuid::nil(), body, 1, Utc::now()) };
    assert!(check_precondition(&None, None).is_ok());
    assert!(check_precondition(&Some(IfMatch::Any), Some(&rec)).is_ok());
    assert!(check_precondition(&Some(IfMatch::Any), None).is_err());
    assert!(check_precondition(&Some(IfMatch::Versions(vec![2, 3])), Some(&rec)).is_ok());
    assert!(check_precondition(&Some(IfMatch::Versions(vec![2])), Some(&rec)).is_err());
}

#[test]
fn a_record_round_trips_through_its_table_row() {
    use entity::{care_note, massage_session, pump_session, routine, symptom_check};
    use sea_orm::TryIntoModel;
    let now = Utc::now().trunc_subsecs(3);
    let spots = json!([{"side": "left", "quadrant": "upper_outer", "kind": "tender", "severity": 2}]);
    let bodies = [
        (
            RecordKind::MassageSessions,
            json!({"started_at": now, "duration_s": 300, "side": "both", "pressure": "light", "context": "standalone", "spots": spots, "notes": "warm"}),
        ),
        (
            RecordKind::PumpSessions,
            json!({"started_at": now, "ended_at": now, "volume_left_ml": 60.5, "volume_right_ml": 0, "pump_type": "manual", "mode": "single"}),
        ),
        (
            RecordKind::SymptomChecks,
            json!({"at": now, "engorgement": 3, "pain": 4, "spots": spots, "temperature_c": 37.2}),
        ),
        (
            RecordKind::Routines,
            json!({"name": "Morning", "kind": "massage_then_pump", "days": ["mon"], "schedule": {"type": "times", "times": ["07:00"]}}),
        ),
        (RecordKind::CareNotes, json!({"text": "Rest.", "author_id": Uuid::now_v7(), "author_name": "Jo"})),
    ];
    for (kind, body) in bodies {
        let body = RecordBody::parse(kind, &body, now).unwrap();
        for rec in [
            Record::new(Uuid::now_v7(), Uuid::nil(), body.clone(), 4, now),
            Record { body: None, deleted_at: Some(now), ..Record::new(Uuid::now_v7(), Uuid::nil(), body, 5, now) },
        ] {
            let back = match kind {
                RecordKind::MassageSessions => {
                    Record::from(massage_session::ActiveModel::from_record(&rec).try_into_model().unwrap())
                }
                RecordKind::PumpSessions => {
                    Record::from(pump_session::ActiveModel::from_record(&rec).try_into_model().unwrap())
                }
                RecordKind::SymptomChecks => {
                    Record::from(symptom_check::ActiveModel::from_record(&rec).try_into_model().unwrap())
                }
                RecordKind::Routines => Record::from(routine::ActiveModel::from_record(&rec).try_into_model().unwrap()),
                RecordKind::CareNotes => {
                    Record::from(care_note::ActiveModel::from_record(&rec).try_into_model().unwrap())
                }
            };
            assert_eq!(back, rec, "{kind:?}");
        }
    }
}
