//! The `redress` binary, run as a landlord would run it: holidays, deadlines, policy lint,
//! configuration check and the case commands against a store in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Datelike, NaiveDate, Weekday};
use serde_json::{Value, json};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn failed(&self) -> &Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected failure, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "a failure must not be a panic:\n{}",
            self.stderr
        );
        self
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Runs `redress ARGS` in `dir`, with no `REDRESS_*` variable inherited from the test's own
/// environment.
fn redress_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_redress"));
    cmd.args(args).current_dir(dir).env_remove("REDRESS_CONFIG");
    for (key, _) in std::env::vars() {
        if key.starts_with("REDRESS_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().expect("the redress binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs a command that needs no configuration, in a fresh empty folder.
fn redress(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    redress_in(dir.path(), args)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| panic!("not a date: {s}"))
}

/// The 1-based line of the only line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "`{needle}` must occur on exactly one line");
    hits[0]
}

// ---- holidays ----

fn fixture_holidays() -> Vec<String> {
    let text =
        std::fs::read_to_string(manifest_dir().join("tests/fixtures/holidays_england_wales.txt"))
            .expect("holiday fixture");
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn holidays_match_the_published_list() {
    let run = redress(&["holidays", "1995", "2100"]);
    run.ok();
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();

    let fixture = fixture_holidays();
    let first = date(&fixture[0]).year();
    let last = date(fixture.last().unwrap()).year();
    assert_eq!((first, last), (1995, 2030));
    let covered: Vec<String> = lines
        .iter()
        .filter(|l| (first..=last).contains(&date(l).year()))
        .map(|l| (*l).to_owned())
        .collect();
    assert_eq!(covered, fixture);

    for day in [
        "2020-05-08",
        "2022-06-02",
        "2022-06-03",
        "2022-09-19",
        "2023-05-08",
        // substitute days
        "2004-12-27",
        "2004-12-28",
        "2010-12-27",
        "2010-12-28",
        "2015-12-28",
        "2020-12-28",
        "2021-12-27",
        "2021-12-28",
        "2022-01-03",
        "2022-12-27",
        "2027-12-27",
        "2027-12-28",
    ] {
        assert!(lines.contains(&day), "{day} missing");
    }

    let mut previous: Option<NaiveDate> = None;
    for line in &lines {
        assert_eq!(line.len(), 10, "not YYYY-MM-DD: {line:?}");
        let d = date(line);
        assert_eq!(d.format("%Y-%m-%d").to_string(), *line);
        assert!(
            !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
            "{line} is a weekend"
        );
        if let Some(p) = previous {
            assert!(p < d, "{p} then {d}: not strictly ascending");
        }
        previous = Some(d);
    }
    assert!(lines.first().unwrap().starts_with("1995-"));
    assert!(lines.last().unwrap().starts_with("2100-"));
    // Every year has its eight regular holidays at least.
    for year in 1995..=2100 {
        let n = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{year}-")))
            .count();
        assert!(n >= 8, "{year} has only {n} holidays");
    }
}

#[test]
fn holidays_before_the_first_year_are_refused() {
    let run = redress(&["holidays", "1994", "2000"]);
    run.failed();
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("1995 <= FROM_YEAR <= TO_YEAR <= 2100 (got 1994 2000)"),
        "{}",
        run.stderr
    );
}

#[test]
fn holidays_with_years_reversed_are_refused() {
    let run = redress(&["holidays", "2000", "1999"]);
    run.failed();
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("(got 2000 1999)"), "{}", run.stderr);
}

// ---- deadlines ----

fn deadlines(extra: &[&str]) -> Value {
    let mut args = vec!["deadlines"];
    args.extend_from_slice(extra);
    args.push("--json");
    let run = redress(&args);
    run.ok();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    serde_json::from_str(run.stdout.trim()).expect("deadlines --json prints JSON")
}

