use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-01-04T12:00:00Z").unwrap().with_timezone(&Utc)
}

fn fields(e: Vec<FieldError>) -> Vec<String> {
    e.into_iter().map(|f| f.field).collect()
}

#[test]
fn a_valid_massage_session_parses() {
    let m = MassageSession::parse(
        &json!({"started_at": "2027-01-04T07:00:00Z", "duration_s": 300, "side": "both", "pressure": "light",
                "guide": "gentle-everyday-massage", "context": "before_pumping",
                "spots": [{"side": "left", "quadrant": "upper_outer", "kind": "tender", "severity": 2}]}),
        now(),
    )
    .unwrap();
    assert_eq!(m.spots.len(), 1);
    assert_eq!(m.context, MassageContext::BeforePumping);
}

#[test]
fn every_bad_massage_field_is_named() {
    let e = MassageSession::parse(
        &json!({"started_at": "2027-01-04T12:06:00Z", "duration_s": 14_401, "side": "middle", "pressure": "deep",
                "guide": "Not A Slug", "context": "standalone", "notes": "x".repeat(2001),
                "spots": [{"side": "both", "quadrant": "upper_outer", "kind": "lump", "severity": 6}]}),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        fields(e),
        vec![
            "started_at",
            "duration_s",
            "side",
            "pressure",
            "guide",
            "spots[0].side",
            "spots[0].kind",
            "spots[0].severity",
            "notes"
        ]
    );
}

#[test]
fn start_within_five_minutes_of_now_is_accepted() {
    let body = |at: &str| json!({"started_at": at, "duration_s": 60, "side": "left", "pressure": "light", "context": "standalone"});
    assert!(MassageSession::parse(&body("2027-01-04T12:05:00Z"), now()).is_ok());
    assert!(MassageSession::parse(&body("2027-01-04T12:05:01Z"), now()).is_err());
}

#[test]
fn pump_end_before_start_and_sessions_over_four_hours_are_refused() {
    let body = |end: &str| {
        json!({"started_at": "2027-01-04T07:00:00Z", "ended_at": end, "volume_left_ml": 10,
        "volume_right_ml": 0, "pump_type": "manual", "mode": "single"})
    };
    assert_eq!(fields(PumpSession::parse(&body("2027-01-04T06:59:00Z"), now()).unwrap_err()), vec!["ended_at"]);
    assert_eq!(fields(PumpSession::parse(&body("2027-01-04T11:00:01Z"), now()).unwrap_err()), vec!["ended_at"]);
    let ok = PumpSession::parse(&body("2027-01-04T11:00:00Z"), now()).unwrap();
    assert_eq!(ok.side, Side::Left, "single pumping with milk only on the left is the left side");
}

#[test]
fn pump_volumes_are_bounded_and_side_is_derived() {
    let e = PumpSession::parse(
        &json!({"started_at": "2027-01-04T07:00:00Z", "ended_at": "2027-01-04T07:20:00Z", "volume_left_ml": -1,
                "volume_right_ml": 1000.5, "pump_type": "foot", "mode": "double"}),
        now(),
    )
    .unwrap_err();
    assert_eq!(fields(e), vec!["volume_left_ml", "volume_right_ml", "pump_type"]);
    let p = PumpSession::parse(
        &json!({"started_at": "2027-01-04T07:00:00Z", "ended_at": "2027-01-04T07:20:00Z", "volume_left_ml": 0,
                "volume_right_ml": 1000, "pump_type": "electric", "mode": "double"}),
        now(),
    )
    .unwrap();
    assert_eq!((p.side, p.total_ml(), p.with_massage()), (Side::Both, 1000.0, false));
}

#[test]
fn symptom_check_ranges_are_enforced_at_their_edges() {
    let body = |eng: i64, pain: i64, temp: f64| json!({"at": "2027-01-04T08:00:00Z", "engorgement": eng, "pain": pain, "temperature_c": temp});
    assert!(SymptomCheck::parse(&body(1, 0, 34.0), now()).is_ok());
    assert!(SymptomCheck::parse(&body(5, 10, 43.0), now()).is_ok());
    let e = SymptomCheck::parse(&body(0, 11, 43.1), now()).unwrap_err();
    assert_eq!(fields(e), vec!["engorgement", "pain", "temperature_c"]);
    let e = SymptomCheck::parse(&body(6, -1, 33.9), now()).unwrap_err();
    assert_eq!(fields(e), vec!["engorgement", "pain", "temperature_c"]);
}
