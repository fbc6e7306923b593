//! The daily digest: to each manager everything breached, at risk, due today and waiting for
//! approval, and the mail set aside that a person should check; to each handler the same for
//! their own cases.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::jobs::{self, Run};
use super::{KEEP_RUN_MARKS_DAYS, ScheduleError, Scheduler, handler_of, letter_due};
use crate::config::Role;
use crate::core::alerts;
use crate::core::model::{Case, DueKind};
use crate::letters::DraftStatus;
use crate::letters::context::long_date;
use crate::letters::internal::{DigestContext, DigestItem, SetAsideItem};
use crate::store::{NewNotification, Once, run_mark};

impl Scheduler {
    /// The daily digest for `run`: to each manager everything due, at risk, breached and
    /// waiting for approval; to each handler the same for their own cases (only when they
    /// have something). Written with the run's mark; returns how many were written (0 when
    /// the run was done already).
    pub async fn digest(&self, run: &Run, now: DateTime<Utc>) -> Result<usize, ScheduleError> {
        let today = self.today(now);
        let config = &self.loaded.config;
        let lists = self.work_lists(today)?;
        let set_aside = self.set_aside_since_last(run)?;
        let mut notes = Vec::new();
        for member in &config.staff {
            let role = member.role;
            let mine = |item: &&(DigestItem, Option<String>)| {
                role == Some(Role::Manager)
                    || item
                        .1
                        .as_deref()
                        .is_some_and(|h| h.eq_ignore_ascii_case(&member.email))
            };
            let pick = |list: &[(DigestItem, Option<String>)]| -> Vec<DigestItem> {
                list.iter().filter(mine).map(|(i, _)| i.clone()).collect()
            };
            let context = DigestContext {
                organisation: config.organisation.clone(),
                recipient: member.name.clone(),
                date: long_date(today),
                breached: pick(&lists.breached),
                at_risk: pick(&lists.at_risk),
                due_today: pick(&lists.due_today),
                drafts_waiting: pick(&lists.drafts_waiting),
                set_aside: if role == Some(Role::Manager) {
                    set_aside.clone()
                } else {
                    Vec::new()
                },
            };
            let empty = context.breached.is_empty()
                && context.at_risk.is_empty()
                && context.due_today.is_empty()
                && context.drafts_waiting.is_empty();
            if role != Some(Role::Manager) && empty {
                continue;
            }
            // The managers' digest (the whole picture) also goes to the team's chat, once.
            let to_chat = role == Some(Role::Manager)
                && !notes.iter().any(|n: &NewNotification| n.post_to_chat);
            notes.push(self.note(
                "digest",
                &context,
                "digest",
                None,
                vec![member.email.clone()],
                &format!("{}/{}", run.key(), member.email),
                to_chat,
            )?);
        }
        let written = self
            .store
            .notify_once(&Once::Mark(run_mark(&run.key())), &notes, None, now)
            .await?;
        let prune_before = today - chrono::Days::new(KEEP_RUN_MARKS_DAYS);
        self.store.prune_runs(prune_before)?;
        Ok(written.map_or(0, |w| w.len()))
    }

    /// Messages set aside since the digest's previous run (the last day's, a weekend's) that
    /// a person should check, oldest first.
    fn set_aside_since_last(&self, run: &Run) -> Result<Vec<SetAsideItem>, ScheduleError> {
        let tz = self.loaded.timezone;
        let previous = self
            .jobs
            .iter()
            .find(|j| j.name == run.job)
            .and_then(|job| {
                jobs::latest_run(job, tz, run.at - TimeDelta::seconds(1), TimeDelta::days(8))
            })
            .map_or(run.at - TimeDelta::days(1), |r| r.at);
        let mut records: Vec<_> = self
            .store
            .set_aside_records()?
            .into_iter()
            .filter(|r| r.needs_a_person() && r.arrived > previous && r.arrived <= run.at)
            .collect();
        records.sort_by_key(|r| r.arrived);
        Ok(records
            .into_iter()
            .map(|r| {
                let local = r.arrived.with_timezone(&tz);
                SetAsideItem {
                    arrived: format!(
                        "{} at {}",
                        long_date(local.date_naive()),
                        local.format("%H:%M")
                    ),
                    from: r.from.unwrap_or_else(|| "an unknown sender".to_owned()),
                    subject: r.subject.unwrap_or_else(|| "(no subject)".to_owned()),
                    kind: serde_json::to_value(r.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    reason: r.reason,
                }
            })
            .collect())
    }

    /// The digest's lists, oldest first, each item with its handler's email.
    fn work_lists(&self, today: NaiveDate) -> Result<WorkLists, ScheduleError> {
        let config = &self.loaded.config;
        let calendar = &self.loaded.calendar;
        let timing = self.timing();
        let mut lists = WorkLists::default();
        let mut cache: Option<Case> = None;
        let until = alerts::horizon(today, calendar, timing);
        for entry in self.store.due_until(until)? {
            let Some(what) = DueKind::from_key(&entry.what) else {
                continue;
            };
            if cache
                .as_ref()
                .is_none_or(|c| c.reference != entry.reference)
            {
                cache = self.store.case(&entry.reference)?;
            }
            let Some(case) = &cache else { continue };
            let (name, handler) = handler_of(config, case);
            let item = (
                DigestItem {
                    reference: entry.reference.clone(),
                    what: alerts::describe(&what),
                    due: long_date(entry.due),
                    handler: name,
                },
                handler.map(|h| h.1),
            );
            use alerts::State;
            match alerts::state(entry.due, &what, today, calendar, timing) {
                State::Breached => lists.breached.push(item),
                State::AtRisk => lists.at_risk.push(item),
                State::DueToday | State::ReminderDue => lists.due_today.push(item),
                State::Upcoming | State::ReminderUpcoming => {}
            }
        }
        for draft in self.store.drafts()? {
            if draft.status != DraftStatus::Pending {
                continue;
            }
            let Some(case) = self.store.case(&draft.reference)? else {
                continue;
            };
            let (name, handler) = handler_of(config, &case);
            let due = letter_due(&case, draft.letter)
                .map_or_else(|| "no Code deadline".to_owned(), long_date);
            lists.drafts_waiting.push((
                DigestItem {
                    reference: draft.reference.clone(),
                    what: format!("{}, draft {}", draft.letter.name(), draft.id),
                    due,
                    handler: name,
                },
                handler.map(|h| h.1),
            ));
        }
        Ok(lists)
    }
}

#[derive(Default)]
struct WorkLists {
    breached: Vec<(DigestItem, Option<String>)>,
    at_risk: Vec<(DigestItem, Option<String>)>,
    due_today: Vec<(DigestItem, Option<String>)>,
    drafts_waiting: Vec<(DigestItem, Option<String>)>,
}
