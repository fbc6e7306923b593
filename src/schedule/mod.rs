//! The scheduler: nothing due goes unnoticed (SPEC §5).
//!
//! Jobs run on cron schedules in the landlord's time zone ([`jobs`]); each run is identified
//! by its local date and time and marked done in the store with what it wrote, so a clock
//! change, a restart or a second daemon tick can neither skip nor double it, and the latest
//! run missed while the daemon was down is caught up at start. The jobs:
//!
//! - **scan**: reads the due-date index (from the settled date, see `store::alerts`) and
//!   raises each at-risk, breach, escalation and reminder alert once, as notifications to the
//!   right staff; drafts the resident's update letter for an outstanding action (6.6); and,
//!   when configured, sends an unapproved acknowledgement on its due date.
//! - **digest**: the daily digest to managers (and the team's chat) and each handler's work
//!   list.
//!
//! Alerts the workflow raises itself (a report of danger, a stage 2 needing a new handler, a
//! possible exclusion) are not scheduled: [`Scheduler::urgent`] turns them into notifications
//! as soon as they are queued. Delivery (email, chat) is the notifier's ([`notify`]).
//!
//! Every function takes `now`, so tests drive the scheduler with a simulated clock.

pub mod chat;
mod digest;
pub mod forecast;
pub mod jobs;
pub mod notify;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sha2::Digest;
use thiserror::Error;
use tokio::sync::watch;

use crate::config::{Config, Loaded, Role, Staff};
use crate::core::alerts::{self, AlertTiming, Level};
use crate::core::model::{Case, DueKind};
use crate::core::workflow::{Alert, Effect, LetterKind};
use crate::letters::context::long_date;
use crate::letters::internal::AlertContext;
use crate::letters::templates::Templates;
use crate::letters::{DraftStatus, approval, write};
use crate::store::{DueEntry, NewNotification, Once, Store, StoreError, alert_mark};
use jobs::{Job, JobError, Run};

/// Only the latest missed run within this long is caught up at start: yesterday's digest is
/// no use today, and a scan covers everything the missed scans would have.
const CATCH_UP: TimeDelta = TimeDelta::hours(26);

/// Run marks are kept this long, then pruned.
const KEEP_RUN_MARKS_DAYS: u64 = 10;

/// Why the scheduler could not do its work.
#[derive(Debug, Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Job(#[from] JobError),
    /// A staff email template failed to render (checked at start, so only after an edit
    /// that start-up did not see).
    #[error("the {name} template: {source}")]
    Template {
        name: &'static str,
        source: crate::letters::templates::TemplateError,
    },
}

/// What one scan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Due-date entries looked at.
    pub considered: usize,
    /// Alerts raised now (each to one or more people).
    pub raised: Vec<(String, String, Level)>,
    /// Acknowledgements sent without approval (`schedule.auto_send_acknowledgement`).
    pub auto_sent: Vec<u64>,
}

