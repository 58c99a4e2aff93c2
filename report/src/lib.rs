//! milkflow's consultation report: one printable HTML page with the owner's figures over a span and five charts
//! drawn on the server as SVG (volume per side per day, pump sessions with and without massage, the massage
//! effect, the symptom timeline, the tender-spot map).

pub mod charts;
pub mod figures;
pub mod sample;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use domain::advisories::Advisory;
use minijinja::{Environment, context};
use std::sync::LazyLock;

pub use figures::Entries;

/// What a report is made of.
pub struct ReportInput {
    /// Whose report: the owner's name or address.
    pub name: String,
    pub timezone: Tz,
    /// The span, the owner's local dates, inclusive.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub entries: Entries,
    /// The advisories active when the report is made.
    pub advisories: Vec<Advisory>,
    pub generated_at: DateTime<Utc>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Chart(#[from] charts::ChartError),
    #[error("the report template: {0}")]
    Template(#[from] minijinja::Error),
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("report.html", include_str!("../templates/report.html"))
        .expect("the report template compiles (checked by the tests)");
    env
});

/// The report as one HTML page.
pub fn render(input: &ReportInput) -> Result<String, ReportError> {
    let days = figures::days(&input.entries, input.timezone, input.from, input.to);
    let effect = figures::effect(&input.entries.pumps);
    let spots = figures::spot_map(&input.entries);
    let start = chrono::TimeZone::from_local_datetime(&input.timezone, &input.from.and_time(NaiveTime::MIN))
        .earliest()
        .map_or(input.generated_at, |t| t.with_timezone(&Utc));
    let marks = figures::timeline(&input.entries.checks, start);
    let charts = [
        ("volume", "Volume per breast per day", charts::volume_per_side(&days)?),
        ("sessions", "Pump sessions per day, with and without massage", charts::sessions_per_day(&days)?),
        ("effect", "Average volume with and without massage", charts::massage_effect(&effect)?),
        (
            "timeline",
            "Symptom checks: pain and engorgement",
            charts::symptom_timeline(&marks, figures::span_hours(days.len()), &days)?,
        ),
        ("spots", "Tender or hard spots by quadrant", charts::tender_spots(&spots)?),
    ];
    let total_ml: f64 = days.iter().map(|d| d.left_ml + d.right_ml).sum();
    let pumps: u32 = days.iter().map(|d| d.pumps_with_massage + d.pumps_without_massage).sum();
    let advisories: Vec<_> =
        input.advisories.iter().map(|a| context! { title => a.title, message => a.message, rule => a.rule }).collect();
    let page = TEMPLATES.get_template("report.html")?.render(context! {
        name => &input.name,
        timezone => input.timezone.name(),
        from => input.from.format("%-d %B %Y").to_string(),
        to => input.to.format("%-d %B %Y").to_string(),
        generated_at => input.generated_at.with_timezone(&input.timezone).format("%-d %B %Y, %H:%M").to_string(),
        days => days.len(),
        pumps => pumps,
        massages => days.iter().map(|d| d.massages).sum::<u32>(),
        checks => input.entries.checks.len(),
        total_ml => total_ml.round(),
        average_ml => (pumps > 0).then(|| (total_ml / f64::from(pumps)).round()),
        advisories => advisories,
        charts => charts
            .iter()
            .map(|(id, title, svg)| context! {
                id => *id,
                title => *title,
                svg => minijinja::Value::from_safe_string(svg.clone()),
            })
            .collect::<Vec<_>>(),
    })?;
    Ok(page)
}

#[cfg(test)]
mod tests;
