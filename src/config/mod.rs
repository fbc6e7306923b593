//! Configuration: one TOML file, overridable by environment variables, with secrets from files.
//!
//! A landlord's complaints team edits this file by hand, so every problem in it — a typo'd key,
//! a bad date, a bad email address — is reported together, each with its key and line
//! ([`load`]), rather than one panic at a time. Every field has a default that is either the
//! Code's own value or harmless, so a minimal file only names the organisation.

mod load;
mod source;
mod validate;

use std::path::PathBuf;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use load::{ConfigError, Problem, load, load_str};

/// The whole configuration, after environment overrides and secrets are applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub organisation: Organisation,
    pub store: StoreConfig,
    pub calendar: CalendarConfig,
    pub policy: PolicyConfig,
    /// Complaints staff and managers; approvals and alerts are addressed by these emails.
    pub staff: Vec<Staff>,
    pub ombudsman: Ombudsmen,
    pub mail: MailConfig,
    pub classify: ClassifyConfig,
    pub letters: LettersConfig,
    pub approval: ApprovalConfig,
    pub http: HttpConfig,
    pub api: ApiConfig,
    pub schedule: ScheduleConfig,
}

/// Who the landlord is: printed on every letter and used in references and reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Organisation {
    pub name: String,
    /// Case references are `PREFIX-YEAR-NNNNN`; 1–8 capital letters or digits, starting with a
    /// letter, so references stay short enough to read out on the phone.
    pub reference_prefix: String,
    /// Homes owned: the denominator of Tenant Satisfaction Measure CH01 (complaints per 1,000
    /// homes).
    pub homes_owned: u32,
    /// Postal address, one line per entry, as printed on letters.
    pub address: Vec<String>,
    pub phone: Option<String>,
    /// Where residents write to complain; printed on letters.
    pub email: Option<String>,
    pub website: Option<String>,
}

/// Where the case store lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// Directory of the sled store. A relative path is taken from the configuration file's
    /// folder, so the service finds the same store whatever its working directory.
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data/redress.sled"),
        }
    }
}

/// Working days: the Code counts in them (section 6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalendarConfig {
    /// IANA time zone that decides which calendar day a message arrived on.
    pub timezone: String,
    /// Days the landlord is closed besides weekends and England & Wales bank holidays (office
    /// closures, future one-off bank holidays). `YYYY-MM-DD` strings or TOML dates.
    #[serde(with = "load::date_list")]
    pub closure_days: Vec<NaiveDate>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig {
            timezone: "Europe/London".to_owned(),
            closure_days: Vec::new(),
        }
    }
}

/// Which timescales the landlord has committed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// `code-2024` (the Code's maxima) or the path of a policy profile TOML file (see
    /// `examples/policies/`), relative to the configuration file. It must pass the policy lint.
    pub profile: String,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            profile: "code-2024".to_owned(),
        }
    }
}

/// What a member of staff may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Handles cases and approves routine letters.
    Handler,
    /// Receives breach alerts and digests; authorises moderate payments.
    Manager,
    /// Senior management: authorises severe payments (2024 §14.26).
    Senior,
    /// Maintains the configuration, rules and templates.
    Admin,
}

/// A member of the complaints team. Every field is required; they default only so that one
/// bad field is reported without hiding the entry's other problems.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Staff {
    pub name: String,
    pub email: String,
    /// Always set in a configuration that passed the checks.
    pub role: Option<Role>,
}

/// Contact details of an ombudsman or regulator, printed on letters. They change (the Housing
/// Ombudsman's postal address in older policies is no longer current), so they are data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OmbudsmanContact {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: String,
    /// Where the resident can complain online.
    pub online_form: Option<String>,
    /// Postal address, one line per entry.
    pub address: Vec<String>,
}

impl Default for OmbudsmanContact {
    fn default() -> Self {
        Ombudsmen::default().housing
    }
}

/// The bodies a letter may have to name (SPEC §3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ombudsmen {
    /// Housing-management matters.
    pub housing: OmbudsmanContact,
    /// Allocations, homelessness, housing advice and the like (2024 §11.5).
    pub lgsco: OmbudsmanContact,
    /// Added for building-safety matters in high-rise buildings (2024 §11.7).
    pub building_safety: OmbudsmanContact,
}

