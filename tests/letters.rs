//! Letters: every letter the Code asks for renders from the case with what SPEC §3 requires
//! of it, and a template that loses a required element is caught before a resident sees it.

use std::path::{Path, PathBuf};
use std::process::Command;

use redress::core::code::Stage;
use redress::core::model::Flag;
use redress::core::workflow::LetterKind;
use redress::letters::compliance::{Element, Missing};
use redress::letters::templates::{KINDS, Rendered, Templates, render_checked};
use redress::letters::{context, sample};

const BIN: &str = env!("CARGO_BIN_EXE_redress");

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// A copy of the shipped templates a test may edit, as a landlord would.
fn editable() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(shipped()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 21).unwrap()
}

fn render(dir: &Path, letter: LetterKind, flags: &[Flag]) -> (Rendered, Vec<Missing>) {
    let templates = Templates::load(dir).unwrap();
    let case = sample::case(flags);
    let ctx = context::build(&case, letter, &sample::config(), today());
    render_checked(&templates, letter, &ctx).unwrap()
}

#[test]
fn every_letter_renders_from_the_sample_case_with_every_element_the_code_requires() {
    for (name, letter) in KINDS {
        let (rendered, missing) = render(&shipped(), letter, &[]);
        assert!(missing.is_empty(), "{name}: {missing:?}");
        assert!(
            rendered.subject.starts_with("[EH-2026-00042] "),
            "{name}: {}",
            rendered.subject
        );
        assert!(
            rendered.text.starts_with("Dear Mrs Amina Okafor,"),
            "{name}"
        );
        assert!(rendered.text.contains("Example Homes"), "{name}");
        // Laid out as a letter: paragraphs apart, the sign-off on its own.
        assert!(
            rendered.text.contains("\n\nYours sincerely,\n\n"),
            "{name}:\n{}",
            rendered.text
        );
        assert!(
            !rendered.text.contains("\n\n\n"),
            "{name}:\n{}",
            rendered.text
        );
        assert!(rendered.html.contains("<h1>"), "{name}");
    }
    // The elements are really there, not merely recognised: spot-check the stage 1 response.
    let (stage1, _) = render(&shipped(), LetterKind::Response { stage: Stage::One }, &[]);
    for needle in [
        "stage 1 response",
        "partly upheld",
        "£250.00, paid by bank transfer",
        "Replace the bedroom extractor fan and treat the mould: by Friday 11 December 2026",
        "ask us to look at your complaint again at stage 2",
        "Housing Ombudsman Service",
        "0300 111 3000",
    ] {
        assert!(stage1.text.contains(needle), "{needle}\n{}", stage1.text);
    }
}

/// For each letter and each element it must contain: the template text that carries the
/// element, in both the plain-text and the HTML templates.
fn carriers(letter: LetterKind, element: Element) -> Vec<&'static str> {
    use Element::*;
    match element {
        CaseReference => vec!["{{ reference }}"],
        ComplaintDefinition => vec!["{{ definition.understanding }}"],
        Responsibility => vec!["{{ definition.not_responsible_for }}"],
        ResponseDueDate => vec!["{{ due }}"],
        HandlerContact => vec!["{{ handler.email }}", "{{ organisation.phone }}"],
        SupportQuestion => {
            vec!["support or reasonable adjustments to take part in the complaints process"]
        }
        OmbudsmanDetails => vec![
            "{% include \"_ombudsman.txt\" %}",
            "{% include \"_ombudsman.html\" %}",
        ],
        // The stage 1 subject (the HTML letter's heading) names the stage too.
        Stage => vec!["{{ stage_name }}", "Our stage 1 response"],
        Decision => vec!["{{ decision.outcome }}"],
        Reasons => vec!["{{ decision.reasons }}"],
        Remedy => vec!["{{ r.amount }}"],
        OutstandingActions => vec!["{{ a.description }}"],
        Stage2Route => vec![
            "If you are not happy with this response, you can ask us to look at your complaint again at stage 2. Reply to this letter or contact us and say you remain unhappy; you do not have to give reasons.",
        ],
        OmbudsmanRoute => vec![
            "If you remain dissatisfied, you can ask the {{ ombudsman.route.name }} to investigate your complaint.",
        ],
        FinalResponse => vec!["This is our final response: ", "Our final response"],
        ExtensionReason => vec!["{{ extension.reason }}"],
        NewResponseDate => vec!["{{ extension.new_due }}"],
        UpdateInterval => vec!["{{ extension.update_interval }}"],
        RefusalReasons => vec!["{{ refusal.reasons }}"],
        RightToOmbudsman => vec!["you have the right to ask the {{ ombudsman.route.name }}"],
        AsksProblemAndOutcome => vec!["what the problem is, and what you would like"],
        AsksSupportNeeds => vec!["whether you need any help or reasonable adjustments"],
        AsksContactDetails => vec!["your name, address, email address and phone number"],
        AsksBestContact => vec!["the best way and time to contact you"],
        WhatHappensNext => vec!["What happens next: "],
        ChoiceToComplain => vec!["you can make a complaint at any time"],
        AsksIfOfficialComplaint => {
            vec!["Would you like us to treat this as an official complaint as well?"]
        }
        ActionProgress => match letter {
            LetterKind::ActionUpdate => vec!["{{ a.status }}"],
            _ => unreachable!(),
        },
    }
}

