//! The forecast: from the live record, every deadline and every alert that will fall due over
//! the next N working days, per case, so a manager can see next week's breaches this week.
//! Breaches already open are listed too, with the alerts raised for them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Loaded;
use crate::core::alerts::{self, Level, State};
use crate::core::model::DueKind;
use crate::store::{DueEntry, Store, StoreError};

/// Working days ahead when none are asked for.
pub const DEFAULT_DAYS: u32 = 10;

/// An alert of a due item: when it falls due, and when it was raised if it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastAlert {
    pub level: Level,
    pub on: NaiveDate,
    pub raised_at: Option<DateTime<Utc>>,
}

/// One due item of a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastItem {
    /// The index key: `ack1`, `response2`, `action1.0`…
    pub what: String,
    pub description: String,
    pub provision: String,
    pub due: NaiveDate,
    pub state: State,
    /// Alerts that fell due already or will by the end of the forecast.
    pub alerts: Vec<ForecastAlert>,
}

/// A case with something in the forecast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseForecast {
    pub reference: String,
    pub handler: Option<String>,
    pub summary: String,
    pub items: Vec<ForecastItem>,
}

/// The forecast from `today` to `until` (the N-th working day after today).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    pub today: NaiveDate,
    pub until: NaiveDate,
    pub working_days: u32,
    /// Cases in order of their earliest item.
    pub cases: Vec<CaseForecast>,
}

impl Forecast {
    /// How many items are in each state, for a summary line.
    pub fn count(&self, state: State) -> usize {
        self.cases
            .iter()
            .flat_map(|c| &c.items)
            .filter(|i| i.state == state)
            .count()
    }
}

/// The forecast over the next `days` working days after `today`.
pub fn forecast(
    store: &Store,
    loaded: &Loaded,
    today: NaiveDate,
    days: u32,
) -> Result<Forecast, StoreError> {
    let calendar = &loaded.calendar;
    let timing = loaded.config.schedule.timing();
    let until = calendar.add_working_days(today, days);
    let mut cases: Vec<CaseForecast> = Vec::new();
    let mut positions = std::collections::HashMap::new();
    for entry in store.due_until(alerts::horizon(until, calendar, timing))? {
        let Some(what) = DueKind::from_key(&entry.what) else {
            continue;
        };
        let dates = alerts::level_dates(entry.due, &what, calendar, timing);
        let in_window = entry.due <= until || dates.iter().any(|(_, on)| *on <= until);
        if !in_window {
            continue;
        }
        let item = item(store, &entry, &what, dates, today, until, loaded)?;
        let at = match positions.get(&entry.reference) {
            Some(at) => *at,
            None => {
                let Some(case) = store.case(&entry.reference)? else {
                    continue;
                };
                positions.insert(entry.reference.clone(), cases.len());
                cases.push(CaseForecast {
                    reference: case.reference,
                    handler: case.handler,
                    summary: case.summary,
                    items: Vec::new(),
                });
                cases.len() - 1
            }
        };
        cases[at].items.push(item);
    }
    Ok(Forecast {
        today,
        until,
        working_days: days,
        cases,
    })
}

fn item(
    store: &Store,
    entry: &DueEntry,
    what: &DueKind,
    dates: Vec<(Level, NaiveDate)>,
    today: NaiveDate,
    until: NaiveDate,
    loaded: &Loaded,
) -> Result<ForecastItem, StoreError> {
    let timing = loaded.config.schedule.timing();
    let raised = store.alerts_raised(entry)?;
    let alerts = dates
        .into_iter()
        .filter(|(_, on)| *on <= until)
        .map(|(level, on)| ForecastAlert {
            level,
            on,
            raised_at: raised.iter().find(|(l, _)| *l == level).map(|(_, at)| *at),
        })
        // An at-risk alert whose deadline passed before it was raised never will be (a
        // back-filled complaint goes straight to its breach).
        .filter(|a| a.raised_at.is_some() || a.level != Level::AtRisk || today <= entry.due)
        .collect();
    Ok(ForecastItem {
        what: entry.what.clone(),
        description: alerts::describe(what),
        provision: alerts::provision(what),
        due: entry.due,
        state: alerts::state(entry.due, what, today, &loaded.calendar, timing),
        alerts,
    })
}
