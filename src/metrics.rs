//! `GET /metrics`: what a landlord's monitoring needs to see that complaints are being
//! handled, in the Prometheus text format (via `prometheus-client`).
//!
//! Two kinds of figure. Counters of what this process did (messages taken in, job runs and
//! failures, alerts raised, notifications delivered) are kept in memory and start at zero
//! with the process, as Prometheus expects of counters. Gauges of where things stand (cases
//! by status, drafts waiting, deadlines at risk and breached, letters sent and failed) are
//! read from the store (at most every five minutes, however often it is scraped), so they are
//! right whatever restarted.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::Loaded;
use crate::core::alerts::{self, Level, State};
use crate::core::model::DueKind;
use crate::letters::DraftStatus;
use crate::store::{Store, StoreError};

type Labels = Vec<(&'static str, String)>;

struct Metrics {
    registry: Registry,
    ingested: Family<Labels, Counter>,
    job_runs: Family<Labels, Counter>,
    job_failures: Family<Labels, Counter>,
    job_seconds: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    alerts: Family<Labels, Counter>,
    notifications: Family<Labels, Counter>,
    cases: Family<Labels, Gauge>,
    drafts: Family<Labels, Gauge>,
    deadlines: Family<Labels, Gauge>,
    letters: Family<Labels, Gauge>,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("redress");
        let m = Metrics {
            registry: Registry::default(),
            ingested: Family::default(),
            job_runs: Family::default(),
            job_failures: Family::default(),
            job_seconds: Family::default(),
            alerts: Family::default(),
            notifications: Family::default(),
            cases: Family::default(),
            drafts: Family::default(),
            deadlines: Family::default(),
            letters: Family::default(),
        };
        registry.register(
            "messages_ingested",
            "Messages taken in by this process, by outcome (opened, joined, duplicate, set_aside)",
            m.ingested.clone(),
        );
        registry.register(
            "job_runs",
            "Scheduled job runs by this process, by job",
            m.job_runs.clone(),
        );
        registry.register(
            "job_failures",
            "Scheduled job runs that failed, by job",
            m.job_failures.clone(),
        );
        registry.register(
            "job_last_duration_seconds",
            "How long each job's last run took",
            m.job_seconds.clone(),
        );
        registry.register(
            "alerts_raised",
            "Deadline alerts and reminders raised by this process, by level",
            m.alerts.clone(),
        );
        registry.register(
            "notifications",
            "Staff notification deliveries attempted, by channel and outcome",
            m.notifications.clone(),
        );
        registry.register("cases", "Cases by status", m.cases.clone());
        registry.register(
            "drafts_waiting",
            "Draft letters waiting for approval, and approved letters waiting to be sent",
            m.drafts.clone(),
        );
        registry.register(
            "deadlines",
            "Code deadlines (acknowledgement, response, service target) at risk or breached today",
            m.deadlines.clone(),
        );
        registry.register(
            "letters",
            "Letters sent or refused by the mail system, all time",
            m.letters.clone(),
        );
        Metrics { registry, ..m }
    })
}

fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_owned())]
}

/// A message was taken in with this outcome.
pub fn message_ingested(outcome: &str) {
    metrics()
        .ingested
        .get_or_create(&label("outcome", outcome))
        .inc();
}

/// A scheduled job ran.
pub fn job_ran(job: &str, ok: bool, took: Duration) {
    let m = metrics();
    let l = label("job", job);
    m.job_runs.get_or_create(&l).inc();
    if !ok {
        m.job_failures.get_or_create(&l).inc();
    }
    m.job_seconds.get_or_create(&l).set(took.as_secs_f64());
}

/// An alert was raised.
pub fn alert_raised(level: Level) {
    metrics()
        .alerts
        .get_or_create(&label("level", level.as_str()))
        .inc();
}

/// A notification delivery was attempted.
pub fn notification(channel: &str, delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    metrics()
        .notifications
        .get_or_create(&vec![
            ("channel", channel.to_owned()),
            ("outcome", outcome.to_owned()),
        ])
        .inc();
}

/// How long the gauges read from the store are reused. Reading them walks the status index,
/// the drafts and the overdue part of the due-date index (seconds on a store of a million
/// open cases); where things stand changes slowly, and scrapes every few seconds need not
/// repeat that.
const GAUGES_FRESH_FOR: Duration = Duration::from_secs(5 * 60);

/// The text a scrape gets: the gauges read from the store (at most `GAUGES_FRESH_FOR` ago),
/// and the counters.
pub fn render(store: &Store, loaded: &Loaded, today: NaiveDate) -> Result<String, StoreError> {
    static READ_AT: Mutex<Option<Instant>> = Mutex::new(None);
    let m = metrics();
    {
        let mut read_at = READ_AT.lock().unwrap_or_else(|e| e.into_inner());
        if read_at.is_none_or(|at| at.elapsed() >= GAUGES_FRESH_FOR) {
            read_gauges(m, store, loaded, today)?;
            *read_at = Some(Instant::now());
        }
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &m.registry);
    Ok(out)
}

/// Reads the gauges from the store.
fn read_gauges(
    m: &Metrics,
    store: &Store,
    loaded: &Loaded,
    today: NaiveDate,
) -> Result<(), StoreError> {
    // A status no case has any more must drop out, not keep its last count.
    let counts = store.status_counts()?;
    m.cases.clear();
    for (status, count) in counts {
        m.cases
            .get_or_create(&label("status", &status))
            .set(count as i64);
    }
    let (mut pending, mut approved, mut sent, mut failed) = (0, 0, 0, 0);
    for draft in store.drafts()? {
        match draft.status {
            DraftStatus::Pending => pending += 1,
            DraftStatus::Approved => approved += 1,
            DraftStatus::Sent => sent += 1,
            DraftStatus::Failed => failed += 1,
            DraftStatus::Rejected => {}
        }
    }
    m.drafts
        .get_or_create(&label("state", "pending_approval"))
        .set(pending);
    m.drafts
        .get_or_create(&label("state", "approved_unsent"))
        .set(approved);
    m.letters.get_or_create(&label("outcome", "sent")).set(sent);
    m.letters
        .get_or_create(&label("outcome", "failed"))
        .set(failed);
    let timing = loaded.config.schedule.timing();
    let calendar = &loaded.calendar;
    let (mut at_risk, mut breached) = (0, 0);
    for entry in store.due_until(alerts::horizon(today, calendar, timing))? {
        let Some(what) = DueKind::from_key(&entry.what) else {
            continue;
        };
        match alerts::state(entry.due, &what, today, calendar, timing) {
            State::AtRisk | State::DueToday => at_risk += 1,
            State::Breached => breached += 1,
            _ => {}
        }
    }
    m.deadlines
        .get_or_create(&label("state", "at_risk"))
        .set(at_risk);
    m.deadlines
        .get_or_create(&label("state", "breached"))
        .set(breached);
    Ok(())
}
