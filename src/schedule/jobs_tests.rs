//! Tests of the job schedules: clock changes, catch-up, limits, errors.

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
