//! The configuration loader: the shipped example, defaults, problem reports with keys and
//! lines, environment overrides, secrets from files and policy profiles.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use redress::config::{ConfigError, Loaded, Problem, Role, load, load_str};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
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

/// Loads `text` as if it were `/srv/redress/redress.toml`.
fn load_text(text: &str, vars: Vec<(String, String)>) -> Result<Loaded, ConfigError> {
    load_str(text, "redress.toml", Path::new("/srv/redress"), vars)
}

fn problems(result: Result<Loaded, ConfigError>) -> Vec<Problem> {
    match result {
        Ok(loaded) => panic!("expected problems, but it loaded: {loaded:?}"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(other) => panic!("expected ConfigError::Invalid, got {other:?}"),
    }
}

/// (key, line) of every problem, sorted, for exact comparison.
fn keys_and_lines(problems: &[Problem]) -> Vec<(String, Option<usize>)> {
    let mut v: Vec<_> = problems.iter().map(|p| (p.key.clone(), p.line)).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, Option<usize>)>) -> Vec<(String, Option<usize>)> {
    v.sort();
    v
}

fn only_problem_with_key<'p>(problems: &'p [Problem], key: &str) -> &'p Problem {
    let hits: Vec<&Problem> = problems.iter().filter(|p| p.key == key).collect();
    assert_eq!(
        hits.len(),
        1,
        "one problem on `{key}` expected in {problems:#?}"
    );
    hits[0]
}

const MINIMAL: &str = r#"[organisation]
name = "Example Homes"
reference_prefix = "EH"
homes_owned = 12800
"#;

#[test]
fn example_file_loads_with_its_values() {
    let path = manifest_dir().join("redress.example.toml");
    let loaded = load(&path, no_env()).expect("redress.example.toml must load cleanly");
    let c = &loaded.config;
    assert_eq!(c.organisation.name, "Example Homes");
    assert_eq!(c.organisation.reference_prefix, "EH");
    assert_eq!(c.organisation.homes_owned, 12800);
    assert_eq!(
        c.organisation.address,
        ["Example House", "1 High Street", "Derby", "DE1 1AA"]
    );
    assert_eq!(
        c.organisation.email.as_deref(),
        Some("complaints@example.org")
    );
    assert_eq!(c.calendar.timezone, "Europe/London");
    assert_eq!(
        c.calendar.closure_days,
        [date("2026-12-24"), date("2026-12-31")]
    );
    assert_eq!(c.policy.profile, "code-2024");
    assert_eq!(loaded.policy.name, "code-2024");
    let staff: Vec<(&str, Option<Role>)> =
        c.staff.iter().map(|s| (s.email.as_str(), s.role)).collect();
    assert_eq!(
        staff,
        [
            ("sam.handler@example.org", Some(Role::Handler)),
            ("alex.reviewer@example.org", Some(Role::Handler)),
            ("morgan.manager@example.org", Some(Role::Manager)),
            ("jo.senior@example.org", Some(Role::Senior)),
        ]
    );
    assert_eq!(c.api.token, None);
    assert_eq!(c.store.path, PathBuf::from("data/redress.sled"));
    assert_eq!(
        loaded.store_path,
        manifest_dir().join("data").join("redress.sled")
    );
    assert_eq!(loaded.timezone, chrono_tz::Europe::London);
    assert_eq!(loaded.origin, path.display().to_string());
    assert_eq!(
        loaded.calendar.closures().collect::<Vec<_>>(),
        [date("2026-12-24"), date("2026-12-31")]
    );
    assert!(!loaded.calendar.is_working_day(date("2026-12-24")));
    assert!(loaded.calendar.is_working_day(date("2026-12-23")));
}