/// The scheduler's jobs and what they need.
pub struct Scheduler {
    store: Store,
    loaded: Arc<Loaded>,
    templates: Arc<Templates>,
    jobs: Vec<Job>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        loaded: Arc<Loaded>,
        templates: Arc<Templates>,
    ) -> Result<Scheduler, JobError> {
        let s = &loaded.config.schedule;
        let jobs = vec![
            Job::parse("scan", &s.scan)?,
            Job::parse("digest", &s.digest)?,
        ];
        Ok(Scheduler {
            store,
            loaded,
            templates,
            jobs,
        })
    }

    fn timing(&self) -> AlertTiming {
        self.loaded.config.schedule.timing()
    }

    fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.loaded.timezone).date_naive()
    }

    /// The next instant a job is due, so the daemon can sleep until then.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.jobs
            .iter()
            .filter_map(|j| jobs::next_run(j, self.loaded.timezone, now))
            .map(|r| r.at)
            .min()
    }

    /// Runs every job whose latest scheduled run (within the catch-up window) is not done
    /// yet. Called at start, it catches up what was missed while the daemon was down; called
    /// again at any moment, it does nothing twice. Returns the runs done now.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<Run>, ScheduleError> {
        let mut done = Vec::new();
        for job in &self.jobs {
            let Some(run) = jobs::latest_run(job, self.loaded.timezone, now, CATCH_UP) else {
                continue;
            };
            if self.store.run_done(&run.key())? {
                continue;
            }
            let started = std::time::Instant::now();
            let outcome = match job.name.as_str() {
                "scan" => self.scan(now).await.map(|report| {
                    tracing::info!(run = %run.key(), considered = report.considered, raised = report.raised.len(), auto_sent = report.auto_sent.len(), "deadline scan");
                }),
                "digest" => self.digest(&run, now).await.map(|sent| {
                    tracing::info!(run = %run.key(), sent, "daily digest");
                }),
                _ => Ok(()),
            };
            crate::metrics::job_ran(&job.name, outcome.is_ok(), started.elapsed());
            outcome?;
            if job.name != "digest" {
                // The digest marks its run with the notifications it writes.
                self.store.mark_run(&run.key(), now).await?;
            }
            done.push(run);
        }
        Ok(done)
    }

    /// The deadline scan: raises every alert due by today that was not raised before.
    pub async fn scan(&self, now: DateTime<Utc>) -> Result<ScanReport, ScheduleError> {
        let today = self.today(now);
        let timing = self.timing();
        let calendar = &self.loaded.calendar;
        let window = self
            .store
            .scan_window(alerts::horizon(today, calendar, timing))?;
        let approved: HashSet<(String, LetterKind)> = self
            .store
            .outbox()?
            .into_iter()
            .map(|d| (d.reference, d.letter))
            .collect();
        let mut report = ScanReport {
            considered: window.entries.len(),
            ..ScanReport::default()
        };
        let mut case: Option<Case> = None;
        let mut pending: Option<Vec<crate::letters::Draft>> = None;
        for entry in &window.entries {
            let Some(what) = DueKind::from_key(&entry.what) else {
                continue;
            };
            let due_levels = alerts::levels_due(entry.due, &what, today, calendar, timing);
            for level in due_levels {
                if self.store.alert_raised(entry, level)? {
                    continue;
                }
                if level == Level::AtRisk
                    && letter_for(&what)
                        .is_some_and(|l| approved.contains(&(entry.reference.clone(), l)))
                {
                    // A compliant letter is approved and on its way: nothing is at risk.
                    continue;
                }
                if case.as_ref().is_none_or(|c| c.reference != entry.reference) {
                    case = self.store.case(&entry.reference)?;
                }
                let Some(case) = &case else { continue };
                let notes = self.alert_notes(case, entry, &what, level, today)?;
                let draft = matches!(what, DueKind::Action { .. })
                    .then_some((entry.reference.as_str(), LetterKind::ActionUpdate));
                let once = Once::Alert {
                    entry: entry.clone(),
                    level,
                };
                if let Some(written) = self.store.notify_once(&once, &notes, draft, now).await? {
                    crate::metrics::alert_raised(level);
                    tracing::warn!(case = %entry.reference, what = %entry.what, level = level.as_str(), due = %entry.due, notifications = written.len(), "alert raised");
                    report
                        .raised
                        .push((entry.reference.clone(), entry.what.clone(), level));
                }
            }
            if self.loaded.config.schedule.auto_send_acknowledgement
                && matches!(what, DueKind::Acknowledgement { .. })
                && entry.due <= today
            {
                // The pending drafts are read once a scan, when the first is needed.
                if pending.is_none() {
                    pending = Some(self.store.drafts()?);
                }
                let drafts = pending.as_deref().unwrap_or_default();
                if let Some(id) = self.auto_send(entry, &what, drafts, now).await? {
                    report.auto_sent.push(id);
                }
            }
        }
        let settled = alerts::settled_before(today, calendar, timing);
        let mut finished: Vec<DueEntry> = window.gone.clone();
        for entry in &window.late {
            let all_due = DueKind::from_key(&entry.what).is_none_or(|what| {
                alerts::level_dates(entry.due, &what, calendar, timing)
                    .iter()
                    .all(|(_, on)| *on <= today)
            });
            if all_due {
                finished.push(entry.clone());
            }
        }
        self.store.settle(settled, &finished).await?;
        Ok(report)
    }

    /// One notification per person told about an alert; the first also goes to chat.
    fn alert_notes(
        &self,
        case: &Case,
        entry: &DueEntry,
        what: &DueKind,
        level: Level,
        today: NaiveDate,
    ) -> Result<Vec<NewNotification>, ScheduleError> {
        let config = &self.loaded.config;
        let (handler_name, handler) = handler_of(config, case);
        let mut people = Recipients::default();
        let managers = with_role(config, Role::Manager);
        match level {
            Level::AtRisk | Level::Reminder => {
                if let Some((name, email)) = &handler {
                    people.add(name, email);
                }
                if handler.is_none()
                    || (level == Level::AtRisk && config.schedule.at_risk_to_managers)
                {
                    people.add_staff(&managers);
                }
            }
            Level::Breached => people.add_staff(&managers),
            Level::Escalated => {
                let seniors = with_role(config, Role::Senior);
                people.add_staff(if seniors.is_empty() {
                    &managers
                } else {
                    &seniors
                });
            }
        }
        let people = people.0;
        if people.is_empty() {
            tracing::error!(case = %case.reference, level = level.as_str(), "an alert has nobody to go to: add a manager to [[staff]]");
        }
        let when = when_words(entry.due, today, &self.loaded.calendar);
        let context = |recipient: &str| AlertContext {
            organisation: config.organisation.clone(),
            recipient: recipient.to_owned(),
            reference: case.reference.clone(),
            level: level.words().to_owned(),
            deadline: alerts::describe(what),
            due: long_date(entry.due),
            when: when.clone(),
            provision: alerts::provision(what),
            handler: handler_name.clone(),
            summary: case.summary.clone(),
            next_step: alerts::next_step(what).to_owned(),
        };
        let key = String::from_utf8_lossy(&alert_mark(entry, level)).into_owned();
        // Nobody to email: still one notification, so the alert is on record and in the chat.
        let recipients: Vec<(String, Option<String>)> = if people.is_empty() {
            vec![("complaints team".to_owned(), None)]
        } else {
            people.into_iter().map(|(n, e)| (n, Some(e))).collect()
        };
        let kind = if level == Level::Reminder {
            "reminder"
        } else {
            "alert"
        };
        self.alert_emails(recipients, context, kind, &case.reference, &key)
    }

    /// One alert email per person, from the `alert` template; the first also goes to chat.
    /// `key` makes each one's Message-ID.
    fn alert_emails(
        &self,
        people: Vec<(String, Option<String>)>,
        context: impl Fn(&str) -> AlertContext,
        kind: &str,
        reference: &str,
        key: &str,
    ) -> Result<Vec<NewNotification>, ScheduleError> {
        people
            .into_iter()
            .enumerate()
            .map(|(i, (name, email))| {
                self.note(
                    "alert",
                    &context(&name),
                    kind,
                    Some(reference),
                    email.into_iter().collect(),
                    &format!("{key}#{i}"),
                    i == 0,
                )
            })
            .collect()
    }

    /// A notification rendered from a staff email template.
    #[allow(clippy::too_many_arguments)]
    fn note(
        &self,
        template: &'static str,
        context: &impl serde::Serialize,
        kind: &str,
        reference: Option<&str>,
        to: Vec<String>,
        key: &str,
        chat: bool,
    ) -> Result<NewNotification, ScheduleError> {
        let rendered = self
            .templates
            .render_named(template, context)
            .map_err(|source| ScheduleError::Template {
                name: template,
                source,
            })?;
        Ok(NewNotification {
            kind: kind.to_owned(),
            reference: reference.map(str::to_owned),
            to,
            subject: rendered.subject,
            body: rendered.text,
            html: Some(rendered.html),
            message_id: notice_id(key, &self.loaded.config.mail.id_domain()),
            post_to_chat: chat && self.loaded.config.schedule.chat_url.is_some(),
        })
    }

    /// Approves and queues a pending acknowledgement nobody approved, when it lacks nothing
    /// the Code requires. Returns the draft sent, if any.
    async fn auto_send(
        &self,
        entry: &DueEntry,
        what: &DueKind,
        drafts: &[crate::letters::Draft],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, ScheduleError> {
        let DueKind::Acknowledgement { stage } = what else {
            return Ok(None);
        };
        let letter = LetterKind::Acknowledgement { stage: *stage };
        let pending = drafts.iter().find(|d| {
            d.reference == entry.reference && d.letter == letter && d.status == DraftStatus::Pending
        });
        let Some(draft) = pending else {
            return Ok(None);
        };
        let today = self.today(now);
        let (templates, config) = (&*self.templates, &self.loaded.config);
        let policy = |draft: &crate::letters::Draft, case: &Case| {
            let ready = write::as_it_stands(templates, config, today, draft, case);
            if ready.problems.is_empty() {
                Ok(ready)
            } else {
                Err(ready.problems)
            }
        };
        match self
            .store
            .approve_draft(draft.id, AUTO_APPROVER, now, policy)
            .await
        {
            Ok(_) => {
                tracing::warn!(draft = draft.id, case = %entry.reference, "acknowledgement sent without approval on its due date (schedule.auto_send_acknowledgement)");
                Ok(Some(draft.id))
            }
            Err(StoreError::DraftRefused { why, .. }) => {
                tracing::error!(draft = draft.id, case = %entry.reference, "acknowledgement due today cannot go automatically: {why}");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Turns the alerts the workflow queued into notifications at once, whatever the
    /// schedule: a report of danger to the on-call contact (and managers), a stage 2 needing
    /// a new handler and a possible exclusion to managers. Returns how many were handled.
    pub async fn urgent(&self, now: DateTime<Utc>) -> Result<usize, ScheduleError> {
        let config = &self.loaded.config;
        let mut handled = 0;
        for (key, queued) in self.store.queued_alerts()? {
            let Effect::Alert(alert) = &queued.effect else {
                continue;
            };
            let case = self.store.case(&queued.reference)?;
            let Some(case) = case else { continue };
            let mut to = Recipients::default();
            if matches!(alert, Alert::UrgentSafety)
                && let Some(on_call) = &config.schedule.on_call
            {
                to.add("on-call officer", on_call);
            }
            to.add_staff(&with_role(config, Role::Manager));
            let (handler_name, _) = handler_of(config, &case);
            let (level, deadline, provision, next_step) = urgent_words(alert);
            let context = |recipient: &str| AlertContext {
                organisation: config.organisation.clone(),
                recipient: recipient.to_owned(),
                reference: case.reference.clone(),
                level: level.to_owned(),
                deadline: deadline.to_owned(),
                due: long_date(self.today(now)),
                when: "now".to_owned(),
                provision: provision.to_owned(),
                handler: handler_name.clone(),
                summary: case.summary.clone(),
                next_step: next_step.to_owned(),
            };
            let people = to.0.into_iter().map(|(n, e)| (n, Some(e))).collect();
            let id_key = format!("effect/{}", String::from_utf8_lossy(&key));
            let notes = self.alert_emails(
                people,
                context,
                urgent_kind(alert),
                &case.reference,
                &id_key,
            )?;
            if notes.is_empty() {
                tracing::error!(case = %case.reference, alert = urgent_kind(alert), "an urgent alert has nobody to go to: set schedule.on_call and add a manager to [[staff]]");
            }
            if let Some(written) = self
                .store
                .notify_once(&Once::Consume(key), &notes, None, now)
                .await?
            {
                tracing::warn!(case = %case.reference, alert = urgent_kind(alert), notifications = written.len(), "alert raised");
                handled += 1;
            }
        }
        Ok(handled)
    }
}

/// Runs the scheduler until `shutdown` turns true: queued urgent alerts at once, scheduled
/// jobs when due (and at start, to catch up).
pub async fn run(scheduler: Arc<Scheduler>, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("scheduler started");
    while !*shutdown.borrow() {
        let now = Utc::now();
        if let Err(e) = scheduler.urgent(now).await {
            tracing::error!("scheduler, urgent alerts: {e}");
        }
        if let Err(e) = scheduler.tick(now).await {
            tracing::error!("scheduler: {e}");
        }
        // Urgent alerts are looked for every second; jobs run on their minute.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("scheduler stopped");
}

/// People to tell, each once (by email, in any case), in the order added.
#[derive(Default)]
struct Recipients(Vec<(String, String)>);

impl Recipients {
    fn add(&mut self, name: &str, email: &str) {
        if !self.0.iter().any(|(_, e)| e.eq_ignore_ascii_case(email)) {
            self.0.push((name.to_owned(), email.to_owned()));
        }
    }

    fn add_staff(&mut self, staff: &[&Staff]) {
        for s in staff {
            self.add(&s.name, &s.email);
        }
    }
}

/// Who approved a letter sent by `schedule.auto_send_acknowledgement`.
pub const AUTO_APPROVER: &str = "redress (schedule.auto_send_acknowledgement)";

fn urgent_kind(alert: &Alert) -> &'static str {
    match alert {
        Alert::UrgentSafety => "urgent_safety",
        Alert::Stage2HandlerNeeded { .. } => "stage2_handler_needed",
        Alert::PossibleExclusion => "possible_exclusion",
    }
}

/// Level, subject of the alert, provision and next step of a workflow alert.
fn urgent_words(alert: &Alert) -> (&'static str, &'static str, &'static str, &'static str) {
    match alert {
        Alert::UrgentSafety => (
            "urgent",
            "report of danger to health or safety",
            "act at once: the complaints process must not delay it",
            "contact the resident now and arrange an emergency repair or visit",
        ),
        Alert::Stage2HandlerNeeded { .. } => (
            "waiting",
            "stage 2 review",
            "Code 6.13",
            "assign a handler who did not consider stage 1",
        ),
        Alert::PossibleExclusion => (
            "waiting",
            "decision on whether the complaints process applies",
            "Code 2.1 and 2.4",
            "decide, with reasons, whether to accept the complaint: redress never excludes one itself",
        ),
    }
}

/// The letter that meets a due item, if one does.
fn letter_for(what: &DueKind) -> Option<LetterKind> {
    match what {
        DueKind::Acknowledgement { stage } => Some(LetterKind::Acknowledgement { stage: *stage }),
        DueKind::Response { stage } => Some(LetterKind::Response { stage: *stage }),
        _ => None,
    }
}

/// The Code deadline a letter meets on its case, if it has one.
fn letter_due(case: &Case, letter: LetterKind) -> Option<NaiveDate> {
    case.due_items()
        .into_iter()
        .find(|i| letter_for(&i.what) == Some(letter))
        .map(|i| i.due)
}

/// Staff with a role, in configuration order.
fn with_role(config: &Config, role: Role) -> Vec<&Staff> {
    config
        .staff
        .iter()
        .filter(|s| s.role == Some(role))
        .collect()
}

/// The case's handler as staff read it, and their (name, email) when they can be emailed.
fn handler_of(config: &Config, case: &Case) -> (String, Option<(String, String)>) {
    let Some(handler) = case.handler.as_deref().filter(|h| !h.trim().is_empty()) else {
        return ("not assigned".to_owned(), None);
    };
    match approval::staff_member(config, handler) {
        Some(s) => (s.name.clone(), Some((s.name.clone(), s.email.clone()))),
        None if handler.contains('@') => (
            handler.to_owned(),
            Some((handler.to_owned(), handler.to_owned())),
        ),
        None => (handler.to_owned(), None),
    }
}

/// "due in 2 working days", "due today", "3 working days overdue".
fn when_words(
    due: NaiveDate,
    today: NaiveDate,
    calendar: &crate::core::calendar::Calendar,
) -> String {
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    if due == today {
        "due today".to_owned()
    } else if due > today {
        let n = calendar.working_days_between(today, due);
        format!("due in {n} working day{}", plural(n))
    } else {
        let n = calendar.working_days_between(due, today);
        format!("{n} working day{} overdue", plural(n))
    }
}

/// A fixed Message-ID for a notification, from what makes it unique: the same alert always
/// gets the same ID, so an interrupted send is found in the Sent folder.
fn notice_id(key: &str, domain: &str) -> String {
    let hash = sha2::Sha256::digest(key.as_bytes());
    format!("<notice-{}@{domain}>", &hex::encode(hash)[..24])
}
