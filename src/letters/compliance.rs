//! The compliance check: what each letter must contain (SPEC §3), and whether a rendered
//! letter contains it. Pure: it reads the rendered subject and text and the context the
//! template was given, so it runs the same on a fresh draft, on a member of staff's edit and
//! on a landlord's own template.
//!
//! An element drawn from the case (the complaint definition, a date, a remedy) must appear
//! word for word, and must not be empty: an acknowledgement drafted before staff recorded the
//! definition fails until they do. An element that is the landlord's own wording (how to
//! escalate, that this is the final response) is recognised by the words the Code uses; the
//! description of each says which.

use std::fmt;

use regex::Regex;

use super::context::LetterContext;
use crate::core::workflow::LetterKind;

/// Something a letter must contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Element {
    CaseReference,
    ComplaintDefinition,
    Responsibility,
    ResponseDueDate,
    HandlerContact,
    SupportQuestion,
    OmbudsmanDetails,
    Stage,
    Decision,
    Reasons,
    Remedy,
    OutstandingActions,
    Stage2Route,
    OmbudsmanRoute,
    FinalResponse,
    ExtensionReason,
    NewResponseDate,
    UpdateInterval,
    RefusalReasons,
    RightToOmbudsman,
    AsksProblemAndOutcome,
    AsksSupportNeeds,
    AsksContactDetails,
    AsksBestContact,
    WhatHappensNext,
    ChoiceToComplain,
    AsksIfOfficialComplaint,
    ActionProgress,
}

impl Element {
    /// What the element is, as staff read it in a refusal.
    pub fn name(self) -> &'static str {
        use Element::*;
        match self {
            CaseReference => "the case reference (in the subject and the letter)",
            ComplaintDefinition => {
                "the complaint definition: our understanding of the complaint and the outcome sought"
            }
            Responsibility => "what we are and are not responsible for",
            ResponseDueDate => "the date the response is due",
            HandlerContact => "who is handling the complaint and how to contact them",
            SupportQuestion => "a question about support needs or reasonable adjustments",
            OmbudsmanDetails => "the ombudsman's contact details",
            Stage => "the complaint stage",
            Decision => "the decision on the complaint (upheld, partly upheld or not upheld)",
            Reasons => "the reasons for the decision",
            Remedy => "the details of every remedy offered",
            OutstandingActions => "every outstanding action with its date",
            Stage2Route => "how to escalate to stage 2 if not satisfied",
            OmbudsmanRoute => "how to escalate to the ombudsman if still dissatisfied",
            FinalResponse => "that this is the landlord's final response",
            ExtensionReason => "the reason for the extension",
            NewResponseDate => "the new response date",
            UpdateInterval => "how often the resident will be updated, as agreed",
            RefusalReasons => "the reasons the complaint was not accepted",
            RightToOmbudsman => "the right to take this decision to the ombudsman",
            AsksProblemAndOutcome => "asks what the problem is and what should happen",
            AsksSupportNeeds => "asks whether they need help or reasonable adjustments",
            AsksContactDetails => "asks for name, address, email and phone",
            AsksBestContact => "asks for the best way to contact them",
            WhatHappensNext => "what happens next",
            ChoiceToComplain => "that they can complain if unhappy",
            AsksIfOfficialComplaint => "asks whether they want it treated as an official complaint",
            ActionProgress => "each outstanding action with its status and next date",
        }
    }

    /// The provision that asks for it: the Code's paragraph, or the landlord policy's section
    /// SPEC §3 takes it from.
    pub fn provision(self) -> &'static str {
        use Element::*;
        match self {
            CaseReference => "SPEC §3",
            ComplaintDefinition => "Code 5.6",
            Responsibility => "Code 5.7",
            ResponseDueDate => "Code 6.3, 6.14",
            HandlerContact => "Code 6.2",
            SupportQuestion => "Code 5.10",
            OmbudsmanDetails => "Code 3.7",
            Stage => "Code 6.9a, 6.19a",
            Decision => "Code 6.9c, 6.19c",
            Reasons => "Code 6.9d, 6.19d",
            Remedy => "Code 6.9e, 6.19e",
            OutstandingActions => "Code 6.9f, 6.19f",
            Stage2Route => "Code 6.9g",
            OmbudsmanRoute => "Code 6.19g",
            FinalResponse => "Code 6.20",
            ExtensionReason => "Code 6.4, 6.15",
            NewResponseDate => "Code 6.4, 6.15",
            UpdateInterval => "Code 5.9",
            RefusalReasons => "Code 2.4",
            RightToOmbudsman => "Code 2.4",
            AsksProblemAndOutcome | AsksSupportNeeds | AsksContactDetails | AsksBestContact => {
                "2024 policy §5.2–5.3"
            }
            WhatHappensNext | ChoiceToComplain => "Code 1.3",
            AsksIfOfficialComplaint => "2024 policy §8.4",
            ActionProgress => "Code 6.6",
        }
    }
}

