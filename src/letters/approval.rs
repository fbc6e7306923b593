//! Who may approve a letter, and whether it may go out at all (SPEC §4). Pure: the store asks
//! it inside the approving transaction, with the case as it is at that moment.
//!
//! A draft is refused when it lacks anything the Code requires of its kind (SPEC §3), when a
//! stage 2 letter would be approved by the person who considered stage 1 (6.13), and when it
//! offers a payment larger than the approver's role may authorise (2024 policy §14.26, bands in
//! `[approval]`).

use chrono::NaiveDate;

use super::Draft;
use super::compliance;
use super::context::{self, LetterContext};
use crate::config::{Config, PaymentBand, Role, Staff};
use crate::core::code::Stage;
use crate::core::model::Case;
use crate::core::workflow::LetterKind;

/// How much a role may authorise, in order: handlers and administrators least.
pub fn authority(role: Role) -> u8 {
    match role {
        Role::Handler | Role::Admin => 1,
        Role::Manager => 2,
        Role::Senior => 3,
    }
}

/// The member of staff a name or email refers to.
pub fn staff_member<'a>(config: &'a Config, who: &str) -> Option<&'a Staff> {
    let who = who.trim();
    config
        .staff
        .iter()
        .find(|s| s.email.eq_ignore_ascii_case(who) || s.name.eq_ignore_ascii_case(who))
}

/// The same person, however each was written (name or email, any case).
fn same_person(config: &Config, a: &str, b: &str) -> bool {
    match (staff_member(config, a), staff_member(config, b)) {
        (Some(x), Some(y)) => x.email.eq_ignore_ascii_case(&y.email),
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// The band a payment of `pence` falls in: the highest whose threshold it reaches.
pub fn band(bands: &[PaymentBand], pence: u64) -> Option<&PaymentBand> {
    bands
        .iter()
        .filter(|b| pence >= b.from_pence)
        .max_by_key(|b| b.from_pence)
}

/// Every reason `by` may not approve `draft` for `case` now; empty when they may.
pub fn refusals(
    draft: &Draft,
    case: &Case,
    by: &str,
    config: &Config,
    today: NaiveDate,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let approver = staff_member(config, by);
    if approver.is_none() && !config.staff.is_empty() {
        reasons.push(format!(
            "{by} is not a member of staff in the configuration ([[staff]]), so cannot approve letters"
        ));
    }
    let ctx = context::build(case, draft.letter, config, today);
    if matches!(
        draft.letter,
        LetterKind::Acknowledgement { stage: Stage::Two }
            | LetterKind::Response { stage: Stage::Two }
            | LetterKind::Extension { stage: Stage::Two }
    ) {
        let stage1 = case
            .stages
            .get(&Stage::One)
            .and_then(|r| r.handler.as_deref());
        if stage1.is_some_and(|h| same_person(config, h, by)) {
            reasons.push(
                "Code 6.13: a stage 2 letter cannot be approved by the person who considered stage 1"
                    .to_owned(),
            );
        }
    }
    reasons.extend(payment_refusal(&ctx, approver, config));
    reasons.extend(findings(
        draft.letter,
        &ctx,
        &draft.subject,
        &draft.body,
        draft.html.as_deref(),
    ));
    reasons
}

/// The payment the letter offers, if any is beyond the approver's authority.
fn payment_refusal(
    ctx: &LetterContext,
    approver: Option<&Staff>,
    config: &Config,
) -> Option<String> {
    let pence: u64 = ctx.remedies.iter().filter_map(|r| r.pence).sum();
    let band = band(&config.approval.bands, pence)?;
    let has = approver.and_then(|s| s.role).map_or(0, authority);
    (has < authority(band.role)).then(|| {
        format!(
            "2024 policy §14.26: the payment offered ({}) is in the {} band, which needs a {} to approve it",
            context::pounds(pence),
            band.name,
            role_name(band.role)
        )
    })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Handler => "handler",
        Role::Manager => "manager",
        Role::Senior => "senior manager",
        Role::Admin => "administrator",
    }
}

/// What the compliance check finds missing from a letter's text and HTML, as staff read it.
pub fn findings(
    letter: LetterKind,
    ctx: &LetterContext,
    subject: &str,
    body: &str,
    html: Option<&str>,
) -> Vec<String> {
    compliance::check_letter(letter, ctx, subject, body, html)
        .iter()
        .map(ToString::to_string)
        .collect()
}
