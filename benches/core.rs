//! Benchmarks for the figures the README quotes:
//!
//! 1. working-day additions per second (`Calendar::add_working_days`, n = 5, 10, 20);
//! 2. case creations per second with a durable flush each (`Store::open_case`);
//! 3. the next 1,000 due items from a store of 1,000,000 cases (`Store::due`), target < 50 ms;
//! 4. the deadline scan over the same store (`Scheduler::scan`), target < 100 ms.
//!
//! The 1,000,000-case store takes minutes to build, so it is built once under the target
//! directory (`target/tmp/bench-store-1000000`) and reused while it still holds that many cases.
//! `REDRESS_BENCH_CASES=20000 cargo bench --bench core` builds and queries a smaller one.
//! Run as a test (`cargo test --benches`), every benchmark runs once on a small store.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use redress::core::calendar::Calendar;
use redress::core::code::PolicyProfile;
use redress::core::event::Opened;
use redress::core::model::{CaseKind, Channel, Contact};
use redress::core::workflow::Rules;
use redress::store::Store;

/// Cases in the due-date benchmark's store unless `REDRESS_BENCH_CASES` says otherwise.
const FULL_STORE_CASES: usize = 1_000_000;
/// Cases when the benchmarks run once as a test.
const TEST_STORE_CASES: usize = 2_000;
/// The due-date query asks for this many items.
const DUE_LIMIT: usize = 1_000;

fn date(s: &str) -> NaiveDate {
    s.parse().expect("benchmark dates are valid")
}

fn stamp() -> DateTime<Utc> {
    "2026-01-05T09:00:00Z"
        .parse()
        .expect("benchmark timestamp is valid")
}

/// Every day from 2024 to 2030: weekends, bank holidays and the days before them included.
fn sample_dates() -> Vec<NaiveDate> {
    date("2024-01-01")
        .iter_days()
        .take_while(|d| *d <= date("2030-12-31"))
        .collect()
}

fn working_days(c: &mut Criterion) {
    let cal = Calendar::england_and_wales();
    let dates = sample_dates();
    let mut group = c.benchmark_group("add_working_days");
    group.throughput(Throughput::Elements(dates.len() as u64));
    for n in [5u32, 10, 20] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                for d in &dates {
                    black_box(cal.add_working_days(black_box(*d), n));
                }
            });
        });
    }
    group.finish();
}

/// The `i`-th synthetic case: mostly complaints (which put two entries on the due-date index),
/// some service requests, received on one of roughly three years of days.
fn synthetic(i: usize) -> Opened {
    let received = date("2024-01-01") + Days::new((i % 1096) as u64);
    Opened {
        kind: if i % 10 == 9 {
            CaseKind::ServiceRequest
        } else {
            CaseKind::Complaint
        },
        received,
        channel: Channel::Email,
        complainant: Contact {
            name: Some(format!("Resident {i}")),
            email: Some(format!("resident{i}@example.net")),
            ..Contact::default()
        },
        representative: None,
        group_members: Vec::new(),
        summary: "Damp and mould in the back bedroom; reported twice without a visit".into(),
        flags: Vec::new(),
        message: None,
        handler: None,
        linked_to: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn case_creations(c: &mut Criterion) {
    let cal = Calendar::england_and_wales();
    let policy = PolicyProfile::code_2024();
    let rules = Rules {
        calendar: &cal,
        policy: &policy,
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path(), "DH").expect("store opens");
    let rt = runtime();
    let mut next = 0;
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("open_case_durable", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                let opened = synthetic(next);
                next += 1;
                let commit = rt
                    .block_on(store.open_case(opened, "bench@example.org", stamp(), rules))
                    .expect("case opens");
                black_box(commit);
            }
            started.elapsed()
        });
    });
    group.finish();
    if next > 0 {
        eprintln!("store: {next} cases created with a durable flush each");
    }
}

/// Whether criterion is benchmarking (`cargo bench`) rather than running each benchmark once
/// as a test.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn store_cases() -> usize {
    if !benchmarking() {
        return TEST_STORE_CASES;
    }
    match std::env::var("REDRESS_BENCH_CASES") {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .expect("REDRESS_BENCH_CASES is a number of cases"),
        Err(_) => FULL_STORE_CASES,
    }
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Opens the store of `cases` synthetic cases under the target directory, building it first
/// unless a complete one is already there.
fn big_store(cases: usize, rules: Rules<'_>) -> (Store, PathBuf) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-store-{cases}"));
    if path.exists() {
        let started = Instant::now();
        let store = Store::open(&path, "DH").expect("benchmark store opens");
        let found = store.case_count();
        if found == cases {
            eprintln!(
                "due: reusing {} ({found} cases, {:.1} MB on disk, opened and counted in {:.1} s)",
                path.display(),
                dir_size(&path) as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
            return (store, path);
        }
        eprintln!(
            "due: {} holds {found} cases, not {cases}; rebuilding",
            path.display()
        );
        drop(store);
        std::fs::remove_dir_all(&path).expect("old benchmark store removed");
    }
    let store = Store::open(&path, "DH").expect("benchmark store opens");
    let started = Instant::now();
    let step = (cases / 20).max(1);
    for i in 0..cases {
        store
            .open_case_buffered(synthetic(i), "bench@example.org", stamp(), rules)
            .expect("case opens");
        if (i + 1) % step == 0 {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "due: built {} of {cases} cases in {secs:.0} s ({:.0} cases/s)",
                i + 1,
                (i + 1) as f64 / secs
            );
        }
    }
    runtime()
        .block_on(store.flush())
        .expect("benchmark store flushes");
    eprintln!(
        "due: built {cases} cases in {:.1} s, {:.1} MB on disk at {}",
        started.elapsed().as_secs_f64(),
        dir_size(&path) as f64 / 1e6,
        path.display()
    );
    (store, path)
}