impl Default for Ombudsmen {
    fn default() -> Self {
        let lines = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        Ombudsmen {
            housing: OmbudsmanContact {
                name: "Housing Ombudsman Service".to_owned(),
                phone: Some("0300 111 3000".to_owned()),
                email: Some("info@housing-ombudsman.org.uk".to_owned()),
                website: "https://www.housing-ombudsman.org.uk".to_owned(),
                online_form: Some("https://www.housing-ombudsman.org.uk".to_owned()),
                address: lines(&["PO Box 1484", "Unit D", "Preston", "PR2 0ET"]),
            },
            lgsco: OmbudsmanContact {
                name: "Local Government and Social Care Ombudsman".to_owned(),
                phone: Some("0300 061 0614".to_owned()),
                email: None,
                website: "https://www.lgo.org.uk".to_owned(),
                online_form: Some("https://www.lgo.org.uk".to_owned()),
                address: lines(&["PO Box 4771", "Coventry", "CV4 0EH"]),
            },
            building_safety: OmbudsmanContact {
                name: "Building Safety Regulator".to_owned(),
                phone: None,
                email: None,
                website: "https://www.gov.uk/government/organisations/building-safety-regulator"
                    .to_owned(),
                online_form: None,
                address: Vec::new(),
            },
        }
    }
}

/// What to do with a message in the IMAP mailbox once its case change is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterProcessing {
    /// Move it to `processed_folder` (needs the MOVE extension, or copy + delete).
    #[default]
    Move,
    /// Leave it in place with the `$Processed` keyword set.
    Flag,
}

/// Email in and out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailConfig {
    /// The complaints address letters come from, e.g. `complaints@example.org`.
    pub from: Option<String>,
    /// Where residents' replies should go, if not to `from`.
    pub reply_to: Option<String>,
    /// Domain of the Message-IDs redress gives its letters; our own mail coming back is
    /// recognised by it. Defaults to the domain of `from`.
    pub message_id_domain: Option<String>,
    /// A Maildir whose `new/` folder is read for incoming mail (the embedded default). Messages
    /// are moved to its `cur/` once their case change is stored.
    pub maildir: Option<PathBuf>,
    /// `imaps://user@host:993/INBOX`, `imap://user@host:143/INBOX` or
    /// `imap://user@host/INBOX?tls=starttls` (user percent-encoded).
    pub imap_url: Option<String>,
    /// A secret: prefer `imap_password_file`.
    pub imap_password: Option<String>,
    pub processed_folder: String,
    pub quarantine_folder: String,
    pub sent_folder: String,
    pub after_processing: AfterProcessing,
    /// IDLE is interrupted this often for a full check, in case a notification was missed.
    pub idle_recheck_seconds: u64,
    /// `smtps://user@host:465`, `smtp://user@host:587` (STARTTLS), `smtp://host:25?tls=none`,
    /// or `file:///path/to/folder` (letters written as .eml files: the embedded default).
    pub smtp_url: Option<String>,
    /// A secret: prefer `smtp_password_file`.
    pub smtp_password: Option<String>,
    /// A PEM file of extra CA certificates trusted for IMAP and SMTP, besides the public
    /// roots (a private CA, or a test server's).
    pub ca_file: Option<PathBuf>,
    /// Larger messages are quarantined rather than parsed.
    pub max_message_bytes: usize,
    /// More messages than this from one address in one day are set aside as a likely loop.
    pub daily_cap_per_sender: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: None,
            reply_to: None,
            message_id_domain: None,
            maildir: None,
            imap_url: None,
            imap_password: None,
            processed_folder: "Processed".to_owned(),
            quarantine_folder: "Quarantine".to_owned(),
            sent_folder: "Sent".to_owned(),
            after_processing: AfterProcessing::Move,
            idle_recheck_seconds: 300,
            smtp_url: None,
            smtp_password: None,
            ca_file: None,
            max_message_bytes: 25 * 1024 * 1024,
            daily_cap_per_sender: 50,
        }
    }
}

