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
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    const LONDON: Tz = chrono_tz::Europe::London;

    fn utc(s: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
            .and_utc()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
    }

    fn job(expression: &str) -> Job {
        Job::parse("test", expression).expect("valid expression")
    }

    /// Runs of `job` in London between two UTC times, at most 100.
    fn runs_in(job: &Job, from: &str, to: &str) -> Vec<Run> {
        runs_between(job, LONDON, utc(from), utc(to), 100)
    }

    fn summary(runs: &[Run]) -> Vec<(String, String)> {
        runs.iter()
            .map(|r| {
                (
                    r.local.format("%Y-%m-%d %H:%M:%S").to_string(),
                    r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                )
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(l, u)| (l.to_string(), u.to_string()))
            .collect()
    }

    #[test]
    fn daily_0130_runs_once_per_local_date_across_spring_change() {
        let j = job("0 30 1 * * *");
        let runs = runs_in(&j, "2026-03-27 00:00:00", "2026-03-31 23:59:59");
        assert_eq!(
            summary(&runs),
            pairs(&[
                ("2026-03-27 01:30:00", "2026-03-27 01:30:00"),
                ("2026-03-28 01:30:00", "2026-03-28 01:30:00"),
                // 01:30 does not exist: run at 02:00 BST, the end of the gap.
                ("2026-03-29 01:30:00", "2026-03-29 01:00:00"),
                ("2026-03-30 01:30:00", "2026-03-30 00:30:00"),
                ("2026-03-31 01:30:00", "2026-03-31 00:30:00"),
            ])
        );
    }

    #[test]
    fn daily_0130_runs_once_per_local_date_across_autumn_change() {
        let j = job("0 30 1 * * *");
        let runs = runs_in(&j, "2026-10-23 00:00:00", "2026-10-27 23:59:59");
        assert_eq!(
            summary(&runs),
            pairs(&[
                ("2026-10-23 01:30:00", "2026-10-23 00:30:00"),
                ("2026-10-24 01:30:00", "2026-10-24 00:30:00"),
                // 01:30 happens twice: run on the earlier, BST, pass only.
                ("2026-10-25 01:30:00", "2026-10-25 00:30:00"),
                ("2026-10-26 01:30:00", "2026-10-26 01:30:00"),
                ("2026-10-27 01:30:00", "2026-10-27 01:30:00"),
            ])
        );
        let dates: Vec<NaiveDate> = runs.iter().map(Run::local_date).collect();
        let unique: HashSet<NaiveDate> = dates.iter().copied().collect();
        assert_eq!(dates.len(), unique.len());
    }

    #[test]
    fn run_key_and_local_date_come_from_local_scheduled_time() {
        let j = Job::parse("rent-reminder", "0 30 1 * * *").unwrap();
        let run = next_run(&j, LONDON, utc("2026-10-25 00:00:00")).unwrap();
        assert_eq!(run.key(), "rent-reminder/2026-10-25T01:30:00");
        assert_eq!(
            run.local_date(),
            NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()
        );
        assert_eq!(run.at, utc("2026-10-25 00:30:00"));
    }

    /// Drives `runs_between` like the daemon's loop, checking every `step`
    /// from `from` to `to`, and returns how many times each key ran.
    fn simulate(j: &Job, from: &str, to: &str, step: TimeDelta) -> BTreeMap<String, u32> {
        let mut done: HashSet<String> = HashSet::new();
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        let mut last = utc(from);
        let end = utc(to);
        while last < end {
            let now = last + step;
            for run in runs_between(j, LONDON, last, now, 1000) {
                assert!(
                    run.at > last && run.at <= now,
                    "{run} outside ({last}, {now}]"
                );
                *counts.entry(run.key()).or_default() += 1;
                assert!(done.insert(run.key()), "{run} ran twice");
            }
            last = now;
        }
        counts
    }

    fn expect_once(counts: &BTreeMap<String, u32>, keys: &[&str]) {
        let expected: BTreeMap<String, u32> = keys.iter().map(|k| (k.to_string(), 1)).collect();
        assert_eq!(counts, &expected);
    }

    #[test]
    fn scheduler_checking_every_minute_runs_each_0130_once_through_clock_changes() {
        let j = job("0 30 1 * * *");
        for step in [
            TimeDelta::minutes(1),
            TimeDelta::minutes(10),
            TimeDelta::seconds(7 * 60 + 13),
        ] {
            let spring = simulate(&j, "2026-03-28 00:00:00", "2026-03-30 06:00:00", step);
            expect_once(
                &spring,
                &[
                    "test/2026-03-28T01:30:00",
                    "test/2026-03-29T01:30:00",
                    "test/2026-03-30T01:30:00",
                ],
            );
            let autumn = simulate(&j, "2026-10-24 00:00:00", "2026-10-26 06:00:00", step);
            expect_once(
                &autumn,
                &[
                    "test/2026-10-24T01:30:00",
                    "test/2026-10-25T01:30:00",
                    "test/2026-10-26T01:30:00",
                ],
            );
        }
    }

    #[test]
    fn scheduler_never_skips_or_doubles_local_times_sharing_an_instant() {
        // On 2026-03-29, 01:00, 01:30 and 02:00 all fall due at 01:00 UTC; on
        // 2026-10-25 the 01:xx times must not run again on the GMT pass.
        let j = job("0 0,30 1,2 * * *");
        for step in [
            TimeDelta::minutes(1),
            TimeDelta::minutes(30),
            TimeDelta::hours(1),
        ] {
            let spring = simulate(&j, "2026-03-28 22:00:00", "2026-03-29 04:00:00", step);
            expect_once(
                &spring,
                &[
                    "test/2026-03-29T01:00:00",
                    "test/2026-03-29T01:30:00",
                    "test/2026-03-29T02:00:00",
                    "test/2026-03-29T02:30:00",
                ],
            );
            let autumn = simulate(&j, "2026-10-24 22:00:00", "2026-10-25 04:00:00", step);
            expect_once(
                &autumn,
                &[
                    "test/2026-10-25T01:00:00",
                    "test/2026-10-25T01:30:00",
                    "test/2026-10-25T02:00:00",
                    "test/2026-10-25T02:30:00",
                ],
            );
        }
        let gap = runs_between(
            &j,
            LONDON,
            utc("2026-03-29 00:59:59"),
            utc("2026-03-29 01:00:00"),
            10,
        );
        assert_eq!(
            summary(&gap),
            pairs(&[
                ("2026-03-29 01:00:00", "2026-03-29 01:00:00"),
                ("2026-03-29 01:30:00", "2026-03-29 01:00:00"),
                ("2026-03-29 02:00:00", "2026-03-29 01:00:00"),
            ])
        );
        // The second, GMT, pass through 01:xx runs nothing.
        assert!(
            runs_between(
                &j,
                LONDON,
                utc("2026-10-25 01:00:00"),
                utc("2026-10-25 01:59:59"),
                10
            )
            .is_empty()
        );
    }

    #[test]
    fn next_run_in_autumn_overlap_starts_from_the_real_instant() {
        let j = job("0 0,30 1,2 * * *");
        let next = |after: &str| {
            let run = next_run(&j, LONDON, utc(after)).unwrap();
            (run.local, run.at)
        };
        // 01:15 BST: the BST 01:30 is still to come.
        assert_eq!(
            next("2026-10-25 00:15:00"),
            (local("2026-10-25 01:30:00"), utc("2026-10-25 00:30:00"))
        );
        // 01:45 BST and 01:15 GMT: the 01:xx runs are done; next is 02:00 GMT.
        for after in ["2026-10-25 00:45:00", "2026-10-25 01:15:00"] {
            assert_eq!(
                next(after),
                (local("2026-10-25 02:00:00"), utc("2026-10-25 02:00:00"))
            );
        }
        // Spring: just before the gap, the first of the shared-instant runs.
        assert_eq!(
            next("2026-03-29 00:59:59"),
            (local("2026-03-29 01:00:00"), utc("2026-03-29 01:00:00"))
        );
        // At the end of the gap, all three sharing it are past.
        assert_eq!(
            next("2026-03-29 01:00:00"),
            (local("2026-03-29 02:30:00"), utc("2026-03-29 01:30:00"))
        );
    }

    #[test]
    fn job_at_0230_in_spring_gap_runs_once_at_end_of_gap_and_0030_is_unaffected() {
        let at_0230 = job("0 30 2 * * *");
        let runs = runs_in(&at_0230, "2026-03-28 00:00:00", "2026-03-30 12:00:00");
        assert_eq!(
            summary(&runs),
            pairs(&[
                ("2026-03-28 02:30:00", "2026-03-28 02:30:00"),
                ("2026-03-29 02:30:00", "2026-03-29 01:30:00"),
                ("2026-03-30 02:30:00", "2026-03-30 01:30:00"),
            ])
        );

        let at_0130_in_gap = job("0 30 1 29 3 *");
        let runs = runs_in(
            &at_0130_in_gap,
            "2026-03-28 00:00:00",
            "2026-03-30 12:00:00",
        );
        assert_eq!(
            summary(&runs),
            pairs(&[("2026-03-29 01:30:00", "2026-03-29 01:00:00")])
        );

        let at_0030 = job("0 30 0 * * *");
        let runs = runs_in(&at_0030, "2026-03-28 00:00:00", "2026-03-30 12:00:00");
        assert_eq!(
            summary(&runs),
            pairs(&[
                ("2026-03-28 00:30:00", "2026-03-28 00:30:00"),
                ("2026-03-29 00:30:00", "2026-03-29 00:30:00"),
                ("2026-03-30 00:30:00", "2026-03-29 23:30:00"),
            ])
        );
    }

    #[test]
    fn gap_times_map_to_the_end_of_the_gap() {
        assert_eq!(
            instant_of(LONDON, local("2026-03-29 01:00:00")),
            utc("2026-03-29 01:00:00")
        );
        assert_eq!(
            instant_of(LONDON, local("2026-03-29 01:59:59")),
            utc("2026-03-29 01:00:00")
        );
        assert_eq!(
            instant_of(LONDON, local("2026-03-29 00:59:59")),
            utc("2026-03-29 00:59:59")
        );
        // A zone with a half-hour change (Lord Howe, 02:00 → 02:30).
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(
            instant_of(lord_howe, local("2026-10-04 02:10:00")),
            instant_of(lord_howe, local("2026-10-04 02:30:00"))
        );
    }

    #[test]
    fn weekdays_by_name_give_no_runs_at_weekends() {
        let j = job("0 30 7 * * Mon-Fri");
        // 2026-06-06 is a Saturday.
        let runs = runs_in(&j, "2026-06-01 00:00:00", "2026-06-14 23:59:59");
        assert_eq!(runs.len(), 10);
        for run in &runs {
            let weekday = chrono::Datelike::weekday(&run.local);
            assert!(
                !matches!(weekday, chrono::Weekday::Sat | chrono::Weekday::Sun),
                "{run} is at a weekend"
            );
            assert_eq!(
                run.local.time(),
                chrono::NaiveTime::from_hms_opt(7, 30, 0).unwrap()
            );
        }
        assert_eq!(runs[0].local, local("2026-06-01 07:30:00"));
        assert_eq!(runs[5].local, local("2026-06-08 07:30:00"));
    }

    #[test]
    fn latest_run_finds_todays_run_after_it_passed_and_yesterdays_before() {
        let j = job("0 30 7 * * *");
        let week = TimeDelta::days(8);
        // 09:00 BST: today's 07:30 BST (06:30 UTC) has passed.
        let run = latest_run(&j, LONDON, utc("2026-06-10 08:00:00"), week).unwrap();
        assert_eq!(run.local, local("2026-06-10 07:30:00"));
        assert_eq!(run.at, utc("2026-06-10 06:30:00"));
        // 07:00 BST: today's has not, so yesterday's.
        let run = latest_run(&j, LONDON, utc("2026-06-10 06:00:00"), week).unwrap();
        assert_eq!(run.local, local("2026-06-09 07:30:00"));
        // Exactly at the instant counts as passed.
        let run = latest_run(&j, LONDON, utc("2026-06-10 06:30:00"), week).unwrap();
        assert_eq!(run.local, local("2026-06-10 07:30:00"));
        // A yearly job outside the lookback is not caught up.
        let yearly = job("0 0 9 1 1 *");
        assert_eq!(
            latest_run(&yearly, LONDON, utc("2026-06-10 08:00:00"), week),
            None
        );
        assert!(latest_run(&yearly, LONDON, utc("2026-01-05 08:00:00"), week).is_some());
    }

    #[test]
    fn latest_run_agrees_with_runs_between_through_clock_changes() {
        let lookback = TimeDelta::days(8);
        for expression in ["0 30 1 * * *", "0 0,30 1,2 * * *", "0 */20 * * * *"] {
            let j = job(expression);
            for (from, to) in [
                ("2026-03-28 22:00:00", "2026-03-29 04:00:00"),
                ("2026-10-24 22:00:00", "2026-10-25 04:00:00"),
            ] {
                let mut now = utc(from);
                while now < utc(to) {
                    let expected = runs_between(&j, LONDON, now - lookback, now, usize::MAX).pop();
                    assert_eq!(
                        latest_run(&j, LONDON, now, lookback),
                        expected,
                        "{expression} at {now}"
                    );
                    now += TimeDelta::minutes(5);
                }
            }
        }
    }

    #[test]
    fn bad_expression_error_names_job_and_expression() {
        for expression in ["0 30 25 * * *", "30 1 * * *", "every day"] {
            let err = Job::parse("rent-reminder", expression).unwrap_err();
            let message = err.to_string();
            let prefix = format!(
                "schedule.rent-reminder: `{expression}` is not a cron expression (6 or 7 fields, seconds first): "
            );
            assert!(message.starts_with(&prefix), "{message}");
            assert!(message.len() > prefix.len(), "no reason given: {message}");
            assert!(!message.contains('\n'), "multi-line message: {message:?}");
        }
        let err = Job::parse("rent-reminder", "0 30 25 * * *").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("at column 6: Hours must be less than 23. ('25' specified.)"),
            "{err}"
        );
        let err = Job::parse("rent-reminder", "30 1 * * *").unwrap_err();
        assert!(err.to_string().ends_with("too few fields?)"), "{err}");
    }

    #[test]
    fn runs_between_respects_limit() {
        let every_second = job("* * * * * *");
        let after = utc("2026-03-01 00:00:00");
        let now = utc("2026-03-31 00:00:00");
        let runs = runs_between(&every_second, LONDON, after, now, 1000);
        assert_eq!(runs.len(), 1000);
        assert_eq!(runs[0].at, after + TimeDelta::seconds(1));
        assert_eq!(runs[999].at, after + TimeDelta::seconds(1000));
        assert!(runs_between(&every_second, LONDON, after, now, 0).is_empty());
        let daily = job("0 30 1 * * *");
        assert_eq!(runs_between(&daily, LONDON, after, now, 3).len(), 3);
        assert_eq!(runs_between(&daily, LONDON, after, now, 100).len(), 30);
    }

    #[test]
    fn empty_or_reversed_window_gives_no_runs() {
        let j = job("* * * * * *");
        let t = utc("2026-06-01 12:00:00");
        assert!(runs_between(&j, LONDON, t, t, 10).is_empty());
        assert!(runs_between(&j, LONDON, t, t - TimeDelta::hours(1), 10).is_empty());
    }

    #[test]
    fn past_only_schedule_has_no_next_run_and_frequent_job_has_latest() {
        let past = job("0 0 0 1 1 * 2020");
        assert_eq!(next_run(&past, LONDON, utc("2026-06-01 00:00:00")), None);
        let every_second = job("* * * * * *");
        let lookback = TimeDelta::days(8);
        let now = utc("2026-06-10 12:00:00") + TimeDelta::milliseconds(500);
        let run = latest_run(&every_second, LONDON, now, lookback).unwrap();
        assert_eq!(run.at, utc("2026-06-10 12:00:00"));
        // On the GMT pass through 01:xx every local second already ran on
        // the BST pass, so the latest is the last BST second.
        let now = utc("2026-10-25 01:30:00") + TimeDelta::milliseconds(500);
        let run = latest_run(&every_second, LONDON, now, lookback).unwrap();
        assert_eq!(run.local, local("2026-10-25 01:59:59"));
        assert_eq!(run.at, utc("2026-10-25 00:59:59"));
    }
}