/// Opens (or builds) the big store and checks the query the benchmark times answers correctly.
fn due_store(rules: Rules<'_>, from: NaiveDate) -> Store {
    let cases = store_cases();
    let (store, _path) = big_store(cases, rules);
    let first = store.due(Some(from), DUE_LIMIT).expect("due query");
    assert!(first.windows(2).all(|p| p[0].due <= p[1].due));
    assert!(first.iter().all(|e| e.due >= from));
    if cases >= 10_000 {
        assert_eq!(first.len(), DUE_LIMIT, "the store has enough due items");
    }
    store
}

fn due_query(c: &mut Criterion) {
    let cal = Calendar::england_and_wales();
    let policy = PolicyProfile::code_2024();
    let rules = Rules {
        calendar: &cal,
        policy: &policy,
    };
    // Mid-way through the receipt dates, so the scan starts deep inside the index.
    let from = date("2025-07-01");
    // Built on first use, so a filter that skips these benchmarks never builds the store.
    let store = std::cell::OnceCell::new();
    let store = || store.get_or_init(|| due_store(rules, from));
    let cases = store_cases();

    let mut group = c.benchmark_group("due");
    group.throughput(Throughput::Elements(DUE_LIMIT as u64));
    group.bench_function(BenchmarkId::new("next_1000_from_date", cases), |b| {
        let store = store();
        b.iter(|| {
            black_box(
                store
                    .due(Some(black_box(from)), DUE_LIMIT)
                    .expect("due query"),
            )
        });
    });
    group.bench_function(BenchmarkId::new("next_1000_overdue_first", cases), |b| {
        let store = store();
        b.iter(|| black_box(store.due(None, DUE_LIMIT).expect("due query")));
    });
    group.finish();
}

/// The deadline scan (`Scheduler::scan`) over the big store as a running daemon keeps it:
/// the settled date where the previous day's scan left it, and the alerts in the window
/// raised by a first scan (timed once and printed). The benchmark times the scans that
/// follow, every few minutes all day, which find nothing new.
fn deadline_scan(c: &mut Criterion) {
    let cal = Calendar::england_and_wales();
    let policy = PolicyProfile::code_2024();
    let rules = Rules {
        calendar: &cal,
        policy: &policy,
    };
    let cases = store_cases();
    let store = std::cell::OnceCell::new();
    let now: DateTime<Utc> = "2025-07-01T08:00:00Z".parse().expect("a time");
    let today = date("2025-07-01");
    let prepare = || -> (Store, redress::schedule::Scheduler) {
        let (store, path) = big_store(cases, rules);
        let dir = path.parent().expect("the store has a folder");
        let loaded = redress::config::load_str(
            "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"DH\"\nhomes_owned = 12800\n\
             email = \"complaints@example.org\"\nphone = \"01332 000000\"\n\
             [[staff]]\nname = \"Morgan Manager\"\nemail = \"morgan@example.org\"\nrole = \"manager\"\n",
            "bench.toml",
            dir,
            Vec::new(),
        )
        .expect("benchmark configuration");
        let timing = loaded.config.schedule.timing();
        let settled = redress::core::alerts::settled_before(today, &cal, timing);
        if store.meta("scan/settled-before").expect("meta").is_none() {
            store
                .set_meta("scan/settled-before", settled.to_string().as_bytes())
                .expect("settled date set");
        }
        let templates = std::sync::Arc::new(loaded.letter_templates().expect("templates"));
        let loaded = std::sync::Arc::new(loaded);
        let scheduler = redress::schedule::Scheduler::new(store.clone(), loaded.clone(), templates)
            .expect("scheduler");
        let started = Instant::now();
        let first = runtime().block_on(scheduler.scan(now)).expect("first scan");
        eprintln!(
            "deadline scan: first scan of the day looked at {} due items and raised {} alerts in {:.1} s",
            first.considered,
            first.raised.len(),
            started.elapsed().as_secs_f64()
        );
        // What a Prometheus scrape costs when the gauges are read afresh (the first one, then
        // every five minutes at most): the status index, the drafts and every overdue due item.
        let started = Instant::now();
        let text = redress::metrics::render(&store, &loaded, today).expect("metrics");
        eprintln!(
            "metrics: gauges read from the store in {:.2} s ({} bytes)",
            started.elapsed().as_secs_f64(),
            text.len()
        );
        (store, scheduler)
    };
    let mut group = c.benchmark_group("deadline_scan");
    group.bench_function(BenchmarkId::new("steady_state", cases), |b| {
        let (_, scheduler) = store.get_or_init(prepare);
        let rt = runtime();
        b.iter(|| {
            let report = rt.block_on(scheduler.scan(black_box(now))).expect("scan");
            assert!(report.raised.is_empty());
            black_box(report)
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = working_days, case_creations, due_query, deadline_scan
}
criterion_main!(benches);
