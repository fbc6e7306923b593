//! The rules for each kind of event: which clock starts or moves, what must be true first,
//! and which letter or deadline follows. Called only from [`super::step`] and [`super::open`].

use chrono::NaiveDate;

use super::{Effect, LetterKind, Rules, WorkflowError};
use crate::core::code::{self, Stage};
use crate::core::model::{
    Case, CaseKind, Closure, DueItem, DueKind, Extension, Flag, StageRecord, Status,
};

/// Starts a stage: sets its acknowledgement and response clocks and drafts the acknowledgement.
pub(super) fn start_stage(
    case: &mut Case,
    stage: Stage,
    received: NaiveDate,
    rules: Rules<'_>,
) -> Vec<Effect> {
    let t = rules.policy.timescales(stage);
    let d = code::deadlines(rules.calendar, t, stage, received, None, None);
    case.stage = Some(stage);
    case.status = Status::Received;
    case.stages.insert(
        stage,
        StageRecord {
            received,
            ack_due: d.ack_due,
            acknowledged_on: None,
            response_due: d.response_due,
            extensions: Vec::new(),
            handler: None,
            definition: None,
            decision: None,
            responded_on: None,
        },
    );
    vec![
        Effect::Draft(LetterKind::Acknowledgement { stage }),
        deadline(d.ack_due, DueKind::Acknowledgement { stage }),
        deadline(d.response_due, DueKind::Response { stage }),
    ]
}

pub(super) fn assign_handler(case: &mut Case, handler: &str) -> Result<(), WorkflowError> {
    if case.stage == Some(Stage::Two) {
        let stage1 = case
            .stages
            .get(&Stage::One)
            .and_then(|r| r.handler.as_deref());
        if let Some(stage1) = stage1.filter(|h| h.eq_ignore_ascii_case(handler)) {
            return Err(WorkflowError::SameHandlerAtStage2 {
                handler: stage1.to_owned(),
            });
        }
    }
    case.handler = Some(handler.to_owned());
    if let Some(rec) = open_stage_mut(case) {
        rec.handler = Some(handler.to_owned());
    }
    Ok(())
}

pub(super) fn acknowledge(
    case: &mut Case,
    on: NaiveDate,
    rules: Rules<'_>,
    refuse: &dyn Fn(&str) -> WorkflowError,
) -> Result<Vec<Effect>, WorkflowError> {
    if case.status != Status::Received {
        return Err(refuse(
            "only a complaint awaiting acknowledgement can be acknowledged",
        ));
    }
    let stage = case.stage.ok_or_else(|| refuse("it is not a complaint"))?;
    let rec = case
        .stages
        .get_mut(&stage)
        .ok_or_else(|| refuse("the stage has no record"))?;
    if rec.definition.is_none() {
        return Err(WorkflowError::DefinitionMissing);
    }
    if on < rec.received {
        return Err(WorkflowError::DateOrder {
            what: "the acknowledgement",
            date: on,
            earlier_what: "receipt",
            earlier: rec.received,
        });
    }
    let t = rules.policy.timescales(stage);
    rec.acknowledged_on = Some(on);
    rec.response_due = rules.calendar.add_working_days(on, t.respond_working_days);
    let due = rec.effective_due();
    case.status = Status::Acknowledged;
    Ok(vec![deadline(due, DueKind::Response { stage })])
}

/// The parts of an `extension_agreed` event, borrowed.
pub(super) struct ExtensionRequest<'a> {
    pub(super) on: NaiveDate,
    pub(super) working_days: u32,
    pub(super) reason: &'a str,
    pub(super) good_reason: Option<&'a str>,
    pub(super) update_interval: u32,
}

pub(super) fn extend(
    case: &mut Case,
    ext: ExtensionRequest<'_>,
    rules: Rules<'_>,
    refuse: &dyn Fn(&str) -> WorkflowError,
) -> Result<Vec<Effect>, WorkflowError> {
    let stage = case.stage.ok_or_else(|| refuse("it is not a complaint"))?;
    if case.status != Status::Acknowledged {
        // The response clock runs from acknowledgement (6.3, 6.14); an extension moves it.
        return Err(refuse(
            "an extension is agreed after acknowledgement and before the response",
        ));
    }
    if ext.working_days == 0 {
        return Err(refuse("an extension must be at least one working day"));
    }
    if ext.reason.trim().is_empty() {
        return Err(WorkflowError::ReasonsRequired {
            provision: code::extension_provision(stage),
            what: "an extension",
        });
    }
    if ext.update_interval == 0 {
        return Err(refuse(
            "agree an interval for keeping the resident informed (Code 5.9)",
        ));
    }
    let rec = case
        .stages
        .get_mut(&stage)
        .ok_or_else(|| refuse("the stage has no record"))?;
    let max = rules.policy.timescales(stage).max_extension_working_days;
    let total = rec.extension_days() + ext.working_days;
    let has_good_reason = ext.good_reason.is_some_and(|r| !r.trim().is_empty());
    if total > max && !has_good_reason {
        return Err(WorkflowError::ExtensionTooLong {
            provision: code::extension_provision(stage),
            stage,
            total,
            max,
        });
    }
    let new_due = rules
        .calendar
        .add_working_days(rec.effective_due(), ext.working_days);
    let updates_due = update_dates(ext.on, ext.update_interval, new_due, rules);
    rec.extensions.push(Extension {
        agreed_on: ext.on,
        working_days: ext.working_days,
        reason: ext.reason.to_owned(),
        good_reason: ext.good_reason.map(str::to_owned),
        update_interval_working_days: ext.update_interval,
        new_due,
        updates_due,
    });
    Ok(vec![
        Effect::Draft(LetterKind::Extension { stage }),
        deadline(new_due, DueKind::Response { stage }),
    ])
}

