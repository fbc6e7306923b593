//! Plain-text first versions of each letter, written from the case. They carry what the Code
//! requires of each (SPEC §3) in plain English; the template capability replaces them with
//! landlord-editable templates and a compliance check.

use std::fmt::Write;

use super::context::{long_date, outcome_words, pounds};
use crate::config::{Config, OmbudsmanContact};
use crate::core::code::Stage;
use crate::core::model::Case;
use crate::core::workflow::LetterKind;

/// Subject and body of a letter for a case.
pub fn render(case: &Case, letter: LetterKind, config: &Config) -> (String, String) {
    let org = &config.organisation;
    let r = &case.reference;
    let name = case.complainant.name.as_deref().unwrap_or("resident");
    let mut b = format!("Dear {name},\n\n");
    let subject = match letter {
        LetterKind::Acknowledgement { stage } => {
            acknowledgement(&mut b, case, stage);
            format!("[{r}] We have received your complaint ({stage})")
        }
        LetterKind::Response { stage } => {
            response(&mut b, case, stage);
            format!("[{r}] Our {stage} response to your complaint")
        }
        LetterKind::Extension { stage } => {
            extension(&mut b, case, stage);
            format!("[{r}] We need more time to respond ({stage})")
        }
        LetterKind::NotAccepted => {
            let reasons = case.refusal.as_ref().map_or("", |f| f.reasons.as_str());
            let _ = write!(
                b,
                "We have decided not to take your concern forward as a complaint under our complaints policy.\n\nOur reasons: {reasons}\n\nIf you disagree with this decision, you have the right to ask the Ombudsman to look at it.\n"
            );
            format!("[{r}] About your complaint")
        }
        LetterKind::ServiceRequestLogged => {
            let target = case
                .service_target
                .map(|d| format!(" We aim to complete it by {}.", long_date(d)))
                .unwrap_or_default();
            let _ = write!(
                b,
                "Thank you for your request. We have logged it under reference {r}.{target}\n\nWe will be in touch about what happens next. If you are unhappy with how we deal with it, you can make a complaint at any time by replying to this email.\n"
            );
            format!("[{r}] We have logged your request")
        }
        LetterKind::MpEnquiry => {
            let _ = write!(
                b,
                "Your MP or councillor has contacted us on your behalf. We will reply to them.\n\nWould you like us to treat this as an official complaint as well? If so, please reply to this email and say so.\n"
            );
            format!("[{r}] Your enquiry through your MP or councillor")
        }
        LetterKind::SocialInfoRequest => {
            let _ = write!(
                b,
                "Thank you for contacting us. So that we can look into this properly, please tell us privately:\n\n- what the problem is, and what you would like us to do to put it right;\n- whether you need any help or adjustments to take part in the complaints process;\n- your name, address, email and phone number;\n- the best way and time to contact you.\n"
            );
            format!("[{r}] Please tell us more")
        }
        LetterKind::ActionUpdate => {
            let _ = writeln!(
                b,
                "This is an update on the actions we promised when we responded to your complaint."
            );
            outstanding_actions(&mut b, case);
            format!("[{r}] An update on your complaint")
        }
    };
    let _ = write!(b, "\nYours sincerely,\n\nComplaints team\n{}\n", org.name);
    for line in &org.address {
        let _ = writeln!(b, "{line}");
    }
    for contact in [&org.phone, &org.email, &org.website].into_iter().flatten() {
        let _ = writeln!(b, "{contact}");
    }
    if !matches!(letter, LetterKind::ServiceRequestLogged) {
        ombudsman_block(&mut b, case, config);
    }
    (subject, b)
}

