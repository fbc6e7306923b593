//! Checks that need more than types: email addresses, the reference prefix, the time zone, and
//! the policy profile (which must pass the Code lint: a landlord may be faster than the Code,
//! never slower).

use std::path::Path;

use email_address::EmailAddress;

use super::{Config, Loaded, OmbudsmanContact, Problem};
use crate::classify::live::Classifier;
use crate::core::calendar::Calendar;
use crate::core::code::{PolicyProfile, Severity};

/// Adds every problem found to `problems`; returns the loaded configuration when the parts it
/// derives could be built (the caller still refuses it if any problem was found).
pub(super) fn check(
    config: &Config,
    origin: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<Loaded> {
    let mut report = |key: &str, message: String| {
        problems.push(Problem {
            key: key.to_owned(),
            line: None,
            env: None,
            message,
        })
    };
    let org = &config.organisation;
    if org.name.trim().is_empty() {
        report(
            "organisation.name",
            "is required: it is printed on every letter".into(),
        );
    }
    if !valid_prefix(&org.reference_prefix) {
        report(
            "organisation.reference_prefix",
            format!(
                "`{}` must be 1 to 8 capital letters or digits starting with a letter, e.g. \"DH\"",
                org.reference_prefix
            ),
        );
    }
    if org.homes_owned == 0 {
        report(
            "organisation.homes_owned",
            "is required: complaints per 1,000 homes (CH01) is reported from it".into(),
        );
    }
    check_email(&mut report, "organisation.email", org.email.as_deref());

    let timezone = config.calendar.timezone.parse::<chrono_tz::Tz>();
    if timezone.is_err() {
        report(
            "calendar.timezone",
            format!(
                "`{}` is not an IANA time zone such as Europe/London",
                config.calendar.timezone
            ),
        );
    }

    let policy = load_policy(&config.policy.profile, base, &mut report);

    let mut seen = std::collections::HashSet::new();
    for (i, member) in config.staff.iter().enumerate() {
        if member.name.trim().is_empty() {
            report(&format!("staff[{i}].name"), "is required".into());
        }
        check_email(
            &mut report,
            &format!("staff[{i}].email"),
            Some(&member.email),
        );
        if !seen.insert(member.email.trim().to_lowercase()) {
            report(
                &format!("staff[{i}].email"),
                format!("{} is listed twice", member.email),
            );
        }
    }

    let o = &config.ombudsman;
    for (name, contact) in [
        ("housing", &o.housing),
        ("lgsco", &o.lgsco),
        ("building_safety", &o.building_safety),
    ] {
        check_ombudsman(&mut report, name, contact);
    }

    if let Some(token) = &config.api.token
        && token.len() < 16
    {
        report(
            "api.token",
            "is too short to be safe: use at least 16 random characters".into(),
        );
    }

    check_mail(&mut report, &config.mail);
    if config.http.listen.parse::<std::net::SocketAddr>().is_err() {
        report(
            "http.listen",
            format!(
                "`{}` is not an address and port such as 127.0.0.1:8080",
                config.http.listen
            ),
        );
    }

    check_schedule(&mut report, &config.schedule);

    let c = &config.classify;
    if !crate::classify::engine::INFLUENCE_RANGE.contains(&c.learned_influence) {
        report(
            "classify.learned_influence",
            format!(
                "{} is out of range: use 0 (off) to 10; 1 weighs as much as one strong rule",
                c.learned_influence
            ),
        );
    }

    let mut config = config.clone();
    if let Some(ca) = &config.mail.ca_file {
        let path = base.join(ca);
        if let Err(e) = std::fs::read(&path) {
            report(
                "mail.ca_file",
                format!("cannot read {}: {e}", path.display()),
            );
        }
        config.mail.ca_file = Some(path);
    }
    let store_path = base.join(&config.store.path);
    let classifier = Classifier::new(
        base.join(&config.classify.rules),
        config.classify.uncertain,
        config.classify.learned_influence,
    );
    let calendar =
        Calendar::england_and_wales().with_closures(config.calendar.closure_days.iter().copied());
    Some(Loaded {
        config,
        origin: origin.to_owned(),
        base: base.to_path_buf(),
        store_path,
        timezone: timezone.ok()?,
        calendar,
        policy: policy?,
        classifier,
    })
}

fn check_schedule(report: &mut impl FnMut(&str, String), schedule: &super::ScheduleConfig) {
    for (name, expression) in [("scan", &schedule.scan), ("digest", &schedule.digest)] {
        if let Err(crate::schedule::jobs::JobError::BadExpression { reason, .. }) =
            crate::schedule::jobs::Job::parse(name, expression)
        {
            report(
                &format!("schedule.{name}"),
                format!(
                    "`{expression}` is not a cron expression (6 or 7 fields, seconds first, weekdays by name such as Mon-Fri): {reason}"
                ),
            );
        }
    }
    if schedule.escalate_after_working_days == 0 {
        report(
            "schedule.escalate_after_working_days",
            "must be at least 1: escalation follows the breach".into(),
        );
    }
    if schedule.at_risk_working_days > 20 {
        report(
            "schedule.at_risk_working_days",
            format!(
                "{} is more than the longest deadline (20 working days): every deadline would be at risk from the start",
                schedule.at_risk_working_days
            ),
        );
    }
    check_email(report, "schedule.on_call", schedule.on_call.as_deref());
    if let Some(url) = &schedule.chat_url {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "https" | "http") => {}
            _ => report(
                "schedule.chat_url",
                "is not an http(s) URL: give the incoming webhook's address".into(),
            ),
        }
    }
}

