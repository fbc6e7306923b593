//! Scheduled jobs for the redress daemon.
//!
//! Jobs run on cron schedules in the landlord's time zone (Europe/London in
//! practice).  Each run is identified by its *local* scheduled date and time
//! rather than by the instant it fires, because that is what a person means by
//! "the 01:30 job on 29 March", and because it makes the run key stable across
//! restarts and clock changes: a daily job therefore runs exactly once per
//! local date, even on the night the clocks go forward (when 01:30 never
//! happens) or back (when 01:30 happens twice).
//!
//! We deliberately do not use cron's own time-zone handling for this.  Cron
//! walks instants in the zone, so around the clock change it either skips the
//! missing local time altogether or yields the repeated local time twice.
//! Instead the schedule is evaluated over naive local time (cron is handed a
//! UTC date-time whose wall-clock reading *is* the local wall-clock reading,
//! and we read the naive part back), and each naive occurrence is then mapped
//! to one real instant with [`instant_of`]:
//!
//! * an ambiguous local time (autumn) → its **earlier** instant, so the run
//!   happens on the first pass through the repeated hour and not again on the
//!   second;
//! * a local time in the spring gap → the first real instant at which local
//!   time is at or past the scheduled time (for 01:30 on 2026-03-29 that is
//!   01:00 UTC, i.e. 02:00 BST), so the run is late rather than lost.
//!
//! That mapping is monotonic (never decreasing) in local time: a later local
//! time never maps to an earlier instant, though several local times in the
//! gap can share one instant.  The searches below rely on this.

use std::fmt;

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// How far before a real instant's local reading we start walking naive
/// occurrences, and how far past it we start walking back.  A local reading
/// can run ahead of "the same" scheduled local time by up to the size of a
/// clock change (an hour in the UK, at most two anywhere), so a generous
/// margin guarantees nothing near a clock change is missed; the cost is only
/// a few extra cron steps, which are filtered out by instant.
const MARGIN: TimeDelta = TimeDelta::hours(2);

/// A named job and its parsed cron schedule.
///
/// The expression is kept as written so that logs and errors can quote the
/// configuration the landlord actually wrote.
#[derive(Clone, Debug)]
pub struct Job {
    /// The job's name, as configured (used in run keys and errors).
    pub name: String,
    /// The cron expression as written in the configuration.
    pub expression: String,
    schedule: cron::Schedule,
}

impl Job {
    /// Parses `expression` as a cron schedule for the job called `name`.
    ///
    /// Parsing happens once, at configuration time, so that a mistyped
    /// schedule stops the daemon at start-up with a message naming the job,
    /// rather than silently never running it.
    pub fn parse(name: &str, expression: &str) -> Result<Job, JobError> {
        let schedule =
            expression
                .parse::<cron::Schedule>()
                .map_err(|error| JobError::BadExpression {
                    name: name.to_owned(),
                    expression: expression.to_owned(),
                    reason: one_line_reason(expression, &error.to_string()),
                })?;
        Ok(Job {
            name: name.to_owned(),
            expression: expression.to_owned(),
            schedule,
        })
    }
}

/// Condenses cron's error text to one line for logs.
///
/// Cron renders parse errors over several lines: the expression again, a
/// caret under the offending column, then (not always) a reason.  Repeating
/// the expression is redundant in our message and the caret is meaningless
/// once the log line is reflowed, so we keep the reason and state the column.
/// An error at the end of the expression with no reason is what cron gives
/// for a classic five-field crontab line, so we say so.  Anything we do not
/// recognise is passed through, flattened.
fn one_line_reason(expression: &str, rendered: &str) -> String {
    let mut column = None;
    let mut reasons = Vec::new();
    for line in rendered.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() || line == expression {
            continue;
        }
        if column.is_none() && line.trim_start() == "^" {
            // The caret's 1-based column is the line's length.
            column = Some(line.chars().count());
            continue;
        }
        reasons.push(line.trim());
    }
    let reason = reasons.join("; ");
    match column {
        Some(column) if column > expression.chars().count() && reason.is_empty() => {
            "the expression ended too soon (too few fields?)".to_owned()
        }
        Some(column) if reason.is_empty() => format!("unexpected text at column {column}"),
        Some(column) => format!("at column {column}: {reason}"),
        None if reason.is_empty() => "cron gave no reason".to_owned(),
        None => reason,
    }
}

/// Why a job could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The expression is not one cron understands.  The message names the
    /// configuration key and quotes the expression so the landlord can find
    /// and fix it, and reminds them of the six- or seven-field, seconds-first
    /// form, which differs from classic five-field crontab.
    #[error(
        "schedule.{name}: `{expression}` is not a cron expression (6 or 7 fields, seconds first): {reason}"
    )]
    BadExpression {
        /// The job's name.
        name: String,
        /// The expression as written.
        expression: String,
        /// Cron's own explanation (kept as text: it is already in the
        /// message, so it is not also chained as a `source`).
        reason: String,
    },
}

/// One run as scheduled, identified by local date and time.
///
/// `local` is what the schedule says (and what people read); `at` is the real
/// instant it is due, after resolving clock changes.  Two runs can share an
/// instant (two local times in the spring gap) but never a local time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The job's name.
    pub job: String,
    /// The scheduled local (wall-clock) date and time.
    pub local: NaiveDateTime,
    /// The real instant at which the run is due.
    pub at: DateTime<Utc>,
}

impl Run {
    /// Stable idempotency key "NAME/2026-10-25T01:30:00": a daily job is thus
    /// idempotent per (job, local date).
    ///
    /// It is built from the local scheduled time, not the instant, so that
    /// it cannot change if the zone rules are updated or the run is computed
    /// from a different starting point, and so that the repeated autumn hour
    /// cannot produce a second key for the same scheduled time.
    pub fn key(&self) -> String {
        format!("{}/{}", self.job, self.local.format("%Y-%m-%dT%H:%M:%S"))
    }