impl MailConfig {
    /// The domain for our Message-IDs.
    pub fn id_domain(&self) -> String {
        self.message_id_domain
            .clone()
            .or_else(|| {
                self.from
                    .as_deref()
                    .and_then(|f| f.rsplit_once('@'))
                    .map(|(_, d)| d.to_owned())
            })
            .unwrap_or_else(|| "redress.invalid".to_owned())
    }
}

/// How messages are classified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassifyConfig {
    /// Folder of classification rule files (`*.toml`), relative to the configuration file.
    pub rules: PathBuf,
    /// When a complaint is likely but not certain: `complaint_for_review` opens it as a
    /// complaint marked for review; `offer_choice` keeps the other kind, marked for review,
    /// and the service request letter offers the choice to complain (Code 1.3).
    pub uncertain: crate::classify::engine::Uncertain,
    /// How much the learned component (trained on the shipped corpus and staff corrections)
    /// weighs next to the rules: 1.0 is as much as one strong rule, 0 turns it off.
    pub learned_influence: f32,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            rules: PathBuf::from("rules"),
            uncertain: crate::classify::engine::Uncertain::ComplaintForReview,
            learned_influence: crate::classify::engine::DEFAULT_INFLUENCE,
        }
    }
}

/// How letters are written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LettersConfig {
    /// Folder of letter templates, relative to the configuration file; the bundled templates
    /// are used when it does not exist.
    pub templates: PathBuf,
}

impl Default for LettersConfig {
    fn default() -> Self {
        LettersConfig {
            templates: PathBuf::from("templates"),
        }
    }
}

/// Who may approve what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalConfig {
    /// Payment bands: a letter offering a payment of at least `from_pence` (all remedies at
    /// its stage together) needs an approver of at least `role`; the highest band reached
    /// applies. Below the lowest band any member of staff may approve.
    pub bands: Vec<PaymentBand>,
}

/// One payment band (2024 policy §14.26).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentBand {
    pub name: String,
    /// The smallest payment in the band, in pence.
    pub from_pence: u64,
    pub role: Role,
}

impl Default for ApprovalConfig {
    /// SPEC §4: minor £10–£600 supervisor or manager; moderate £600–£1,000 manager or
    /// complaints team; severe over £1,000 senior management; over £5,000 (personal injury)
    /// senior management, who involve the board or insurer.
    fn default() -> Self {
        let band = |name: &str, from_pence, role| PaymentBand {
            name: name.to_owned(),
            from_pence,
            role,
        };
        ApprovalConfig {
            bands: vec![
                band("minor", 1_000, Role::Manager),
                band("moderate", 60_001, Role::Manager),
                band("severe", 100_001, Role::Senior),
                band("personal injury", 500_001, Role::Senior),
            ],
        }
    }
}

/// The daemon's HTTP listener (JSON API now, staff UI and webhooks later).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Address and port; keep it on loopback unless a reverse proxy with TLS is in front.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".to_owned(),
        }
    }
}

/// The daemon's local JSON API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// Bearer token clients must present. A secret: prefer `token_file`.
    pub token: Option<String>,
}

/// Which chat service the alert webhook is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// A Slack incoming webhook: `{"text": …}`.
    #[default]
    Slack,
    /// A Microsoft Teams channel workflow ("post to a channel when a webhook request is
    /// received"): an Adaptive Card message.
    Teams,
}

