//! Red flags in the user's symptom checks and massage logs, each an advisory to contact a clinician: never a diagnosis.
//!
//! Thresholds follow the Academy of Breastfeeding Medicine's Clinical Protocol #36 (2022), University of Iowa
//! Health Care's *Management of Mastitis* and BMJ Best Practice's *Mastitis*.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

use crate::logs::{Spot, SpotKind, SymptomCheck};

/// A logged entry with its id.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub id: String,
    pub item: T,
}

/// A massage session's time and spots, as the rules need them.
#[derive(Debug, Clone)]
pub struct MassageSpots {
    pub at: DateTime<Utc>,
    pub spots: Vec<Spot>,
}

/// The entry an advisory rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trigger {
    /// `symptom_checks` or `massage_sessions`.
    pub collection: &'static str,
    pub id: String,
    pub at: DateTime<Utc>,
}

/// A red flag: what fired, what to do, on which entries, on whose guidance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Advisory {
    /// `fever`, `flu_like`, `not_improving`, `spreading`, `persistent_lump` or `worsening`.
    pub rule: &'static str,
    pub title: &'static str,
    pub message: &'static str,
    pub triggered_by: Vec<Trigger>,
    pub sources: Vec<&'static str>,
}

/// Fever threshold, °C (100.4 °F).
pub const FEVER_C: f64 = 38.0;
/// How long a symptom-check advisory stays active.
pub const ACTIVE_FOR: Duration = Duration::hours(72);
/// Gentle care this long without improvement fires `not_improving`.
pub const NOT_IMPROVING_AFTER: Duration = Duration::hours(24);
/// The same lump on this many days within [`LUMP_WINDOW_DAYS`] fires `persistent_lump`.
pub const LUMP_DAYS: usize = 3;
pub const LUMP_WINDOW_DAYS: i64 = 7;
/// A pain rise this large within [`WORSENING_WITHIN`] fires `worsening`.
pub const WORSENING_PAIN_RISE: u8 = 3;
pub const WORSENING_WITHIN: Duration = Duration::hours(24);

const ABM_36: &str = "Academy of Breastfeeding Medicine, Clinical Protocol #36: The Mastitis Spectrum, Revised 2022 (doi:10.1089/bfm.2022.29207.kbm)";
const IOWA: &str = "University of Iowa Health Care, Management of Mastitis";
const BMJ: &str = "BMJ Best Practice, Mastitis: antibiotics are considered when symptoms last more than 12-24 hours or come with fever";
const CONTACT: &str = "Please contact your lactation consultant or clinician. Meanwhile keep feeding or pumping at your usual rhythm, use only light strokes and cold compresses, and do not pump extra.";

fn trigger(c: &Entry<SymptomCheck>) -> Trigger {
    Trigger { collection: "symptom_checks", id: c.id.clone(), at: c.item.at }
}

fn concern(c: &SymptomCheck) -> bool {
    c.redness || c.spots.iter().any(|s| s.kind == SpotKind::Hard)
}

fn areas(c: &SymptomCheck) -> BTreeSet<(u8, u8)> {
    c.spots.iter().map(|s| (s.side as u8, s.quadrant as u8)).collect()
}