#[test]
fn deadlines_stage_1_over_christmas() {
    // Received Friday 18 December 2026. Christmas Day is a Friday and Boxing Day a Saturday,
    // so Monday 28 is the substitute day: acknowledgement due on the 5th working day,
    // Tuesday 29 December. The response is 10 working days after that, skipping 1 January.
    let run = redress(&[
        "deadlines",
        "--stage",
        "1",
        "--received",
        "2026-12-18",
        "--json",
    ]);
    run.ok();
    assert_eq!(
        run.stdout,
        "{\"stage\":1,\"received\":\"2026-12-18\",\"ack_due\":\"2026-12-29\",\
         \"response_due\":\"2027-01-13\",\"extended_due\":null}\n"
    );
    assert_eq!(
        deadlines(&["--stage", "1", "--received", "2026-12-18"]),
        json!({
            "stage": 1,
            "received": "2026-12-18",
            "ack_due": "2026-12-29",
            "response_due": "2027-01-13",
            "extended_due": null,
        })
    );
}

#[test]
fn deadlines_response_counts_from_the_actual_acknowledgement() {
    // Acknowledged Monday 21 December: 22, 23, 24, 29, 30, 31 December, 4, 5, 6, 7 January.
    assert_eq!(
        deadlines(&[
            "--stage",
            "1",
            "--received",
            "2026-12-18",
            "--acknowledged",
            "2026-12-21"
        ]),
        json!({
            "stage": 1,
            "received": "2026-12-18",
            "ack_due": "2026-12-29",
            "response_due": "2027-01-07",
            "extended_due": null,
        })
    );
}

#[test]
fn deadlines_with_an_extension() {
    // 10 working days after Wednesday 13 January 2027: Wednesday 27 January.
    assert_eq!(
        deadlines(&[
            "--stage",
            "1",
            "--received",
            "2026-12-18",
            "--extension-days",
            "10"
        ]),
        json!({
            "stage": 1,
            "received": "2026-12-18",
            "ack_due": "2026-12-29",
            "response_due": "2027-01-13",
            "extended_due": "2027-01-27",
        })
    );
}

#[test]
fn deadlines_stage_2() {
    // Acknowledge in 5 working days (6.11), respond within 20 after that (6.14).
    assert_eq!(
        deadlines(&["--stage", "2", "--received", "2026-12-18"]),
        json!({
            "stage": 2,
            "received": "2026-12-18",
            "ack_due": "2026-12-29",
            "response_due": "2027-01-27",
            "extended_due": null,
        })
    );
}

#[test]
fn deadlines_stage_3_is_rejected() {
    let run = redress(&[
        "deadlines",
        "--stage",
        "3",
        "--received",
        "2026-12-18",
        "--json",
    ]);
    run.failed();
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("stage must be 1 or 2"),
        "{}",
        run.stderr
    );
}

#[test]
fn deadlines_acknowledged_before_received_is_rejected() {
    let run = redress(&[
        "deadlines",
        "--stage",
        "1",
        "--received",
        "2026-12-18",
        "--acknowledged",
        "2026-12-17",
    ]);
    run.failed();
    assert!(
        run.stderr
            .contains("--acknowledged 2026-12-17 is before --received 2026-12-18"),
        "{}",
        run.stderr
    );
}

// ---- policy lint ----

fn lint(name: &str) -> Run {
    let path = manifest_dir()
        .join("examples/policies")
        .join(format!("{name}.toml"));
    redress(&["policy", "lint", path.to_str().unwrap()])
}

/// The provisions cited by the lint output, in order.
fn citations(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter_map(|l| {
            let start = l.find(" [")? + 2;
            let end = start + l[start..].find(']')?;
            Some(l[start..end].to_owned())
        })
        .collect()
}

#[test]
fn lint_passes_code_compliant_profiles() {
    for name in ["derby-2024", "code-2024"] {
        let run = lint(name);
        run.ok();
        assert!(
            run.stdout.contains(&format!(
                "`{name}` complies with the Complaint Handling Code"
            )),
            "{}",
            run.stdout
        );
        assert_eq!(citations(&run), Vec::<String>::new(), "{}", run.stdout);
    }
}

#[test]
fn lint_refuses_forhousing_three_stages() {
    let run = lint("forhousing");
    run.failed();
    let cited = citations(&run);
    assert!(cited.contains(&"5.3".to_owned()), "{}", run.stdout);
    assert!(cited.contains(&"5.2".to_owned()), "{}", run.stdout);
    assert!(run.stdout.contains("error [5.3]"), "{}", run.stdout);
    assert!(run.stdout.contains("error [5.2]"), "{}", run.stdout);
    assert!(!run.stdout.contains("complies"), "{}", run.stdout);
}