/// When the scheduled jobs run and who hears about deadlines (SPEC §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleConfig {
    /// Cron expression (seconds first, in `calendar.timezone`; weekdays by name) of the
    /// deadline scan: at-risk, breach and escalation alerts, and reminders. Each alert is
    /// raised once however often it runs. The default, every 10 minutes in office hours on
    /// weekdays, loses nothing (alerts fall due on working days) and puts them in front of
    /// staff when they are at work; reports of danger do not wait for it.
    pub scan: String,
    /// Cron expression of the daily digest to managers and the work list to each handler.
    pub digest: String,
    /// At-risk alerts go out this many working days before a deadline (0: none).
    pub at_risk_working_days: u32,
    /// A breach still open this many working days after its deadline goes to senior staff.
    pub escalate_after_working_days: u32,
    /// At-risk alerts go to managers as well as the handler.
    pub at_risk_to_managers: bool,
    /// Who is told at once about a report of danger (gas, fire, no heating or water…),
    /// whatever the time: an email address watched out of hours.
    pub on_call: Option<String>,
    /// Send an acknowledgement nobody approved on its due date, when its draft lacks
    /// nothing the Code requires. Off by default: staff approve every letter.
    pub auto_send_acknowledgement: bool,
    /// A Slack or Teams incoming-webhook URL alerts are also posted to. A secret (anyone
    /// with it can post): prefer `chat_url_file`.
    pub chat_url: Option<String>,
    pub chat_kind: ChatKind,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            scan: "0 */10 7-18 * * Mon-Fri".to_owned(),
            digest: "0 30 7 * * Mon-Fri".to_owned(),
            at_risk_working_days: 2,
            escalate_after_working_days: 5,
            at_risk_to_managers: true,
            on_call: None,
            auto_send_acknowledgement: false,
            chat_url: None,
            chat_kind: ChatKind::Slack,
        }
    }
}

impl ScheduleConfig {
    /// The alert timing the core works with.
    pub fn timing(&self) -> crate::core::alerts::AlertTiming {
        crate::core::alerts::AlertTiming {
            at_risk_working_days: self.at_risk_working_days,
            escalate_after_working_days: self.escalate_after_working_days,
        }
    }
}

/// Keys whose value may instead be read from a file named by `<key>_file`, so secrets stay out
/// of the configuration file and the environment.
pub const SECRET_KEYS: &[&str] = &[
    "api.token",
    "mail.imap_password",
    "mail.smtp_password",
    "schedule.chat_url",
];

/// A configuration that passed every check, with the things derived from it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// The file it came from (for messages), if any.
    pub origin: String,
    /// The configuration file's folder: relative paths are taken from here.
    pub base: PathBuf,
    /// The store path, resolved against the configuration file's folder.
    pub store_path: PathBuf,
    pub timezone: chrono_tz::Tz,
    pub calendar: crate::core::calendar::Calendar,
    pub policy: crate::core::code::PolicyProfile,
    /// The classification rules and learned component, built on first use (see
    /// [`crate::classify::live::Classifier`]); reloaded on SIGHUP, retrained on corrections.
    pub classifier: crate::classify::live::Classifier,
}

impl Loaded {
    /// The workflow's view of the landlord.
    pub fn rules(&self) -> crate::core::workflow::Rules<'_> {
        crate::core::workflow::Rules {
            calendar: &self.calendar,
            policy: &self.policy,
        }
    }

    /// A path from the configuration, resolved against the configuration file's folder.
    pub fn resolve(&self, path: &std::path::Path) -> PathBuf {
        self.base.join(path)
    }

    /// The letter templates: `letters.templates` when that folder exists, else the bundled
    /// ones. Loaded afresh on each call (a few milliseconds), so an edited template is used
    /// by the next command.
    pub fn letter_templates(
        &self,
    ) -> Result<crate::letters::templates::Templates, crate::letters::templates::TemplateError>
    {
        crate::letters::templates::Templates::load(&self.resolve(&self.config.letters.templates))
    }

    /// The folder letters are written to when `smtp_url` is `file://…` (relative paths
    /// allowed: `file://outbox` is `outbox` beside the configuration file).
    pub fn outbox_folder(&self) -> Option<PathBuf> {
        let url = self.config.mail.smtp_url.as_deref()?;
        let path = url.strip_prefix("file://")?;
        Some(self.resolve(std::path::Path::new(path)))
    }

    /// The date a message arriving at `at` counts as received, in the landlord's time zone
    /// and after the policy's daily cut-off.
    pub fn received_on(&self, at: chrono::DateTime<chrono::Utc>) -> NaiveDate {
        self.policy
            .received_on(at.with_timezone(&self.timezone).naive_local())
    }

    /// Today's date where the landlord is.
    pub fn today(&self) -> NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.timezone)
            .date_naive()
    }
}