    /// The local date the run belongs to, which is what "once a day" means to
    /// the people using the daemon.
    pub fn local_date(&self) -> NaiveDate {
        self.local.date()
    }
}

impl fmt::Display for Run {
    /// Shows the key and the resolved instant, which is what an operator
    /// needs to see in logs around a clock change.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (due {})",
            self.key(),
            self.at.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// Maps a naive local scheduled time to the one real instant it runs at.
///
/// An ambiguous time takes its earlier instant (run on the first pass, not
/// again on the second); a time in a gap takes the first instant at which
/// local time is at or past it (run late rather than never).
fn instant_of(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => first_instant_reaching(tz, local),
    }
}

/// The first instant at which the local reading in `tz` is at or past
/// `local`.  Only called for times in a gap, so this is the end of the gap.
///
/// chrono-tz does not expose its transition table, so we find the
/// transition by searching: walk forward in ten-minute steps from a point
/// certainly before it, then bisect the last step to the second.
fn first_instant_reaching(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let reading = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
    let reaches = |t: DateTime<Utc>| reading(t) >= local;
    // Offsets lie within -12h..=+14h, so 15 hours before `local` read as UTC
    // the local reading is certainly earlier than `local`.
    let start = local.and_utc().timestamp() - 15 * 3600;
    let step = 600;
    let mut lo = start;
    let mut hi = start + step;
    while !reaches(from_seconds(hi)) {
        lo = hi;
        hi += step;
    }
    // Invariant: reading(lo) < local <= reading(hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(from_seconds(mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    from_seconds(hi)
}

fn from_seconds(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("timestamp within chrono's range")
}

/// The naive local reading of `instant` in `tz`, moved by `delta`
/// (saturating rather than panicking at the ends of chrono's range).
fn local_reading(tz: Tz, instant: DateTime<Utc>, delta: TimeDelta) -> NaiveDateTime {
    let naive = instant.with_timezone(&tz).naive_local();
    naive.checked_add_signed(delta).unwrap_or(naive)
}

fn run_of(job: &Job, tz: Tz, occurrence: DateTime<Utc>) -> Run {
    // The occurrence came from evaluating the schedule over naive local time
    // disguised as UTC, so its naive UTC part is the local scheduled time.
    let local = occurrence.naive_utc();
    Run {
        job: job.name.clone(),
        local,
        at: instant_of(tz, local),
    }
}

/// All runs of `job` due strictly after `after`, oldest first, lazily.
///
/// We start from a naive point [`MARGIN`] before `after`'s local reading,
/// because in the autumn overlap a local time later than that reading can
/// map to an instant before it, and vice versa.  Filtering by the mapped
/// instant then decides exactly.  Cron's naive walk yields strictly
/// increasing local times, so no local time can appear twice.
fn runs_after(job: &Job, tz: Tz, after: DateTime<Utc>) -> impl Iterator<Item = Run> + '_ {
    let start = local_reading(tz, after, -MARGIN);
    job.schedule
        .after(&start.and_utc())
        .map(move |occurrence| run_of(job, tz, occurrence))
        .filter(move |run| run.at > after)
}

/// Runs of `job` whose instant is strictly after `after` and at or before
/// `now`, oldest first, one per local scheduled time. Bounded: at most
/// `limit` runs (a job every second over a month of downtime must not
/// allocate millions).
///
/// The half-open window means a scheduler that calls this with the previous
/// `now` as the next `after` sees every run exactly once, even on
/// clock-change nights.  If the result is cut short by `limit`, do not
/// resume from the last run's `at` alone: runs in a spring gap share an
/// instant, so resume from a little earlier and skip keys already done.
pub fn runs_between(
    job: &Job,
    tz: Tz,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<Run> {
    if limit == 0 || now <= after {
        return Vec::new();
    }
    // Instants never decrease as local time increases, so the first run past
    // `now` ends the window.
    runs_after(job, tz, after)
        .take_while(|run| run.at <= now)
        .take(limit)
        .collect()
}

/// The first run strictly after `after`.
///
/// Useful for deciding how long the scheduler may sleep.  `None` only when
/// the schedule has no further occurrences (for example a seven-field
/// expression whose years are all past).
pub fn next_run(job: &Job, tz: Tz, after: DateTime<Utc>) -> Option<Run> {
    runs_after(job, tz, after).next()
}

/// The latest run at or before `now` (for catching up at start), if any
/// within the last `lookback` (e.g. 8 days).
///
/// "Within" means its instant is strictly after `now - lookback`, matching
/// [`runs_between`]`(now - lookback, now)`.  The lookback bounds the search
/// so that a job which has not run for years does not trigger a catch-up
/// nobody expects, and walks backwards so that a frequent job does not need
/// stepping through every occurrence in the window.
pub fn latest_run(job: &Job, tz: Tz, now: DateTime<Utc>, lookback: TimeDelta) -> Option<Run> {
    if lookback <= TimeDelta::zero() {
        return None;
    }
    let earliest = now
        .checked_sub_signed(lookback)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // A local time up to MARGIN past `now`'s reading can still be due at or
    // before `now` (autumn overlap), so walk back from beyond it.  Cron's
    // backward walk is strictly before its starting point.
    let start = local_reading(tz, now, MARGIN + TimeDelta::seconds(1));
    job.schedule
        .after(&start.and_utc())
        .rev()
        .map(|occurrence| run_of(job, tz, occurrence))
        .take_while(|run| run.at > earliest)
        .find(|run| run.at <= now)
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