#[test]
fn minimal_file_loads_with_all_defaults() {
    let loaded = load_text(MINIMAL, no_env()).expect("minimal file must load");
    let c = &loaded.config;
    assert_eq!(c.organisation.name, "Example Homes");
    assert_eq!(c.organisation.reference_prefix, "EH");
    assert_eq!(c.organisation.homes_owned, 12800);
    assert!(c.organisation.address.is_empty());
    assert_eq!(c.organisation.email, None);
    assert_eq!(c.calendar.timezone, "Europe/London");
    assert_eq!(loaded.timezone, chrono_tz::Europe::London);
    assert!(c.calendar.closure_days.is_empty());
    assert_eq!(c.policy.profile, "code-2024");
    assert_eq!(loaded.policy.name, "code-2024");
    assert!(c.staff.is_empty());
    assert_eq!(c.api.token, None);
    assert_eq!(
        loaded.store_path,
        PathBuf::from("/srv/redress/data/redress.sled")
    );

    let housing = &c.ombudsman.housing;
    assert_eq!(housing.name, "Housing Ombudsman Service");
    assert_eq!(housing.phone.as_deref(), Some("0300 111 3000"));
    assert_eq!(
        housing.email.as_deref(),
        Some("info@housing-ombudsman.org.uk")
    );
    assert_eq!(housing.website, "https://www.housing-ombudsman.org.uk");
    assert_eq!(
        housing.address,
        ["PO Box 1484", "Unit D", "Preston", "PR2 0ET"]
    );

    let lgsco = &c.ombudsman.lgsco;
    assert_eq!(lgsco.name, "Local Government and Social Care Ombudsman");
    assert_eq!(lgsco.phone.as_deref(), Some("0300 061 0614"));
    assert_eq!(lgsco.website, "https://www.lgo.org.uk");
    assert_eq!(lgsco.address, ["PO Box 4771", "Coventry", "CV4 0EH"]);

    assert_eq!(
        c.ombudsman.building_safety.name,
        "Building Safety Regulator"
    );
}

/// Problems in different sections that do not depend on one another.
const SEVERAL_PROBLEMS: &str = r#"# A landlord's first attempt.
[organisation]
name = "Example Homes"
reference_prefix = "eh-1"
homes_owned = 12800
adress = ["1 High Street", "Derby"]

[store]
path = "data/store"

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

[ombudsman.housing]
phon = "0300 111 3000"

[logging]
level = "debug"
"#;