fn acknowledgement(b: &mut String, case: &Case, stage: Stage) {
    let Some(rec) = case.stages.get(&stage) else {
        return;
    };
    let _ = writeln!(
        b,
        "Thank you for contacting us. We have logged your complaint at {stage} of our complaints process, reference {}.\n",
        case.reference
    );
    if let Some(d) = &rec.definition {
        let _ = write!(
            b,
            "Our understanding of your complaint: {}\n\nWhat you would like to happen: {}\n\nWhat we are responsible for: {}\n\nWhat we are not responsible for: {}\n\n",
            d.understanding, d.outcome_sought, d.responsible_for, d.not_responsible_for
        );
    }
    let _ = writeln!(
        b,
        "We will send you our full response by {}.",
        long_date(rec.effective_due())
    );
    if let Some(h) = &case.handler {
        let _ = writeln!(b, "Your complaint is being handled by {h}.");
    }
    let _ = writeln!(
        b,
        "\nIf anything above is not right, or you need any support or adjustments to take part in the complaints process, please reply to this email and tell us."
    );
}

fn response(b: &mut String, case: &Case, stage: Stage) {
    let Some(rec) = case.stages.get(&stage) else {
        return;
    };
    let _ = writeln!(
        b,
        "This is our {stage} response to your complaint, reference {}.\n",
        case.reference
    );
    if let Some(d) = &rec.definition {
        let _ = writeln!(b, "Your complaint: {}\n", d.understanding);
    }
    if let Some(decision) = &rec.decision {
        let outcome = outcome_words(decision.outcome);
        let _ = write!(
            b,
            "Our decision: your complaint is {outcome}.\n\nOur reasons: {}\n\n",
            decision.reasons
        );
        for remedy in &decision.remedies {
            let pay = remedy
                .payment_pence
                .map(|p| {
                    format!(" ({}", pounds(p))
                        + &remedy
                            .how_paid
                            .as_ref()
                            .map(|h| format!(", paid by {h})"))
                            .unwrap_or_else(|| ")".into())
                })
                .unwrap_or_default();
            let _ = writeln!(b, "To put things right: {}{pay}", remedy.description);
        }
    }
    outstanding_actions(b, case);
    if stage == Stage::One {
        let _ = writeln!(
            b,
            "\nIf you are not happy with this response, you can ask us to look at your complaint again at stage 2. Just reply to this email and say you remain unhappy; you do not have to give reasons."
        );
    } else {
        let _ = writeln!(
            b,
            "\nThis is our final response. If you remain unhappy, you can ask the Ombudsman to look at your complaint."
        );
    }
}

fn extension(b: &mut String, case: &Case, stage: Stage) {
    let Some(rec) = case.stages.get(&stage) else {
        return;
    };
    let Some(ext) = rec.extensions.last() else {
        return;
    };
    let _ = write!(
        b,
        "We need more time to respond to your complaint, reference {}.\n\nWhy: {}\n\nWe will now respond by {}. We will update you at least every {} working days until then.\n\nIf you are unhappy about this delay, you can contact the Ombudsman.\n",
        case.reference,
        ext.reason,
        long_date(ext.new_due),
        ext.update_interval_working_days
    );
}

fn outstanding_actions(b: &mut String, case: &Case) {
    let actions = super::context::open_actions(case);
    if actions.is_empty() {
        return;
    }
    let _ = writeln!(b, "\nWhat we will still do:");
    for a in actions {
        let _ = writeln!(b, "- {} by {}", a.description, long_date(a.due));
    }
}

/// The ombudsman details: Housing Ombudsman by default, the LGSCO instead for its matters,
/// and the Building Safety Regulator as well for building-safety cases (SPEC §3).
fn ombudsman_block(b: &mut String, case: &Case, config: &Config) {
    let block = super::context::ombudsman_block(&case.flags, config);
    let _ = writeln!(
        b,
        "\nYou can contact the {} at any time for advice about your complaint:",
        block.route.name
    );
    contact_lines(b, &block.route);
    for other in &block.also {
        let _ = writeln!(
            b,
            "\nFor building safety concerns you can also contact the {}:",
            other.name
        );
        contact_lines(b, other);
    }
}

fn contact_lines(b: &mut String, c: &OmbudsmanContact) {
    for line in [&c.phone, &c.email].into_iter().flatten() {
        let _ = writeln!(b, "  {line}");
    }
    let _ = writeln!(b, "  {}", c.online_form.as_deref().unwrap_or(&c.website));
    if !c.address.is_empty() {
        let _ = writeln!(b, "  {}", c.address.join(", "));
    }
}