#[test]
fn removing_each_required_element_from_a_template_makes_the_check_fail_naming_it() {
    let mut checked = 0;
    for (name, letter) in KINDS {
        for element in redress::letters::compliance::required(letter) {
            let dir = editable();
            let mut removed = 0;
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                let path = entry.unwrap().path();
                let source = std::fs::read_to_string(&path).unwrap();
                let mut edited = source.clone();
                for carrier in carriers(letter, element) {
                    removed += edited.matches(carrier).count();
                    edited = edited.replace(carrier, "");
                }
                if edited != source {
                    std::fs::write(&path, edited).unwrap();
                }
            }
            assert!(removed > 0, "{name}: nothing carries {element:?}");
            let (_, missing) = render(dir.path(), letter, &[]);
            for part in ["text", "html"] {
                assert!(
                    missing
                        .iter()
                        .any(|m| m.element == element && (m.part == part || m.part == "subject")),
                    "{name} without {element:?}: the {part} check did not name it: {missing:?}"
                );
            }
            let message = missing
                .iter()
                .find(|m| m.element == element)
                .unwrap()
                .to_string();
            assert!(
                message.contains(element.name()) && message.contains(element.provision()),
                "{message}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked} element checks");
}

#[test]
fn a_stage_2_response_for_a_building_safety_lgsco_case_routes_to_the_lgsco_and_names_the_regulator()
{
    let (rendered, missing) = render(
        &shipped(),
        LetterKind::Response { stage: Stage::Two },
        &[Flag::BuildingSafety, Flag::LgscoMatter],
    );
    assert!(missing.is_empty(), "{missing:?}");
    for part in [&rendered.text, &rendered.html] {
        assert!(part.contains("ask the Local Government and Social Care Ombudsman to investigate"));
        assert!(part.contains("0300 061 0614"));
        assert!(part.contains("Building Safety Regulator"));
        assert!(!part.contains("Housing Ombudsman"), "{part}");
    }
    // Without the flags the Housing Ombudsman is the route.
    let (plain, _) = render(&shipped(), LetterKind::Response { stage: Stage::Two }, &[]);
    assert!(
        plain
            .text
            .contains("ask the Housing Ombudsman Service to investigate")
    );
    assert!(!plain.text.contains("Building Safety Regulator"));
}

/// What an HTML5 parser objects to in `html` (nothing, for a well-formed document).
fn html_errors(html: &str) -> Vec<String> {
    use html5ever::tendril::TendrilSink;
    let opts = html5ever::ParseOpts {
        tree_builder: html5ever::tree_builder::TreeBuilderOpts {
            exact_errors: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let dom = html5ever::parse_document(markup5ever_rcdom::RcDom::default(), opts)
        .from_utf8()
        .read_from(&mut html.as_bytes())
        .unwrap();
    dom.errors
        .into_inner()
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn html_letters_are_well_formed_documents_with_real_headings_and_no_tables() {
    for (name, letter) in KINDS {
        let (rendered, _) = render(&shipped(), letter, &[Flag::BuildingSafety]);
        let errors = html_errors(&rendered.html);
        assert!(errors.is_empty(), "{name}: {errors:?}\n{}", rendered.html);
        assert!(rendered.html.starts_with("<!DOCTYPE html>"), "{name}");
        assert!(rendered.html.contains("<html lang=\"en-GB\">"), "{name}");
        assert!(rendered.html.contains("name=\"viewport\""), "{name}");
        assert!(
            !rendered.html.contains("<table"),
            "{name}: no layout tables"
        );
        assert!(rendered.html.contains("<h1>"), "{name}");
    }
}

#[test]
fn a_large_print_adjustment_enlarges_the_html_letter_and_a_representative_receives_it() {
    use redress::core::model::{Contact, Representative};
    let templates = Templates::load(&shipped()).unwrap();
    let letter = LetterKind::Acknowledgement { stage: Stage::One };
    let mut case = sample::case(&[]);
    let ctx = context::build(&case, letter, &sample::config(), today());
    let large = templates.render(letter, &ctx).unwrap();
    assert!(
        large.html.contains("font-size: 1.5rem"),
        "the sample asked for large print"
    );
    case.adjustments.clear();
    case.representative = Some(Representative {
        contact: Contact {
            name: Some("Mr Ken Okafor".into()),
            email: Some("ken@example.net".into()),
            ..Contact::default()
        },
        relationship: "her son".into(),
        consent_recorded: true,
    });
    let ctx = context::build(&case, letter, &sample::config(), today());
    let normal = templates.render(letter, &ctx).unwrap();
    assert!(normal.html.contains("font-size: 1rem"));
    assert!(normal.text.starts_with("Dear Mr Ken Okafor,"));
    assert!(
        normal
            .text
            .contains("We are writing to you as her son for Mrs Amina Okafor.")
    );
    // Without recorded consent the letter goes to the resident (Code 4.1–4.2).
    case.representative.as_mut().unwrap().consent_recorded = false;
    let ctx = context::build(&case, letter, &sample::config(), today());
    assert!(
        templates
            .render(letter, &ctx)
            .unwrap()
            .text
            .starts_with("Dear Mrs Amina Okafor,")
    );
}

#[test]
fn a_broken_template_is_refused_with_its_file_and_line() {
    let dir = editable();
    let path = dir.path().join("stage1_ack.txt");
    let source = std::fs::read_to_string(&path).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(source.contains(from), "stage1_ack.txt no longer has {from}");
        std::fs::write(&path, source.replace(from, to)).unwrap();
    };
    edit("{% block body %}", "{% block body %");
    let err = Templates::load(dir.path()).err().expect("a syntax error");
    assert!(err.to_string().contains("stage1_ack.txt:3"), "{err}");

    // A misspelt field is an error, not a blank in a resident's letter.
    edit("{{ reference }}", "{{ referense }}");
    let templates = Templates::load(dir.path()).unwrap();
    let letter = LetterKind::Acknowledgement { stage: Stage::One };
    let ctx = context::build(&sample::case(&[]), letter, &sample::config(), today());
    let err = templates.render(letter, &ctx).unwrap_err();
    assert!(err.to_string().contains("undefined"), "{err}");
    assert!(err.to_string().contains("stage1_ack.txt:"), "{err}");

    // A template that is missing altogether is named.
    std::fs::remove_file(dir.path().join("mp_enquiry.html")).unwrap();
    let err = Templates::load(dir.path())
        .err()
        .expect("a missing template");
    assert!(err.to_string().contains("mp_enquiry.html"), "{err}");
}

#[test]
fn letters_check_finds_a_template_that_lost_the_ombudsman_paragraph() {
    let ok = Command::new(BIN)
        .args(["letters", "check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    for entry in std::fs::read_dir(shipped()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), templates.join(entry.file_name())).unwrap();
    }
    let letter = templates.join("_letter.txt");
    let source = std::fs::read_to_string(&letter).unwrap();
    std::fs::write(
        &letter,
        source.replace("{% include \"_ombudsman.txt\" %}", ""),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["letters", "check"])
        .current_dir(dir.path())
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("stage1_response")
            && stderr.contains("the text lacks the ombudsman's contact details (Code 3.7)"),
        "{stderr}"
    );

    // check-config renders them too, with the configuration's own landlord.
    let config = dir.path().join("redress.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("redress.example.toml"),
        &config,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&config)
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("letters.templates: stage2_ack: the text lacks the ombudsman's contact details (Code 3.7)"),
        "{stderr}"
    );

    let preview = Command::new(BIN)
        .args([
            "letters",
            "preview",
            "stage2_response",
            "--sample",
            "--flags",
            "building_safety,lgsco_matter",
            "--format",
            "html",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap();
    assert!(preview.status.success());
    let html = String::from_utf8(preview.stdout).unwrap();
    assert!(
        html.contains("<h2>The Local Government and Social Care Ombudsman</h2>"),
        "{html}"
    );
}

#[test]
fn the_staff_alert_and_digest_render_as_well_formed_html_and_losing_the_due_date_is_caught() {
    use redress::letters::internal::{sample_alert, sample_digest};
    let templates = Templates::load(&shipped()).unwrap();
    let config = sample::config();
    let alert = templates
        .render_named("alert", &sample_alert(&config))
        .unwrap();
    assert_eq!(
        alert.subject,
        "[EH-2026-00042] Stage 1 response at risk: due in 2 working days"
    );
    assert!(
        alert.text.contains("due on Wednesday 25 November 2026"),
        "{}",
        alert.text
    );
    let digest = templates
        .render_named("digest", &sample_digest(&config))
        .unwrap();
    assert!(
        digest
            .text
            .contains("Breached (1):\n- EH-2026-00031: acknowledgement"),
        "{}",
        digest.text
    );
    for html in [&alert.html, &digest.html] {
        let errors = html_errors(html);
        assert!(errors.is_empty(), "{errors:?}");
    }

    let dir = editable();
    let path = dir.path().join("alert.txt");
    let source = std::fs::read_to_string(&path).unwrap();
    assert!(source.contains("{{ due }}"));
    std::fs::write(&path, source.replace("{{ due }}", "")).unwrap();
    let templates = Templates::load(dir.path()).unwrap();
    let problems =
        redress::letters::templates::check_samples(&templates, &config, today()).unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("alert: the text lacks the due date")),
        "{problems:?}"
    );
}