/// Every active advisory at `now`, from the user's symptom checks and massage sessions (any order).
pub fn evaluate(
    tz: Tz,
    now: DateTime<Utc>,
    checks: &[Entry<SymptomCheck>],
    massages: &[Entry<MassageSpots>],
) -> Vec<Advisory> {
    let mut checks: Vec<&Entry<SymptomCheck>> =
        checks.iter().filter(|c| c.item.at <= now && now - c.item.at <= ACTIVE_FOR).collect();
    checks.sort_by_key(|c| c.item.at);
    let mut out = Vec::new();

    let fevers: Vec<Trigger> =
        checks.iter().filter(|c| c.item.temperature_c.is_some_and(|t| t >= FEVER_C)).map(|c| trigger(c)).collect();
    if !fevers.is_empty() {
        out.push(Advisory {
            rule: "fever",
            title: "A temperature of 38 °C (100.4 °F) or more",
            message: CONTACT,
            triggered_by: fevers,
            sources: vec![ABM_36, BMJ, IOWA],
        });
    }
    let flu: Vec<Trigger> = checks.iter().filter(|c| c.item.flu_like).map(|c| trigger(c)).collect();
    if !flu.is_empty() {
        out.push(Advisory {
            rule: "flu_like",
            title: "Chills or flu-like feelings",
            message: CONTACT,
            triggered_by: flu,
            sources: vec![ABM_36, BMJ, IOWA],
        });
    }

    let mut not_improving = None;
    let mut spreading = None;
    let mut worsening = None;
    for (i, earlier) in checks.iter().enumerate() {
        for later in &checks[i + 1..] {
            let gap = later.item.at - earlier.item.at;
            if not_improving.is_none()
                && concern(&earlier.item)
                && concern(&later.item)
                && gap >= NOT_IMPROVING_AFTER
                && later.item.pain >= earlier.item.pain
            {
                not_improving = Some(vec![trigger(earlier), trigger(later)]);
            }
            if spreading.is_none()
                && earlier.item.redness
                && later.item.redness
                && gap <= Duration::hours(48)
                && areas(&later.item).len() > areas(&earlier.item).len()
                && areas(&earlier.item).is_subset(&areas(&later.item))
            {
                spreading = Some(vec![trigger(earlier), trigger(later)]);
            }
            if worsening.is_none()
                && gap <= WORSENING_WITHIN
                && later.item.pain >= earlier.item.pain.saturating_add(WORSENING_PAIN_RISE)
            {
                worsening = Some(vec![trigger(earlier), trigger(later)]);
            }
        }
    }
    if let Some(t) = not_improving {
        out.push(Advisory {
            rule: "not_improving",
            title: "A red or hard, painful area that has not improved after 24 hours",
            message: CONTACT,
            triggered_by: t,
            sources: vec![ABM_36, BMJ, IOWA],
        });
    }
    if let Some(t) = spreading {
        out.push(Advisory {
            rule: "spreading",
            title: "A red area that is spreading",
            message: CONTACT,
            triggered_by: t,
            sources: vec![ABM_36, IOWA],
        });
    }
    if let Some(t) = worsening {
        out.push(Advisory {
            rule: "worsening",
            title: "Pain that is getting worse quickly",
            message: CONTACT,
            triggered_by: t,
            sources: vec![ABM_36, IOWA],
        });
    }
    if let Some(t) = persistent_lump(tz, now, &checks, massages) {
        out.push(Advisory {
            rule: "persistent_lump",
            title: "The same hard spot logged on several days",
            message: CONTACT,
            triggered_by: t,
            sources: vec![ABM_36, IOWA],
        });
    }
    out
}

/// The same hard spot (side and quadrant) on [`LUMP_DAYS`] local days within [`LUMP_WINDOW_DAYS`].
fn persistent_lump(
    tz: Tz,
    now: DateTime<Utc>,
    checks: &[&Entry<SymptomCheck>],
    massages: &[Entry<MassageSpots>],
) -> Option<Vec<Trigger>> {
    let window = Duration::days(LUMP_WINDOW_DAYS);
    let mut by_area: BTreeMap<(u8, u8), BTreeMap<NaiveDate, Trigger>> = BTreeMap::new();
    let mut note = |spots: &[Spot], t: Trigger| {
        if t.at > now || now - t.at > window {
            return;
        }
        for s in spots.iter().filter(|s| s.kind == SpotKind::Hard) {
            let day = t.at.with_timezone(&tz).date_naive();
            by_area.entry((s.side as u8, s.quadrant as u8)).or_default().entry(day).or_insert_with(|| t.clone());
        }
    };
    for c in checks {
        note(&c.item.spots, trigger(c));
    }
    for m in massages {
        note(&m.item.spots, Trigger { collection: "massage_sessions", id: m.id.clone(), at: m.item.at });
    }
    by_area.into_values().find(|days| days.len() >= LUMP_DAYS).map(|days| days.into_values().collect())
}