#[test]
fn several_problems_in_one_file_are_all_reported() {
    let text = SEVERAL_PROBLEMS;
    let found = problems(load_text(text, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        sorted(vec![
            (
                "organisation.reference_prefix".into(),
                Some(line_of(text, "reference_prefix ="))
            ),
            (
                "organisation.adress".into(),
                Some(line_of(text, "adress ="))
            ),
            (
                "calendar.closure_days".into(),
                Some(line_of(text, "closure_days ="))
            ),
            (
                "staff[1].email".into(),
                Some(line_of(text, "alex.reviewer.example.org"))
            ),
            (
                "ombudsman.housing.phon".into(),
                Some(line_of(text, "phon ="))
            ),
            ("logging".into(), Some(line_of(text, "[logging]"))),
        ]),
        "{found:#?}"
    );
    // Spot-check the lines against the fixture as written.
    assert_eq!(line_of(text, "reference_prefix ="), 4);
    assert_eq!(line_of(text, "[logging]"), 27);

    let date = only_problem_with_key(&found, "calendar.closure_days");
    assert!(date.message.contains("`2026-02-30`"), "{date:?}");
    let email = only_problem_with_key(&found, "staff[1].email");
    assert!(
        email.message.contains("`alex.reviewer.example.org`"),
        "{email:?}"
    );
    let prefix = only_problem_with_key(&found, "organisation.reference_prefix");
    assert!(prefix.message.contains("`eh-1`"), "{prefix:?}");
    let section = only_problem_with_key(&found, "logging");
    assert!(section.message.contains("unknown section"), "{section:?}");
    assert!(found.iter().all(|p| p.env.is_none()), "{found:#?}");
}

#[test]
fn problems_render_as_origin_line_key_message() {
    let text =
        "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"eh\"\nhomes_owned = 10\n";
    let err = load_text(text, no_env()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "redress.toml: 1 problem(s):\n  redress.toml:line 3: organisation.reference_prefix: \
         `eh` must be 1 to 8 capital letters or digits starting with a letter, e.g. \"DH\""
    );
}

#[test]
fn bad_timezone_is_reported_with_its_line() {
    let text = format!("{MINIMAL}\n[calendar]\ntimezone = \"Europe/Londres\"\n");
    let found = problems(load_text(&text, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        [(
            "calendar.timezone".to_owned(),
            Some(line_of(&text, "timezone ="))
        )]
    );
    assert_eq!(line_of(&text, "timezone ="), 7);
    assert!(found[0].message.contains("`Europe/Londres`"), "{found:?}");
}

#[test]
fn bad_closure_date_does_not_hide_bad_timezone() {
    let text = format!(
        "{MINIMAL}\n[calendar]\ntimezone = \"Europe/Londres\"\nclosure_days = [\"2026-02-30\"]\n"
    );
    let found = problems(load_text(&text, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        sorted(vec![
            ("calendar.timezone".into(), Some(7)),
            ("calendar.closure_days".into(), Some(8)),
        ])
    );
}

#[test]
fn toml_syntax_error_reports_its_line() {
    let text =
        "[organisation]\nname = \"Example Homes\"\nreference_prefix = \"EH\nhomes_owned = 10\n";
    let found = problems(load_text(text, no_env()));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "");
    assert_eq!(found[0].line, Some(3));
    assert!(found[0].message.starts_with("not valid TOML"), "{found:?}");
}

#[test]
fn duplicate_key_reports_the_second_line() {
    let text = format!("{MINIMAL}homes_owned = 200\n");
    let found = problems(load_text(&text, no_env()));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, Some(5));
    assert!(found[0].message.contains("duplicate key"), "{found:?}");
}

const WRONG_TYPE: &str = r#"[organisation]
name = "Example Homes"
reference_prefix = "EH"
homes_owned = "many"
"#;

#[test]
fn wrong_type_names_the_key_and_line() {
    let found = problems(load_text(WRONG_TYPE, no_env()));
    let homes: Vec<&Problem> = found
        .iter()
        .filter(|p| p.key == "organisation.homes_owned" && p.message.contains("\"many\""))
        .collect();
    assert_eq!(homes.len(), 1, "{found:#?}");
    assert_eq!(homes[0].line, Some(4));
    assert!(homes[0].message.contains("invalid type"), "{homes:?}");
}

#[test]
fn wrong_type_reports_only_that_key() {
    let found = problems(load_text(WRONG_TYPE, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        [("organisation.homes_owned".to_owned(), Some(4))],
        "{found:#?}"
    );
}

#[test]
fn env_overrides_store_path() {
    let loaded = load_text(
        MINIMAL,
        env(&[("REDRESS_STORE_PATH", "/var/lib/redress/store")]),
    )
    .unwrap();
    assert_eq!(
        loaded.config.store.path,
        PathBuf::from("/var/lib/redress/store")
    );
    assert_eq!(loaded.store_path, PathBuf::from("/var/lib/redress/store"));

    let relative = load_text(MINIMAL, env(&[("REDRESS_STORE_PATH", "cases")])).unwrap();
    assert_eq!(relative.store_path, PathBuf::from("/srv/redress/cases"));
}

#[test]
fn env_overrides_a_key_written_in_the_file() {
    let loaded = load_text(
        MINIMAL,
        env(&[("REDRESS_ORGANISATION_REFERENCE_PREFIX", "DH")]),
    )
    .unwrap();
    assert_eq!(loaded.config.organisation.reference_prefix, "DH");
    assert_eq!(loaded.config.organisation.name, "Example Homes");
}

#[test]
fn env_overrides_a_nested_key_and_keeps_the_other_defaults() {
    let loaded = load_text(
        MINIMAL,
        env(&[("REDRESS_OMBUDSMAN_HOUSING_PHONE", "0300 222 3333")]),
    )
    .unwrap();
    let housing = &loaded.config.ombudsman.housing;
    assert_eq!(housing.phone.as_deref(), Some("0300 222 3333"));
    assert_eq!(housing.name, "Housing Ombudsman Service");
    assert_eq!(
        housing.address,
        ["PO Box 1484", "Unit D", "Preston", "PR2 0ET"]
    );
    assert_eq!(
        loaded.config.ombudsman.lgsco.phone.as_deref(),
        Some("0300 061 0614")
    );
}

#[test]
fn env_override_of_an_integer_is_coerced() {
    let loaded = load_text(
        MINIMAL,
        env(&[("REDRESS_ORGANISATION_HOMES_OWNED", " 250 ")]),
    )
    .unwrap();
    assert_eq!(loaded.config.organisation.homes_owned, 250);
}

#[test]
fn env_override_that_is_not_a_number_names_the_variable() {
    let err = load_text(
        MINIMAL,
        env(&[("REDRESS_ORGANISATION_HOMES_OWNED", "lots")]),
    )
    .unwrap_err();
    let text = err.to_string();
    let found = problems(Err(err));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "organisation.homes_owned");
    assert_eq!(
        found[0].env.as_deref(),
        Some("REDRESS_ORGANISATION_HOMES_OWNED")
    );
    assert!(found[0].message.contains("`lots`"), "{found:?}");
    assert!(
        text.contains("organisation.homes_owned (from REDRESS_ORGANISATION_HOMES_OWNED): `lots`"),
        "{text}"
    );
}

#[test]
fn env_override_of_closure_days_is_a_comma_list() {
    let text = format!("{MINIMAL}\n[calendar]\nclosure_days = [\"2026-08-28\"]\n");
    let loaded = load_text(
        &text,
        env(&[("REDRESS_CALENDAR_CLOSURE_DAYS", "2026-12-24, 2026-12-31,")]),
    )
    .unwrap();
    assert_eq!(
        loaded.config.calendar.closure_days,
        [date("2026-12-24"), date("2026-12-31")]
    );
    assert!(!loaded.calendar.is_working_day(date("2026-12-31")));
    assert!(loaded.calendar.is_working_day(date("2026-08-28")));
}

#[test]
fn env_override_with_a_bad_date_names_the_variable() {
    let found = problems(load_text(
        MINIMAL,
        env(&[("REDRESS_CALENDAR_CLOSURE_DAYS", "2026-12-24,2026-13-01")]),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "calendar.closure_days");
    assert_eq!(
        found[0].env.as_deref(),
        Some("REDRESS_CALENDAR_CLOSURE_DAYS")
    );
    assert!(found[0].message.contains("`2026-13-01`"), "{found:?}");
}

#[test]
fn env_variable_naming_no_key_is_reported() {
    let found = problems(load_text(
        MINIMAL,
        env(&[("REDRESS_STORAGE_PATH", "/var/lib/redress")]),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "");
    assert_eq!(found[0].line, None);
    assert_eq!(
        found[0].message,
        "environment variable REDRESS_STORAGE_PATH names no configuration key"
    );
}

#[test]
fn env_variable_naming_an_unknown_key_in_a_section_is_reported() {
    let found = problems(load_text(
        MINIMAL,
        env(&[("REDRESS_ORGANISATION_NAEM", "Other Homes")]),
    ));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "organisation.naem");
    assert_eq!(found[0].env.as_deref(), Some("REDRESS_ORGANISATION_NAEM"));
}

#[test]
fn variables_that_are_not_keys_are_ignored() {
    let loaded = load_text(
        MINIMAL,
        env(&[
            ("REDRESS_CONFIG", "/etc/redress/redress.toml"),
            ("REDRESS_LOG", "debug"),
            ("HOME", "/root"),
            ("REDRESSED", "yes"),
        ]),
    )
    .expect("REDRESS_CONFIG and REDRESS_LOG are not configuration keys");
    assert_eq!(loaded.config.organisation.reference_prefix, "EH");
}

/// Writes `redress.toml` (MINIMAL plus `extra`) and the given files into a fresh folder.
fn config_dir(extra: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{MINIMAL}{extra}");
    let path = dir.path().join("redress.toml");
    std::fs::write(&path, &text).unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    (dir, path, text)
}

#[test]
fn token_file_is_read_relative_to_the_config_folder_and_trimmed() {
    let (_dir, path, _) = config_dir(
        "\n[api]\ntoken_file = \"token.txt\"\n",
        &[("token.txt", "  0123456789abcdef-secret \n")],
    );
    let loaded = load(&path, no_env()).unwrap();
    assert_eq!(
        loaded.config.api.token.as_deref(),
        Some("0123456789abcdef-secret")
    );
}

#[test]
fn missing_token_file_names_api_token_file() {
    let (_dir, path, text) = config_dir("\n[api]\ntoken_file = \"no-such-token.txt\"\n", &[]);
    let found = problems(load(&path, no_env()));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "api.token_file");
    assert_eq!(found[0].line, Some(line_of(&text, "token_file =")));
    assert!(found[0].message.contains("no-such-token.txt"), "{found:?}");
}

#[test]
fn empty_token_file_is_an_error() {
    let (_dir, path, _) = config_dir(
        "\n[api]\ntoken_file = \"token.txt\"\n",
        &[("token.txt", " \n")],
    );
    let found = problems(load(&path, no_env()));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "api.token_file");
    assert!(found[0].message.ends_with("is empty"), "{found:?}");
}