#[test]
fn lint_refuses_livin_informal_stage() {
    let run = lint("livin");
    run.failed();
    let cited = citations(&run);
    assert!(cited.contains(&"5.2".to_owned()), "{}", run.stdout);
    assert!(cited.contains(&"5.3".to_owned()), "{}", run.stdout);
    assert!(run.stdout.contains("\"Informal stage\""), "{}", run.stdout);
    assert!(!run.stdout.contains("complies"), "{}", run.stdout);
}

#[test]
fn lint_refuses_derby_2022_only_for_its_six_month_window() {
    let run = lint("derby-2022");
    run.failed();
    assert_eq!(citations(&run), ["2.3"], "{}", run.stdout);
    for timescale in ["6.2", "6.3", "6.11", "6.14"] {
        assert!(
            !run.stdout.contains(&format!("[{timescale}]")),
            "{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("6 months"), "{}", run.stdout);
}

// ---- check-config ----

#[test]
fn check_config_accepts_the_example() {
    let example = manifest_dir().join("redress.example.toml");
    let run = redress(&["check-config", "--config", example.to_str().unwrap()]);
    run.ok();
    assert!(
        run.stdout
            .contains("ok (Example Homes, policy code-2024, 4 staff, "),
        "{}",
        run.stdout
    );
    // The shipped rules were built and counted, as the daemon would at start.
    let rules: usize = run
        .stdout
        .split(" classification rules, letters from ")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rule count in {}", run.stdout));
    assert!(rules >= 100, "{}", run.stdout);
    // The letter templates beside it were rendered and checked.
    assert!(run.stdout.contains(", letters from "), "{}", run.stdout);
}

const BROKEN: &str = r#"[organisation]
name = "Example Homes"
reference_prefix = "eh"
homes_owned = 12800
webiste = "https://www.example.org"

[calendar]
closure_days = ["2026-12-24", "2026-02-30"]

[[staff]]
name = "Sam Handler"
email = "sam.handler@example.org"
role = "handler"

[[staff]]
name = "Alex Reviewer"
email = "alex.reviewer.example.org"
role = "handler"

[loging]
level = "debug"
"#;

#[test]
fn check_config_lists_every_problem_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.toml"), BROKEN).unwrap();
    let run = redress_in(dir.path(), &["check-config", "--config", "broken.toml"]);
    run.failed();
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    let stderr = &run.stderr;
    assert!(
        stderr.starts_with("broken.toml: 5 problem(s):\n"),
        "{stderr}"
    );
    for (needle, key) in [
        ("reference_prefix =", "organisation.reference_prefix"),
        ("webiste =", "organisation.webiste"),
        ("closure_days =", "calendar.closure_days"),
        ("alex.reviewer.example.org", "staff[1].email"),
        ("[loging]", "loging"),
    ] {
        let line = line_of(BROKEN, needle);
        let expected = format!("  broken.toml:line {line}: {key}: ");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with(&expected)).count(),
            1,
            "no line starting {expected:?} in\n{stderr}"
        );
    }
    assert_eq!(line_of(BROKEN, "[loging]"), 20);
}

