//! A sample case with every field a letter can show: a complaint taken through both stages
//! with a definition, an extension, a decision with a payment and outstanding actions at each,
//! a reasonable adjustment, a refusal's reasons and a service target. It is built through the
//! workflow, so its dates are the ones the calendar and the Code's timescales give, and is
//! what `redress letters preview --sample` and the template check at start-up render.

use chrono::NaiveDate;

use crate::config::{Config, Organisation, Role, Staff};
use crate::core::calendar::Calendar;
use crate::core::code::{PolicyProfile, Stage};
use crate::core::event::{Event, Opened};
use crate::core::model::{
    Action, Adjustment, Case, CaseKind, Channel, ComplaintDefinition, Contact, Decision, Flag,
    Outcome, Refusal, Remedy,
};
use crate::core::workflow::{Rules, apply, open};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("a real date")
}

/// A sample landlord (the one in `redress.example.toml`) with the sample case's two handlers,
/// for previews made without a configuration.
pub fn config() -> Config {
    let staff = |name: &str, email: &str| Staff {
        name: name.to_owned(),
        email: email.to_owned(),
        role: Some(Role::Handler),
    };
    Config {
        organisation: Organisation {
            name: "Example Homes".to_owned(),
            reference_prefix: "EH".to_owned(),
            homes_owned: 12_800,
            address: ["Example House", "1 High Street", "Derby", "DE1 1AA"]
                .map(str::to_owned)
                .to_vec(),
            phone: Some("01332 000000".to_owned()),
            email: Some("complaints@example.org".to_owned()),
            website: Some("https://www.example.org".to_owned()),
        },
        staff: vec![
            staff("Priya Shah", "priya.shah@example.org"),
            staff("David Mensah", "david.mensah@example.org"),
        ],
        ..Config::default()
    }
}

/// The sample case, with `flags` (e.g. `building_safety`, `lgsco_matter`) added.
pub fn case(flags: &[Flag]) -> Case {
    let calendar = Calendar::england_and_wales();
    let policy = PolicyProfile::code_2024();
    let rules = Rules {
        calendar: &calendar,
        policy: &policy,
    };
    let opened = Opened {
        kind: CaseKind::Complaint,
        received: d(2026, 11, 2),
        channel: Channel::Email,
        complainant: Contact {
            name: Some("Mrs Amina Okafor".to_owned()),
            email: Some("amina.okafor@example.net".to_owned()),
            phone: Some("07700 900123".to_owned()),
            address: Some("Flat 12, Skylark Tower, Derby DE1 2AB".to_owned()),
            social: None,
        },
        representative: None,
        group_members: Vec::new(),
        summary: "Black mould in the back bedroom, reported three times since August".to_owned(),
        flags: flags.to_vec(),
        message: None,
        handler: None,
        linked_to: None,
    };
    let definition = |stage: Stage| {
        ComplaintDefinition {
        understanding: match stage {
            Stage::One => "You reported black mould in your back bedroom in August, September and October, and no one has treated it.".to_owned(),
            Stage::Two => "You remain unhappy because the mould came back after our treatment and the £250 we offered does not reflect the distress caused.".to_owned(),
        },
        outcome_sought: "The mould treated properly, its cause found and fixed, and compensation for the delay.".to_owned(),
        responsible_for: "Repairs to the structure of your home, including the cause of damp and mould.".to_owned(),
        not_responsible_for: "Your contents insurance claim for the damaged bed, which is a matter for your insurer.".to_owned(),
    }
    };
    let decision = |stage: Stage| {
        Decision {
        outcome: match stage {
            Stage::One => Outcome::PartlyUpheld,
            Stage::Two => Outcome::Upheld,
        },
        reasons: "Our records show your three reports and no visit until 2 November. That was too slow under our repairs policy. The surveyor found the cause was a blocked extractor fan, not condensation from drying clothes.".to_owned(),
        remedies: vec![
            Remedy {
                description: "An apology for the delay in treating the mould".to_owned(),
                payment_pence: None,
                how_paid: None,
                paid_on: None,
            },
            Remedy {
                description: "Compensation for the delay and the distress caused".to_owned(),
                payment_pence: Some(match stage {
                    Stage::One => 25_000,
                    Stage::Two => 45_000,
                }),
                how_paid: Some("bank transfer within 10 working days".to_owned()),
                paid_on: None,
            },
        ],
        actions: vec![
            Action {
                description: "Replace the bedroom extractor fan and treat the mould".to_owned(),
                due: d(2026, 12, 11),
                owner: Some("Repairs team".to_owned()),
                done_on: None,
            },
            Action {
                description: "Re-inspect the bedroom for damp".to_owned(),
                due: d(2027, 1, 29),
                owner: Some("Surveyor".to_owned()),
                done_on: None,
            },
        ],
        learning: Vec::new(),
        agrees_with_stage1: false,
    }
    };
    let events = [
        Event::HandlerAssigned {
            handler: "Priya Shah".to_owned(),
        },
        Event::DefinitionRecorded {
            definition: definition(Stage::One),
        },
        Event::Acknowledged { on: d(2026, 11, 4) },
        Event::AdjustmentRecorded {
            adjustment: Adjustment {
                description: "Letters in large print, and a phone call before any visit".to_owned(),
                disclosed_disability: None,
                agreed_on: d(2026, 11, 4),
                review_on: d(2027, 5, 4),
            },
        },
        Event::ExtensionAgreed {
            on: d(2026, 11, 13),
            working_days: 5,
            reason: "We are waiting for an independent damp survey, booked for 20 November."
                .to_owned(),
            good_reason: None,
            update_interval_working_days: 5,
        },
        Event::DecisionRecorded {
            decision: decision(Stage::One),
        },
        Event::Responded {
            on: d(2026, 11, 30),
        },
        Event::EscalationRequested {
            received: d(2026, 12, 2),
            reasons: None,
        },
        Event::HandlerAssigned {
            handler: "David Mensah".to_owned(),
        },
        Event::DefinitionRecorded {
            definition: definition(Stage::Two),
        },
        Event::Acknowledged { on: d(2026, 12, 4) },
        Event::ExtensionAgreed {
            on: d(2026, 12, 18),
            working_days: 10,
            reason: "We need the contractor's report on why the first treatment failed.".to_owned(),
            good_reason: None,
            update_interval_working_days: 5,
        },
        Event::DecisionRecorded {
            decision: decision(Stage::Two),
        },
    ];
    let mut case = open("EH-2026-00042", &opened, rules)
        .expect("the sample case opens")
        .case;
    for event in &events {
        case = apply(&case, event, rules)
            .unwrap_or_else(|e| panic!("the sample case takes {}: {e}", event.name()))
            .case;
    }
    // Letters for other kinds of case show these; no single case would have them all.
    case.refusal = Some(Refusal {
        on: d(2026, 11, 4),
        reasons: "Your concern is about the amount of your housing benefit, which the council decides. We have passed your message to the council's benefits team.".to_owned(),
        by: "Priya Shah".to_owned(),
    });
    case.service_target = Some(d(2026, 11, 30));
    case
}