#[test]
fn token_and_token_file_together_are_an_error() {
    let (_dir, path, text) = config_dir(
        "\n[api]\ntoken = \"0123456789abcdef-inline\"\ntoken_file = \"token.txt\"\n",
        &[("token.txt", "0123456789abcdef-secret")],
    );
    let found = problems(load(&path, no_env()));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "api.token_file");
    assert_eq!(found[0].line, Some(line_of(&text, "token_file =")));
    assert_eq!(
        found[0].message,
        "give either `token` or `token_file`, not both"
    );
}

#[test]
fn token_file_from_the_environment() {
    let (_dir, path, _) = config_dir("", &[("token.txt", "0123456789abcdef-secret\n")]);
    let loaded = load(&path, env(&[("REDRESS_API_TOKEN_FILE", "token.txt")])).unwrap();
    assert_eq!(
        loaded.config.api.token.as_deref(),
        Some("0123456789abcdef-secret")
    );
}

fn policy_path(name: &str) -> String {
    manifest_dir()
        .join("examples/policies")
        .join(format!("{name}.toml"))
        .display()
        .to_string()
}

#[test]
fn policy_profile_by_path_loads() {
    let profile = policy_path("derby-2024");
    let text = format!("{MINIMAL}\n[policy]\nprofile = \"{profile}\"\n");
    let loaded = load_text(&text, no_env()).unwrap();
    assert_eq!(loaded.policy.name, "derby-2024");
    assert_eq!(loaded.config.policy.profile, profile);

    // A relative path is taken from the configuration file's folder.
    let relative =
        format!("{MINIMAL}\n[policy]\nprofile = \"examples/policies/derby-2024.toml\"\n");
    let loaded = load_str(&relative, "redress.toml", &manifest_dir(), no_env()).unwrap();
    assert_eq!(loaded.policy.name, "derby-2024");
}