/// Whether any advisory signals inflammation: then reminders must not push extra pumping.
pub fn inflammation_active(advisories: &[Advisory]) -> bool {
    !advisories.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Quadrant, Side};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn check(id: &str, when: &str, pain: u8) -> Entry<SymptomCheck> {
        Entry {
            id: id.into(),
            item: SymptomCheck {
                at: at(when),
                engorgement: 2,
                pain,
                spots: vec![],
                redness: false,
                temperature_c: None,
                flu_like: false,
                notes: None,
            },
        }
    }

    fn hard(side: Side, quadrant: Quadrant) -> Spot {
        Spot { side, quadrant, kind: SpotKind::Hard, severity: 3 }
    }

    const NOW: &str = "2027-01-10T12:00:00Z";

    fn rules(checks: &[Entry<SymptomCheck>], massages: &[Entry<MassageSpots>]) -> Vec<&'static str> {
        evaluate(chrono_tz::UTC, at(NOW), checks, massages).into_iter().map(|a| a.rule).collect()
    }

    #[test]
    fn fever_starts_at_38_0() {
        let mut c = check("a", "2027-01-10T08:00:00Z", 2);
        c.item.temperature_c = Some(37.9);
        assert!(rules(&[c.clone()], &[]).is_empty());
        c.item.temperature_c = Some(38.0);
        let advisories = evaluate(chrono_tz::UTC, at(NOW), &[c], &[]);
        assert_eq!(advisories[0].rule, "fever");
        assert_eq!(advisories[0].triggered_by[0].id, "a");
        assert!(advisories[0].message.contains("contact your lactation consultant or clinician"));
        assert!(advisories[0].sources.iter().any(|s| s.contains("Protocol #36")));
    }

    #[test]
    fn flu_like_feelings_fire() {
        let mut c = check("a", "2027-01-10T08:00:00Z", 2);
        c.item.flu_like = true;
        assert_eq!(rules(&[c], &[]), vec!["flu_like"]);
    }

    #[test]
    fn checks_older_than_72_hours_no_longer_fire() {
        let mut c = check("a", "2027-01-07T11:59:00Z", 2);
        c.item.temperature_c = Some(39.0);
        assert!(rules(&[c.clone()], &[]).is_empty());
        c.item.at = at("2027-01-07T12:00:00Z");
        assert_eq!(rules(&[c], &[]), vec!["fever"]);
    }

    #[test]
    fn redness_not_improving_fires_at_24_hours_unless_pain_eased() {
        let mut first = check("a", "2027-01-09T08:00:00Z", 4);
        first.item.redness = true;
        let mut later = check("b", "2027-01-10T07:59:00Z", 4);
        later.item.redness = true;
        assert!(rules(&[first.clone(), later.clone()], &[]).is_empty(), "23 h 59 min is not yet 24 hours");
        later.item.at = at("2027-01-10T08:00:00Z");
        assert_eq!(rules(&[later.clone(), first.clone()], &[]), vec!["not_improving"]);
        later.item.pain = 3;
        assert!(rules(&[first, later], &[]).is_empty(), "pain eased: improving");
    }

    #[test]
    fn a_red_area_covering_more_quadrants_is_spreading() {
        let mut first = check("a", "2027-01-10T06:00:00Z", 3);
        first.item.redness = true;
        first.item.spots =
            vec![Spot { side: Side::Left, quadrant: Quadrant::UpperOuter, kind: SpotKind::Tender, severity: 2 }];
        let mut later = check("b", "2027-01-10T10:00:00Z", 3);
        later.item.redness = true;
        later.item.spots = first.item.spots.clone();
        assert!(rules(&[first.clone(), later.clone()], &[]).is_empty(), "same area");
        later.item.spots.push(Spot {
            side: Side::Left,
            quadrant: Quadrant::LowerOuter,
            kind: SpotKind::Tender,
            severity: 2,
        });
        assert_eq!(rules(&[first, later], &[]), vec!["spreading"]);
    }

    #[test]
    fn pain_rising_by_three_within_a_day_is_worsening() {
        let (a, mut b) = (check("a", "2027-01-10T01:00:00Z", 2), check("b", "2027-01-10T11:00:00Z", 4));
        assert!(rules(&[a.clone(), b.clone()], &[]).is_empty(), "+2 is not fast worsening");
        b.item.pain = 5;
        assert_eq!(rules(&[a.clone(), b.clone()], &[]), vec!["worsening"]);
        let mut c = a.clone();
        c.item.at = at("2027-01-09T10:59:00Z");
        assert!(rules(&[c, b], &[]).is_empty(), "more than 24 hours apart");
    }

    #[test]
    fn the_same_hard_spot_on_three_days_is_a_persistent_lump() {
        let spot = hard(Side::Right, Quadrant::LowerInner);
        let massage = |id: &str, when: &str| Entry {
            id: id.into(),
            item: MassageSpots { at: at(when), spots: vec![spot.clone()] },
        };
        let mut c = check("c", "2027-01-10T09:00:00Z", 1);
        c.item.spots = vec![spot.clone()];
        let two_days = [massage("m1", "2027-01-08T09:00:00Z"), massage("m2", "2027-01-08T20:00:00Z")];
        assert!(rules(&[c.clone()], &two_days).is_empty(), "two days");
        let three_days = [massage("m1", "2027-01-05T09:00:00Z"), massage("m2", "2027-01-08T20:00:00Z")];
        let advisories = evaluate(chrono_tz::UTC, at(NOW), &[c.clone()], &three_days);
        assert_eq!(advisories.iter().map(|a| a.rule).collect::<Vec<_>>(), vec!["persistent_lump"]);
        assert_eq!(advisories[0].triggered_by.len(), 3);
        let too_old = [massage("m1", "2027-01-03T11:59:00Z"), massage("m2", "2027-01-08T20:00:00Z")];
        assert!(rules(&[c.clone()], &too_old).is_empty(), "outside the 7-day window");
        let elsewhere = [
            Entry {
                id: "m1".into(),
                item: MassageSpots {
                    at: at("2027-01-05T09:00:00Z"),
                    spots: vec![hard(Side::Left, Quadrant::LowerInner)],
                },
            },
            massage("m2", "2027-01-08T20:00:00Z"),
        ];
        assert!(rules(&[c], &elsewhere).is_empty(), "another place is another spot");
    }

    #[test]
    fn inflammation_is_active_when_any_advisory_is() {
        let mut c = check("a", "2027-01-10T08:00:00Z", 2);
        assert!(!inflammation_active(&evaluate(chrono_tz::UTC, at(NOW), &[c.clone()], &[])));
        c.item.temperature_c = Some(38.5);
        assert!(inflammation_active(&evaluate(chrono_tz::UTC, at(NOW), &[c], &[])));
    }
}