#[test]
fn check_config_of_a_missing_file_is_a_clear_error() {
    let run = redress(&["check-config", "--config", "no-such-redress.toml"]);
    run.failed();
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("cannot read configuration file no-such-redress.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn case_command_without_a_configuration_names_the_file() {
    let run = redress(&["case", "list"]);
    run.failed();
    assert!(
        run.stderr
            .contains("cannot read configuration file redress.toml"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--config"), "{}", run.stderr);
}

// ---- cases ----

/// A landlord folder: `redress.toml` (the example, with its store in `store/`).
struct Landlord {
    dir: tempfile::TempDir,
}

impl Landlord {
    fn new() -> Landlord {
        let dir = tempfile::tempdir().unwrap();
        let example = std::fs::read_to_string(manifest_dir().join("redress.example.toml")).unwrap();
        let config = example.replace("path = \"data/redress.sled\"", "path = \"store\"");
        assert_ne!(config, example, "the example's store path moved");
        std::fs::write(dir.path().join("redress.toml"), config).unwrap();
        Landlord { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn run(&self, args: &[&str]) -> Run {
        redress_in(self.path(), args)
    }

    fn open_by(&self, received: &str, by: &str) -> Run {
        self.run(&[
            "case",
            "open",
            "--kind",
            "complaint",
            "--received",
            received,
            "--name",
            "Pat Resident",
            "--email",
            "pat.resident@example.net",
            "--summary",
            "Damp in the back bedroom, reported twice",
            "--by",
            by,
        ])
    }

    fn open(&self, received: &str) -> String {
        let run = self.open_by(received, "sam.handler@example.org");
        run.ok();
        run.stdout.trim_end().to_owned()
    }

    fn record(&self, reference: &str, event: &str) -> Run {
        self.run(&[
            "case",
            "record",
            reference,
            "--event",
            event,
            "--by",
            "sam.handler@example.org",
        ])
    }
}

const DEFINITION: &str = r#"{"type":"definition_recorded","definition":{"understanding":"Damp in the back bedroom since October","outcome_sought":"The damp treated and the room redecorated","responsible_for":"Repairs to the building","not_responsible_for":"The resident's contents"}}"#;
const ACKNOWLEDGED: &str = r#"{"type":"acknowledged","on":"2026-12-21"}"#;

#[test]
fn case_references_are_sequential_per_year() {
    let l = Landlord::new();
    assert_eq!(l.open("2026-12-18"), "EH-2026-00001");
    assert_eq!(l.open("2026-12-18"), "EH-2026-00002");
    assert_eq!(l.open("2025-03-03"), "EH-2025-00001");
    assert_eq!(l.open("2026-01-05"), "EH-2026-00003");
}

#[test]
fn case_open_by_someone_not_on_the_staff_list_is_refused() {
    let l = Landlord::new();
    let run = l.open_by("2026-12-18", "nobody@example.org");
    run.failed();
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("nobody@example.org is not in the [[staff]] list"),
        "{}",
        run.stderr
    );
    // Nothing was opened.
    let list = l.run(&["case", "list", "--json"]);
    list.ok();
    assert_eq!(list.stdout, "");
}

#[test]
fn case_list_and_show_as_json() {
    let l = Landlord::new();
    l.open("2026-12-18");
    l.open("2026-12-18");
    l.open("2025-03-03");

    let list = l.run(&["case", "list", "--json"]);
    list.ok();
    let cases = list.json_lines();
    let summary: Vec<(&str, &str, &str, &str)> = cases
        .iter()
        .map(|c| {
            (
                c["reference"].as_str().unwrap(),
                c["received"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("EH-2025-00001", "2025-03-03", "received", "complaint"),
            ("EH-2026-00001", "2026-12-18", "received", "complaint"),
            ("EH-2026-00002", "2026-12-18", "received", "complaint"),
        ]
    );

    let show = l.run(&["case", "show", "EH-2026-00001", "--json"]);
    show.ok();
    let v: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    assert_eq!(v["case"]["reference"], "EH-2026-00001");
    assert_eq!(v["case"]["complainant"]["name"], "Pat Resident");
    assert_eq!(
        v["case"]["complainant"]["email"],
        "pat.resident@example.net"
    );
    // The example closes on 24 and 31 December: acknowledgement on Wednesday 30 December,
    // response 10 working days later on Friday 15 January.
    assert_eq!(v["case"]["stages"]["1"]["ack_due"], "2026-12-30");
    assert_eq!(v["case"]["stages"]["1"]["response_due"], "2027-01-15");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["reference"], "EH-2026-00001");
    assert_eq!(events[0]["actor"], "sam.handler@example.org");
    assert_eq!(events[0]["event"]["type"], "opened");
    assert_eq!(events[0]["event"]["received"], "2026-12-18");
    assert_eq!(
        events[0]["event"]["summary"],
        "Damp in the back bedroom, reported twice"
    );

    let missing = l.run(&["case", "show", "EH-2026-00099", "--json"]);
    missing.failed();
    assert!(
        missing.stderr.contains("no case EH-2026-00099"),
        "{}",
        missing.stderr
    );
}

fn due_entries(l: &Landlord) -> Vec<(String, String, String)> {
    let run = l.run(&["due", "--json"]);
    run.ok();
    run.json_lines()
        .iter()
        .map(|e| {
            (
                e["due"].as_str().unwrap().to_owned(),
                e["reference"].as_str().unwrap().to_owned(),
                e["what"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn entries(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

#[test]
fn due_lists_deadlines_in_date_order() {
    let l = Landlord::new();
    l.open("2026-12-18");
    l.open("2025-03-03");
    l.open("2026-12-18");
    assert_eq!(
        due_entries(&l),
        entries(&[
            ("2025-03-10", "EH-2025-00001", "ack1"),
            ("2025-03-24", "EH-2025-00001", "response1"),
            ("2026-12-30", "EH-2026-00001", "ack1"),
            ("2026-12-30", "EH-2026-00002", "ack1"),
            ("2027-01-15", "EH-2026-00001", "response1"),
            ("2027-01-15", "EH-2026-00002", "response1"),
        ])
    );
}

#[test]
fn acknowledgement_needs_the_complaint_definition_first() {
    let l = Landlord::new();
    let reference = l.open("2026-12-18");

    let refused = l.record(&reference, ACKNOWLEDGED);
    refused.failed();
    assert!(refused.stderr.contains("Code 5.6"), "{}", refused.stderr);
    assert_eq!(refused.stdout, "");

    let defined = l.record(&reference, DEFINITION);
    defined.ok();
    assert_eq!(defined.stdout, "EH-2026-00001 is now received (event 2)\n");
    let acknowledged = l.record(&reference, ACKNOWLEDGED);
    acknowledged.ok();
    assert_eq!(
        acknowledged.stdout,
        "EH-2026-00001 is now acknowledged (event 3)\n"
    );

    let show = l.run(&["case", "show", &reference, "--json"]);
    show.ok();
    let v: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    let types: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["opened", "definition_recorded", "acknowledged"]);
    assert_eq!(v["case"]["status"], "acknowledged");
    assert_eq!(v["case"]["stages"]["1"]["acknowledged_on"], "2026-12-21");
    // The response clock now runs from 21 December: 22, 23, 29, 30 December (24 and 31 are
    // closure days), 4-8 and 11 January.
    assert_eq!(
        due_entries(&l),
        entries(&[("2027-01-11", "EH-2026-00001", "response1")])
    );

    let verify = l.run(&["verify"]);
    verify.ok();
    assert_eq!(verify.stdout, "1 cases, 3 events, 0 problems\n");
}

#[test]
fn record_by_someone_not_on_the_staff_list_is_refused() {
    let l = Landlord::new();
    let reference = l.open("2026-12-18");
    let run = l.run(&[
        "case",
        "record",
        &reference,
        "--event",
        DEFINITION,
        "--by",
        "nobody@example.org",
    ]);
    run.failed();
    assert!(
        run.stderr
            .contains("nobody@example.org is not in the [[staff]] list"),
        "{}",
        run.stderr
    );
}

#[test]
fn verify_a_fresh_store_reports_no_problems() {
    let l = Landlord::new();
    l.open("2026-12-18");
    l.open("2025-03-03");
    let run = l.run(&["verify"]);
    run.ok();
    assert!(run.stdout.ends_with("0 problems\n"), "{}", run.stdout);
    assert_eq!(run.stdout, "2 cases, 2 events, 0 problems\n");
}

#[test]
fn export_then_import_restores_an_identical_store() {
    let l = Landlord::new();
    let reference = l.open("2026-12-18");
    l.open("2025-03-03");
    l.record(&reference, DEFINITION).ok();
    l.record(&reference, ACKNOWLEDGED).ok();

    let first = l.path().join("first.jsonl");
    let run = l.run(&["export", "--out", first.to_str().unwrap()]);
    run.ok();
    assert!(run.stderr.contains("exported 4 events"), "{}", run.stderr);

    let other = Landlord::new();
    let import = other.run(&["import", first.to_str().unwrap()]);
    import.ok();
    assert!(
        import.stdout.contains("imported 4 events")
            && import.stdout.contains("re-export is identical"),
        "{}",
        import.stdout
    );
    assert_ne!(other.store(), l.store());

    let second = other.path().join("second.jsonl");
    other
        .run(&["export", "--out", second.to_str().unwrap()])
        .ok();
    let a = std::fs::read(&first).unwrap();
    let b = std::fs::read(&second).unwrap();
    assert!(!a.is_empty());
    assert!(a == b, "the second export differs from the first");

    let list = other.run(&["case", "list", "--json"]);
    list.ok();
    assert_eq!(list.json_lines().len(), 2);
    other.run(&["verify"]).ok();

    // The restored store is not empty any more: a second import is refused.
    let again = other.run(&["import", first.to_str().unwrap()]);
    again.failed();
    assert!(
        again.stderr.contains("import needs an empty store"),
        "{}",
        again.stderr
    );
    let after = other.path().join("after.jsonl");
    other
        .run(&["export", "--out", after.to_str().unwrap()])
        .ok();
    assert!(
        std::fs::read(&after).unwrap() == a,
        "a refused import changed the store"
    );
}

#[test]
fn import_into_a_store_with_cases_is_refused() {
    let l = Landlord::new();
    l.open("2026-12-18");
    let export = l.path().join("export.jsonl");
    l.run(&["export", "--out", export.to_str().unwrap()]).ok();

    let other = Landlord::new();
    other.open("2025-03-03");
    let run = other.run(&["import", export.to_str().unwrap()]);
    run.failed();
    assert!(
        run.stderr.contains("import needs an empty store"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_store_held_by_another_process_is_reported_as_in_use() {
    let l = Landlord::new();
    l.open("2026-12-18");
    let held = redress::store::Store::open(&l.store(), "EH").expect("the test opens the store");
    let run = l.run(&["case", "list"]);
    run.failed();
    assert!(
        run.stderr.contains("is in use by another process"),
        "{}",
        run.stderr
    );
    drop(held);
    // Once it is released, the command works again.
    l.run(&["case", "list"]).ok();
}

#[test]
fn a_damaged_store_is_a_clear_error_not_a_panic() {
    let l = Landlord::new();
    l.open("2026-12-18");
    // Overwrite every file of the store with garbage (deterministic bytes).
    let mut state: u32 = 0x2545_f491;
    let mut garbage = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect()
    };
    let mut overwritten = Vec::new();
    for entry in std::fs::read_dir(l.store()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::write(&path, garbage(8192)).unwrap();
            overwritten.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(overwritten.contains(&"db".to_owned()), "{overwritten:?}");
    assert!(overwritten.contains(&"conf".to_owned()), "{overwritten:?}");

    for args in [&["case", "list"][..], &["verify"], &["due"]] {
        let run = l.run(args);
        run.failed();
        assert!(
            run.stderr.contains("is damaged") && run.stderr.contains("redress import"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_store_whose_log_is_overwritten_is_not_silently_empty() {
    let l = Landlord::new();
    l.open("2026-12-18");
    let db = l.store().join("db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&db, garbage).unwrap();

    let run = l.run(&["case", "list", "--json"]);
    run.failed();
    assert!(run.stderr.contains("is damaged"), "{}", run.stderr);
    // Above all, the reference already given to a resident is not handed out again.
    let reopened = l.open_by("2026-12-18", "sam.handler@example.org");
    assert_ne!(reopened.stdout.trim_end(), "EH-2026-00001");
}

#[test]
fn letters_preview_from_a_real_case_says_what_it_lacks_until_the_complaint_is_defined() {
    let l = Landlord::new();
    let reference = l.open("2026-12-18");
    let preview = |format: &str| {
        l.run(&[
            "--config",
            "redress.toml",
            "letters",
            "preview",
            "stage1_ack",
            "--case",
            &reference,
            "--format",
            format,
        ])
    };
    let before = preview("text");
    before.failed();
    assert!(
        before.stderr.contains("cannot be approved as it stands")
            && before.stderr.contains(
                "(Code 5.6): our understanding of the complaint has not been recorded on the case"
            ),
        "{}",
        before.stderr
    );
    assert!(
        before
            .stdout
            .starts_with(&format!("Subject: [{reference}] "))
    );

    l.record(&reference, DEFINITION).ok();
    let after = preview("html");
    after.ok();
    assert!(
        after.stderr.contains("stage1_ack: complies"),
        "{}",
        after.stderr
    );
    assert!(
        after
            .stdout
            .contains("Damp in the back bedroom since October")
    );
    assert!(after.stdout.starts_with("<!DOCTYPE html>"));

    let unknown = l.run(&["letters", "preview", "apology", "--sample"]);
    unknown.failed();
    assert!(
        unknown.stderr.contains("unknown letter `apology`"),
        "{}",
        unknown.stderr
    );
}