#[test]
fn policy_profile_that_breaks_the_code_is_refused_citing_5_3() {
    let text = format!(
        "{MINIMAL}\n[policy]\nprofile = \"{}\"\n",
        policy_path("forhousing")
    );
    let found = problems(load_text(&text, no_env()));
    let line = line_of(&text, "profile =");
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|p| p.key == "policy.profile" && p.line == Some(line)),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.message.contains("[5.3]")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.message.contains("[5.2]")),
        "{found:#?}"
    );
}

#[test]
fn missing_policy_profile_is_reported() {
    let text = format!("{MINIMAL}\n[policy]\nprofile = \"no-such-policy.toml\"\n");
    let found = problems(load_text(&text, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        [("policy.profile".to_owned(), Some(7))]
    );
    assert!(
        found[0].message.contains("no-such-policy.toml"),
        "{found:?}"
    );
}

const STAFF: &str = r#"
[[staff]]
name = "Sam Handler"
email = "sam.handler@example.org"
role = "handler"

[[staff]]
name = "Alex Reviewer"
email = "alex.reviewer@example.org"
role = "handler"

[[staff]]
name = "Morgan Manager"
email = "SAM.Handler@example.org"
role = "manager"
"#;

#[test]
fn duplicate_staff_emails_are_reported() {
    let text = format!("{MINIMAL}{STAFF}");
    let found = problems(load_text(&text, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        [(
            "staff[2].email".to_owned(),
            Some(line_of(&text, "SAM.Handler@example.org"))
        )]
    );
    assert_eq!(line_of(&text, "SAM.Handler@example.org"), 18);
    assert!(found[0].message.contains("listed twice"), "{found:?}");
}

#[test]
fn staff_role_typo_is_reported_with_its_key() {
    let text = format!(
        "{MINIMAL}{}",
        STAFF
            .replace("SAM.Handler@example.org", "morgan.manager@example.org")
            .replace("role = \"manager\"", "role = \"manger\"")
    );
    let found = problems(load_text(&text, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        [(
            "staff[2].role".to_owned(),
            Some(line_of(&text, "\"manger\""))
        )]
    );
    assert_eq!(line_of(&text, "\"manger\""), 19);
    assert!(found[0].message.contains("`manger`"), "{found:?}");
}

#[test]
fn unknown_key_in_a_staff_entry_is_reported() {
    let text = format!(
        "{MINIMAL}{}",
        STAFF.replace("SAM.Handler", "morgan.manager")
    )
    .replace("name = \"Alex Reviewer\"", "nmae = \"Alex Reviewer\"");
    let found = problems(load_text(&text, no_env()));
    // The misspelt key, and the required key it should have been (pointing at the entry).
    assert_eq!(
        keys_and_lines(&found),
        sorted(vec![
            (
                "staff[1].name".to_owned(),
                Some(line_of(&text, "nmae =") - 1)
            ),
            ("staff[1].nmae".to_owned(), Some(line_of(&text, "nmae =")))
        ])
    );
}

#[test]
fn staff_role_typo_does_not_hide_other_staff_problems() {
    let text = format!(
        "{MINIMAL}{}",
        STAFF
            .replace("alex.reviewer@example.org", "alex.reviewer.example.org")
            .replace("role = \"manager\"", "role = \"manger\"")
    );
    let found = problems(load_text(&text, no_env()));
    assert_eq!(
        keys_and_lines(&found),
        sorted(vec![
            (
                "staff[1].email".into(),
                Some(line_of(&text, "alex.reviewer.example.org"))
            ),
            (
                "staff[2].email".into(),
                Some(line_of(&text, "SAM.Handler@example.org"))
            ),
            ("staff[2].role".into(), Some(line_of(&text, "\"manger\""))),
        ])
    );
}

#[test]
fn missing_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-redress.toml");
    match load(&path, no_env()) {
        Err(ConfigError::Read { path: p, source }) => {
            assert_eq!(p, path.display().to_string());
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected ConfigError::Read, got {other:?}"),
    }
}

#[test]
fn check_config_reports_a_broken_rule_file_under_classify_rules_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("my-rules");
    std::fs::create_dir(&rules).unwrap();
    // Line 3 holds a pattern that is not a regular expression.
    std::fs::write(
        rules.join("repairs.toml"),
        "[[rule]]\nid = \"repairs.tap\"\npatterns = ['dripping (tap']\nkind = \"service_request\"\n",
    )
    .unwrap();
    let config = dir.path().join("redress.toml");
    std::fs::write(
        &config,
        format!("{MINIMAL}\n[classify]\nrules = \"my-rules\"\n"),
    )
    .unwrap();

    // Loading the configuration itself does not build the classifier (most commands never
    // classify); check-config does, as the daemon does at start.
    assert!(load(&config, no_env()).is_ok());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redress"))
        .args(["check-config", "--config"])
        .arg(&config)
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a broken rule set fails the check");
    assert!(
        stderr.contains("classify.rules") && stderr.contains("repairs.toml:3"),
        "{stderr}"
    );
}
