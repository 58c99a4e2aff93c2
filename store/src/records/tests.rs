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
    let rec = record::Model {
        id: Uuid::nil(),
        user_id: Uuid::nil(),
        collection: "routines".into(),
        sort_at: Utc::now(),
        side: None,
        pump_type: None,
        data: "{}".into(),
        version: 3,
        change_seq: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        deleted_at: None,
    };
    assert!(check_precondition(&None, None).is_ok());
    assert!(check_precondition(&Some(IfMatch::Any), Some(&rec)).is_ok());
    assert!(check_precondition(&Some(IfMatch::Any), None).is_err());
    assert!(check_precondition(&Some(IfMatch::Versions(vec![2, 3])), Some(&rec)).is_ok());
    assert!(check_precondition(&Some(IfMatch::Versions(vec![2])), Some(&rec)).is_err());
}

#[test]
fn collections_round_trip_by_name() {
    for c in Collection::ALL {
        assert_eq!(Collection::from_name(c.name()), Some(c));
    }
}