fn valid_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && prefix.len() <= 8
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn check_email(report: &mut impl FnMut(&str, String), key: &str, email: Option<&str>) {
    if let Some(email) = email
        && !EmailAddress::is_valid(email.trim())
    {
        report(key, format!("`{email}` is not a valid email address"));
    }
}

fn check_mail(report: &mut impl FnMut(&str, String), mail: &super::MailConfig) {
    check_email(report, "mail.from", mail.from.as_deref());
    check_email(report, "mail.reply_to", mail.reply_to.as_deref());
    if let Some(u) = &mail.imap_url {
        match url::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "imap" | "imaps") && url.host().is_some() => {
                if url.username().is_empty() {
                    report(
                        "mail.imap_url",
                        "names no user: write imaps://user@host:993/INBOX".into(),
                    );
                }
            }
            _ => report(
                "mail.imap_url",
                format!(
                    "`{u}` is not an imap:// or imaps:// URL such as imaps://user@host:993/INBOX"
                ),
            ),
        }
        if mail.imap_password.is_none() {
            report(
                "mail.imap_password",
                "is required with imap_url (or imap_password_file)".into(),
            );
        }
    }
    if let Some(u) = &mail.smtp_url {
        match url::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "smtp" | "smtps") && url.host().is_some() => {}
            Ok(url) if url.scheme() == "file" => {}
            _ => report(
                "mail.smtp_url",
                format!("`{u}` is not an smtp://, smtps:// or file:// URL"),
            ),
        }
        if mail.from.is_none() {
            report(
                "mail.from",
                "is required to send letters (e.g. complaints@example.org)".into(),
            );
        }
    }
    if mail.max_message_bytes < 1024 {
        report(
            "mail.max_message_bytes",
            "is too small to hold an email".into(),
        );
    }
    if mail.daily_cap_per_sender == 0 {
        report("mail.daily_cap_per_sender", "must be at least 1".into());
    }
}

fn check_ombudsman(report: &mut impl FnMut(&str, String), name: &str, c: &OmbudsmanContact) {
    let key = |k: &str| format!("ombudsman.{name}.{k}");
    if c.name.trim().is_empty() {
        report(&key("name"), "is required: letters name the body".into());
    }
    if c.website.trim().is_empty() {
        report(
            &key("website"),
            "is required: letters tell residents where to go".into(),
        );
    }
    check_email(report, &key("email"), c.email.as_deref());
}

/// The built-in profile, or a profile file that parses and passes the lint.
fn load_policy(
    profile: &str,
    base: &Path,
    report: &mut impl FnMut(&str, String),
) -> Option<PolicyProfile> {
    const KEY: &str = "policy.profile";
    let policy = if profile == "code-2024" {
        PolicyProfile::code_2024()
    } else {
        let path = base.join(profile);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                report(
                    KEY,
                    format!("cannot read policy profile {}: {e}", path.display()),
                );
                return None;
            }
        };
        match PolicyProfile::from_toml(&text, &path.display().to_string()) {
            Ok(p) => p,
            Err(e) => {
                report(KEY, e.to_string());
                return None;
            }
        }
    };
    let mut ok = true;
    for finding in policy.lint() {
        if finding.severity == Severity::Error {
            ok = false;
            report(
                KEY,
                format!("profile `{}` breaks the Code: {finding}", policy.name),
            );
        }
    }
    ok.then_some(policy)
}