/// A required element a letter lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub element: Element,
    /// Which part lacks it: "subject", "text" or "html".
    pub part: &'static str,
    /// What exactly was not found.
    pub detail: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} lacks {} ({}): {}",
            self.part,
            self.element.name(),
            self.element.provision(),
            self.detail
        )
    }
}

/// The elements `letter` must contain (SPEC §3).
pub fn required(letter: LetterKind) -> Vec<Element> {
    use Element::*;
    match letter {
        LetterKind::Acknowledgement { .. } => vec![
            CaseReference,
            ComplaintDefinition,
            Responsibility,
            ResponseDueDate,
            HandlerContact,
            SupportQuestion,
            OmbudsmanDetails,
        ],
        LetterKind::Response { stage } => {
            let mut v = vec![
                CaseReference,
                Stage,
                ComplaintDefinition,
                Decision,
                Reasons,
                Remedy,
                OutstandingActions,
            ];
            if stage == crate::core::code::Stage::One {
                v.push(Stage2Route);
            } else {
                v.extend([OmbudsmanRoute, FinalResponse]);
            }
            v.push(OmbudsmanDetails);
            v
        }
        LetterKind::Extension { .. } => vec![
            CaseReference,
            ExtensionReason,
            NewResponseDate,
            UpdateInterval,
            OmbudsmanDetails,
        ],
        LetterKind::NotAccepted => vec![
            CaseReference,
            RefusalReasons,
            RightToOmbudsman,
            OmbudsmanDetails,
        ],
        LetterKind::SocialInfoRequest => vec![
            CaseReference,
            AsksProblemAndOutcome,
            AsksSupportNeeds,
            AsksContactDetails,
            AsksBestContact,
        ],
        LetterKind::ServiceRequestLogged => vec![CaseReference, WhatHappensNext, ChoiceToComplain],
        LetterKind::MpEnquiry => vec![CaseReference, AsksIfOfficialComplaint],
        LetterKind::ActionUpdate => vec![CaseReference, ActionProgress, OmbudsmanDetails],
    }
}

/// Checks a rendered letter: its subject, and its text or HTML `body` (`part` names which).
/// HTML is read as text (tags dropped, entities decoded), so a paragraph in a heading or a
/// list counts the same as in prose.
pub fn check(
    letter: LetterKind,
    ctx: &LetterContext,
    subject: &str,
    body: &str,
    part: &'static str,
) -> Vec<Missing> {
    let text = if part == "html" {
        squash(&html_text(body))
    } else {
        squash(body)
    };
    let mut missing = Vec::new();
    for element in required(letter) {
        if let Some(detail) = lacks(element, ctx, subject, &text) {
            missing.push(Missing {
                element,
                part: if element == Element::CaseReference
                    && !subject.contains(&format!("[{}]", ctx.reference))
                {
                    "subject"
                } else {
                    part
                },
                detail,
            });
        }
    }
    missing
}

/// Checks a rendered letter's text and, when there is one, its HTML. A missing subject
/// reference is one problem, reported once, not once per part.
pub fn check_letter(
    letter: LetterKind,
    ctx: &LetterContext,
    subject: &str,
    text: &str,
    html: Option<&str>,
) -> Vec<Missing> {
    let mut missing = check(letter, ctx, subject, text, "text");
    if let Some(html) = html {
        for m in check(letter, ctx, subject, html, "html") {
            if !(m.part == "subject" && missing.contains(&m)) {
                missing.push(m);
            }
        }
    }
    missing
}