/// Most update dates one extension can owe: a daily interval over the longest extension a
/// good reason allows stays well inside this, and a typo cannot fill the index.
const MAX_UPDATES: usize = 60;

/// The dates the resident is owed an update (5.9): every `interval` working days after the
/// extension was agreed, before the new response date (the response itself is the last word).
fn update_dates(
    agreed: NaiveDate,
    interval: u32,
    new_due: NaiveDate,
    rules: Rules<'_>,
) -> Vec<NaiveDate> {
    let mut dates = Vec::new();
    let mut next = rules.calendar.add_working_days(agreed, interval);
    while next < new_due && dates.len() < MAX_UPDATES {
        dates.push(next);
        next = rules.calendar.add_working_days(next, interval);
    }
    dates
}

pub(super) fn respond(
    case: &mut Case,
    on: NaiveDate,
    refuse: &dyn Fn(&str) -> WorkflowError,
) -> Result<Vec<Effect>, WorkflowError> {
    if case.status != Status::Acknowledged {
        return Err(refuse("a response follows acknowledgement"));
    }
    let stage = case.stage.ok_or_else(|| refuse("it is not a complaint"))?;
    let rec = case
        .stages
        .get_mut(&stage)
        .ok_or_else(|| refuse("the stage has no record"))?;
    let Some(decision) = &rec.decision else {
        return Err(refuse("record the decision before the response is sent"));
    };
    if let Some(acked) = rec.acknowledged_on.filter(|a| on < *a) {
        return Err(WorkflowError::DateOrder {
            what: "the response",
            date: on,
            earlier_what: "the acknowledgement",
            earlier: acked,
        });
    }
    // 6.6: outstanding actions are tracked after the response, until done.
    let effects = decision
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.done_on.is_none())
        .map(|(index, a)| deadline(a.due, DueKind::Action { index, stage }))
        .collect();
    rec.responded_on = Some(on);
    if stage == Stage::Two {
        // 6.20: the stage 2 response is the landlord's final response.
        case.status = Status::Closed;
        case.closure = Some(Closure {
            on,
            reason: "final response (stage 2) sent".into(),
        });
    } else {
        case.status = Status::Responded;
    }
    Ok(effects)
}

pub(super) fn reclassify(
    case: &mut Case,
    kind: CaseKind,
    reason: &str,
    rules: Rules<'_>,
    refuse: &dyn Fn(&str) -> WorkflowError,
) -> Result<Vec<Effect>, WorkflowError> {
    if reason.trim().is_empty() {
        return Err(refuse("say why the kind is being changed"));
    }
    if kind == case.kind {
        return Err(refuse("the case already has that kind"));
    }
    if case.kind == CaseKind::Complaint
        && (case.status != Status::Received || case.stage != Some(Stage::One))
    {
        // Past acknowledgement, dropping a complaint is a refusal: it needs `not_accepted`
        // with reasons and the Ombudsman route (2.4), not a quiet change of kind.
        return Err(refuse(
            "an acknowledged complaint can only be not accepted, with reasons",
        ));
    }
    let was = case.kind;
    case.kind = kind;
    if was == CaseKind::Complaint {
        case.stage = None;
        case.stages.clear();
    }
    if kind == CaseKind::Complaint {
        // The Code's clock runs from when the resident complained, not from when staff noticed.
        case.service_target = None;
        let received = case.received;
        return Ok(start_stage(case, Stage::One, received, rules));
    }
    Ok(Vec::new())
}

pub(super) fn reopen(
    case: &mut Case,
    on: NaiveDate,
    reason: &str,
    rules: Rules<'_>,
    refuse: &dyn Fn(&str) -> WorkflowError,
) -> Result<Vec<Effect>, WorkflowError> {
    if case.status.is_open() {
        return Err(refuse("the case is open"));
    }
    if reason.trim().is_empty() {
        return Err(refuse("say why the case is being reopened"));
    }
    case.closure = None;
    case.refusal = None;
    let Some(stage) = case.stage else {
        case.status = Status::Received;
        return Ok(Vec::new());
    };
    let t = rules.policy.timescales(stage);
    let rec = case
        .stages
        .get_mut(&stage)
        .ok_or_else(|| refuse("the stage has no record"))?;
    if rec.acknowledged_on.is_none() {
        case.status = Status::Received;
        return Ok(Vec::new());
    }
    // A reopened complaint needs a fresh response; give it the stage's full response time from
    // the day it was reopened so it is back on the due list.
    rec.responded_on = None;
    rec.response_due = rules.calendar.add_working_days(on, t.respond_working_days);
    case.status = Status::Acknowledged;
    Ok(vec![deadline(
        rec.effective_due(),
        DueKind::Response { stage },
    )])
}

pub(super) fn open_stage_mut(case: &mut Case) -> Option<&mut StageRecord> {
    if !case.status.is_open() {
        return None;
    }
    let stage = case.stage?;
    case.stages.get_mut(&stage)
}

pub(super) fn add_flags(case: &mut Case, flags: &[Flag]) {
    for flag in flags {
        if !case.flags.contains(flag) {
            case.flags.push(*flag);
        }
    }
    case.flags.sort();
}

pub(super) fn deadline(due: NaiveDate, what: DueKind) -> Effect {
    Effect::Deadline(DueItem { due, what })
}