/// Why `text` lacks `element`, or `None` when it has it.
fn lacks(element: Element, ctx: &LetterContext, subject: &str, text: &str) -> Option<String> {
    use Element::*;
    let has = |needle: &str| contains(text, needle);
    let words = |pattern: &str| matches(pattern, text);
    // Case data must be there, and not empty.
    let field = |label: &str, value: &str| -> Option<String> {
        if value.trim().is_empty() {
            Some(format!("{label} has not been recorded on the case"))
        } else if !has(value) {
            Some(format!("{label} ({}) does not appear", clip(value)))
        } else {
            None
        }
    };
    let first = |checks: Vec<Option<String>>| checks.into_iter().flatten().next();
    let ombudsman_contact = |o: &crate::config::OmbudsmanContact| -> Option<String> {
        if !has(&o.name) {
            return Some(format!("the {} is not named", o.name));
        }
        let ways: Vec<&str> = [
            o.phone.as_deref(),
            o.online_form.as_deref(),
            Some(&o.website),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !ways.iter().any(|w| has(w)) {
            return Some(format!(
                "no way to contact the {} is given ({})",
                o.name,
                ways.join(" or ")
            ));
        }
        None
    };
    match element {
        CaseReference => {
            if !subject.contains(&format!("[{}]", ctx.reference)) {
                Some(format!("the subject does not carry [{}]", ctx.reference))
            } else if !has(&ctx.reference) {
                Some(format!("{} does not appear in the letter", ctx.reference))
            } else {
                None
            }
        }
        ComplaintDefinition => first(vec![
            field("our understanding of the complaint", &ctx.definition.understanding),
            field("the outcome sought", &ctx.definition.outcome_sought),
        ]),
        Responsibility => first(vec![
            field("what we are responsible for", &ctx.definition.responsible_for),
            field("what we are not responsible for", &ctx.definition.not_responsible_for),
        ]),
        ResponseDueDate => field("the response due date", &ctx.due),
        HandlerContact => first(vec![
            field("the handler", &ctx.handler.name),
            match (&ctx.handler.email, &ctx.organisation.phone) {
                (Some(email), _) if has(email) => None,
                (_, Some(phone)) if has(phone) => None,
                _ => Some("neither the handler's email nor our phone number appears".to_owned()),
            },
        ]),
        SupportQuestion => (!words(r"reasonable\s+adjustments?|support\s+needs|any\s+support"))
            .then(|| "no question about support or reasonable adjustments".to_owned()),
        OmbudsmanDetails => first(
            std::iter::once(&ctx.ombudsman.route)
                .chain(&ctx.ombudsman.also)
                .map(ombudsman_contact)
                .collect(),
        ),
        // Named as the stage of this response, not merely mentioned ("not involved at stage 1").
        Stage => match ctx.stage {
            None => Some("the case has no complaint stage".to_owned()),
            Some(n) => (!words(&format!(
                r"stage\s*{n}\s+(complaint\s+)?response|response\s+at\s+stage\s*{n}"
            )))
            .then(|| format!("it does not say this is the stage {n} response")),
        },
        Decision => field("the decision", &ctx.decision.outcome),
        Reasons => field("the reasons", &ctx.decision.reasons),
        Remedy => first(
            ctx.remedies
                .iter()
                .flat_map(|r| {
                    [
                        field("the remedy", &r.description),
                        r.amount.as_deref().and_then(|a| field("the amount", a)),
                    ]
                })
                .collect(),
        ),
        OutstandingActions => first(
            ctx.actions
                .iter()
                .flat_map(|a| {
                    [
                        field("the action", &a.description),
                        field("its date", &a.due),
                    ]
                })
                .collect(),
        ),
        Stage2Route => (!(words(r"\bstage\s*(2|two)\b")
            && words(r"not\s+(happy|satisfied)|remain\s+(unhappy|dissatisfied)|still\s+(unhappy|dissatisfied)")))
        .then(|| "no words on asking for stage 2 if not satisfied".to_owned()),
        // One sentence that says what to do if still dissatisfied and names the ombudsman: the
        // words alone could come from the resident's own complaint ("I remain unhappy…").
        OmbudsmanRoute => (!words(&format!(
            r"((remain|still)\s+(unhappy|dissatisfied)|not\s+(happy|satisfied))[^.]{{0,150}}{}",
            regex::escape(&ctx.ombudsman.route.name)
        )))
        .then(|| {
            format!(
                "no sentence says they can go to the {} if still dissatisfied",
                ctx.ombudsman.route.name
            )
        }),
        FinalResponse => (!words(r"final\s+response"))
            .then(|| "it does not say it is our final response".to_owned()),
        ExtensionReason => field("the reason", &ctx.extension.reason),
        NewResponseDate => field("the new date", &ctx.extension.new_due),
        UpdateInterval => {
            if ctx.extension.update_interval.is_empty() {
                Some("no update interval has been agreed".to_owned())
            } else {
                (!words(&format!(
                    r"every\s+{}\s+working\s+days?",
                    regex::escape(&ctx.extension.update_interval)
                )))
                .then(|| {
                    format!(
                        "\"every {} working days\" does not appear",
                        ctx.extension.update_interval
                    )
                })
            }
        }
        RefusalReasons => field("the reasons", &ctx.refusal.reasons),
        RightToOmbudsman => (!(words(r"right\s+to") && has(&ctx.ombudsman.route.name))).then(|| {
            format!(
                "it does not say they have the right to go to the {}",
                ctx.ombudsman.route.name
            )
        }),
        AsksProblemAndOutcome => (!(words(r"what\s+the\s+problem\s+is")
            && words(r"what\s+you\s+would\s+like")))
        .then(|| "it does not ask what the problem is and what they would like".to_owned()),
        AsksSupportNeeds => (!words(r"help|support|reasonable\s+adjustments?"))
            .then(|| "it does not ask about help or adjustments".to_owned()),
        AsksContactDetails => {
            let absent: Vec<&str> = ["name", "address", "email", "phone"]
                .into_iter()
                .filter(|w| !words(&format!(r"\b{w}")))
                .collect();
            (!absent.is_empty()).then(|| format!("it does not ask for: {}", absent.join(", ")))
        }
        AsksBestContact => (!words(r"best\s+way"))
            .then(|| "it does not ask for the best way to contact them".to_owned()),
        WhatHappensNext => (!words(r"what\s+happens\s+next|next\s+steps?"))
            .then(|| "it does not say what happens next".to_owned()),
        ChoiceToComplain => (!words(r"complain"))
            .then(|| "it does not say they can complain".to_owned()),
        AsksIfOfficialComplaint => (!words(r"(official|formal)\s+complaint[^?]*\?|\?[^.]*(official|formal)\s+complaint"))
            .then(|| "it does not ask whether to treat this as an official complaint".to_owned()),
        ActionProgress => {
            if ctx.actions.is_empty() {
                Some("the case has no outstanding actions to report on".to_owned())
            } else {
                first(
                    ctx.actions
                        .iter()
                        .flat_map(|a| {
                            [
                                field("the action", &a.description),
                                field("its status", &a.status),
                                field("its next date", &a.due),
                            ]
                        })
                        .collect(),
                )
            }
        }
    }
}

/// Whether the case-insensitive `pattern` matches `text`. Compiled patterns are kept (they
/// are the check's own, plus a few naming the configured ombudsmen), so checking a letter
/// does not compile them again.
fn matches(pattern: &str, text: &str) -> bool {
    static COMPILED: std::sync::LazyLock<
        std::sync::RwLock<std::collections::HashMap<String, Option<Regex>>>,
    > = std::sync::LazyLock::new(Default::default);
    let cached = COMPILED
        .read()
        .ok()
        .and_then(|c| c.get(pattern).map(|r| r.as_ref().map(|r| r.is_match(text))));
    if let Some(found) = cached {
        return found.unwrap_or(false);
    }
    let compiled = Regex::new(&format!("(?i){pattern}")).ok();
    let found = compiled.as_ref().is_some_and(|r| r.is_match(text));
    if let Ok(mut c) = COMPILED.write() {
        c.insert(pattern.to_owned(), compiled);
    }
    found
}

/// Whitespace runs made one space, so a value wrapped over lines still matches.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn contains(text: &str, needle: &str) -> bool {
    text.contains(&squash(needle))
}

fn clip(value: &str) -> String {
    let squashed = squash(value);
    if squashed.chars().count() > 60 {
        format!("“{}…”", squashed.chars().take(60).collect::<String>())
    } else {
        format!("“{squashed}”")
    }
}

/// The text of an HTML document as the compliance check reads it: mail-parser's conversion,
/// which drops the head (the title repeats the subject), styles and tags and decodes entities.
pub fn html_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_read_as_its_text() {
        assert_eq!(
            squash(&html_text(
                "<html><head><title>x</title></head><body><p>Tom &amp; Jo&#x27;s <b>flat</b> &#x2f; 3 &lt;ok&gt;</p></body></html>"
            )),
            "Tom & Jo's flat / 3 <ok>"
        );
        assert_eq!(squash(&html_text("a & b &unknown; c")), "a & b &unknown; c");
    }
}
