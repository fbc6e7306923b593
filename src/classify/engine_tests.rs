use std::path::Path;

use super::*;
use crate::classify::rules::{RuleProblem, parse_file};

const RULES: &str = r#"
[[rule]]
id = "complaint.fed_up"
description = "Fed up"
patterns = ['\bfed\s*up\b', '\bnot good enough\b']
kind = "complaint"
weight = 2.0

[[rule]]
id = "repair.leak"
patterns = ['\bleak(ing|s)?\b']
kind = "service_request"
unless = ['no longer (a )?problem', 'sorted now']

[[rule]]
id = "flag.gas"
patterns = ['smell of gas', 'gas leak']
flag = "urgent_safety"

[[rule]]
id = "complaint.chase"
patterns = ['\bstill waiting\b']
kind = "complaint"
weight = 0.8

[[rule]]
id = "social.dm"
patterns = ['\bdm\b']
kind = "complaint"
channels = ["facebook", "x"]

[[rule]]
id = "mp.constituent"
patterns = ['\bconstituent\b']
kind = "mp_enquiry"
weight = 3.0

[[rule]]
id = "thanks.only_on_replies"
patterns = ['\bthank(s| you)\b']
kind = "correspondence"
contexts = ["open_case", "stage1_responded"]
"#;

fn engine(uncertain: Uncertain) -> Engine {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    parse_file(
        Path::new("rules/test.toml"),
        RULES,
        &mut rules,
        &mut problems,
    );
    assert_eq!(problems, vec![]);
    Engine::new(rules, uncertain)
}

fn input<'a>(subject: &'a str, body: &'a str, context: Context) -> Input<'a> {
    Input {
        subject,
        body,
        channel: Channel::Email,
        context,
    }
}

#[test]
fn dissatisfaction_makes_a_complaint_and_says_which_rule_matched_what() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "Leak",
        "The leak is back and I am FED UP",
        Context::None,
    ));
    assert_eq!(v.kind, MessageKind::Complaint);
    assert!(v.flags.contains(&Flag::Dissatisfaction));
    assert!(
        v.rules.contains(&Fired {
            id: "complaint.fed_up".into(),
            matched: "FED UP".into()
        }),
        "{:?}",
        v.rules
    );
    assert!(
        v.rules
            .iter()
            .any(|f| f.id == "repair.leak" && f.matched == "Leak")
    );
    assert!(
        v.confidence > 0.4 && v.confidence <= 1.0,
        "{}",
        v.confidence
    );
}

#[test]
fn a_plain_repair_report_is_a_service_request() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "",
        "There is a leak under the sink",
        Context::None,
    ));
    assert_eq!(v.kind, MessageKind::ServiceRequest);
    assert_eq!(v.flags, vec![]);
}

#[test]
fn a_negation_near_the_match_stops_the_rule() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "",
        "The leak is no longer a problem",
        Context::OpenCase,
    ));
    assert!(
        !v.rules.iter().any(|f| f.id == "repair.leak"),
        "{:?}",
        v.rules
    );
    assert_eq!(v.kind, MessageKind::Correspondence);
}

#[test]
fn flags_are_added_alongside_the_kind() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "",
        "Strong smell of gas in the hall",
        Context::None,
    ));
    assert!(v.flags.contains(&Flag::UrgentSafety));
}

#[test]
fn code_6_12_unhappy_after_the_stage1_response_is_a_stage2_request() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "Re: your response",
        "Not good enough.",
        Context::Stage1Responded,
    ));
    assert_eq!(v.kind, MessageKind::Stage2Request);
}

#[test]
fn after_the_stage1_response_thanks_then_a_new_grievance_is_a_new_complaint() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "Re: your response",
        "Thank you, the door is done. Separately, I am fed up with the caretaker.",
        Context::Stage1Responded,
    ));
    assert_eq!(v.kind, MessageKind::Complaint);
}

#[test]
fn a_new_grievance_after_the_stage1_response_stays_new_with_the_learned_component_on() {
    // The model gives every kind, stage 2 included, a share of the score: the new-matter
    // test must read the rules' evidence, or no reply would ever be a new complaint.
    let mut nb = crate::classify::learned::NaiveBayes::default();
    nb.train(
        MessageKind::Stage2Request,
        "ctxstage1 still unhappy escalate",
    );
    nb.train(MessageKind::Complaint, "ctxnone fed up caretaker");
    let with_model = engine(Uncertain::ComplaintForReview).with_model(nb, 0.25);
    let v = with_model.classify(&input(
        "Re: your response",
        "Thank you, the door is done. Separately, I am fed up with the caretaker.",
        Context::Stage1Responded,
    ));
    assert!(v.learned.is_some());
    assert_eq!(v.kind, MessageKind::Complaint);
}

#[test]
fn an_mp_enquiry_with_anger_in_it_keeps_its_own_route() {
    // The close-call override is for kinds that would otherwise go unanswered as a
    // complaint (service request, comment...); an MP's enquiry has its own route (2024 §8.4).
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "",
        "My constituent is fed up",
        Context::None,
    ));
    assert_eq!(v.kind, MessageKind::MpEnquiry);
    assert!(!v.flags.contains(&Flag::NeedsReview));
}

#[test]
fn unhappy_again_on_an_open_complaint_stays_a_complaint() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "",
        "I am fed up",
        Context::OpenCase,
    ));
    assert_eq!(v.kind, MessageKind::Complaint);
    assert!(v.flags.contains(&Flag::Dissatisfaction));
}

#[test]
fn code_1_5_unhappy_with_a_service_requests_handling_is_a_complaint() {
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "",
        "Not good enough, nobody came",
        Context::ServiceRequest,
    ));
    assert_eq!(v.kind, MessageKind::Complaint);
}

#[test]
fn close_calls_go_the_safe_way_as_configured() {
    // A repair report (1.0 + baseline 0.5) with weaker complaint evidence (0.8, at least half
    // of 1.5).
    let msg = input(
        "",
        "Still waiting for someone to look at the leak",
        Context::None,
    );
    let safe = engine(Uncertain::ComplaintForReview).classify(&msg);
    assert_eq!(safe.kind, MessageKind::Complaint);
    assert!(safe.flags.contains(&Flag::NeedsReview));
    let choice = engine(Uncertain::OfferChoice).classify(&msg);
    assert_eq!(choice.kind, MessageKind::ServiceRequest);
    assert!(choice.flags.contains(&Flag::NeedsReview));
}

#[test]
fn channel_and_context_conditions_limit_where_a_rule_applies() {
    let e = engine(Uncertain::ComplaintForReview);
    let email = e.classify(&input("", "pls dm me", Context::None));
    assert!(!email.rules.iter().any(|f| f.id == "social.dm"));
    let facebook = e.classify(&Input {
        subject: "",
        body: "pls dm me",
        channel: Channel::Facebook,
        context: Context::None,
    });
    assert!(facebook.rules.iter().any(|f| f.id == "social.dm"));
    let new = e.classify(&input("", "Thank you", Context::None));
    assert!(!new.rules.iter().any(|f| f.id == "thanks.only_on_replies"));
}

#[test]
fn quoted_text_from_our_own_letter_does_not_fire_rules() {
    let body = "Thanks, all sorted.\n\nOn Mon, 3 Nov 2026, Example Homes wrote:\n> We are sorry you are fed up.";
    let v = engine(Uncertain::ComplaintForReview).classify(&input(
        "Re: update",
        body,
        Context::OpenCase,
    ));
    assert!(
        !v.rules.iter().any(|f| f.id == "complaint.fed_up"),
        "{:?}",
        v.rules
    );
    assert_eq!(v.kind, MessageKind::Correspondence);
}

#[test]
fn a_broken_rule_file_is_refused_with_every_problem_and_its_line() {
    let text = "[[rule]]\nid = \"ok\"\npatterns = ['fine']\nkind = \"complaint\"\n\n[[rule]]\nid = \"bad\"\npatterns = [\n  'good',\n  'fo(o',\n]\nkind = \"complaint\"\n\n[[rule]]\nid = \"both\"\npatterns = ['x']\nkind = \"complaint\"\nflag = \"abusive\"\n";
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    parse_file(
        Path::new("rules/complaint.toml"),
        text,
        &mut rules,
        &mut problems,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].line, 10);
    assert!(
        problems[0]
            .to_string()
            .starts_with("rules/complaint.toml:10: rule `bad`: regex 'fo(o' does not compile"),
        "{}",
        problems[0]
    );
    assert_eq!(
        problems[1],
        RuleProblem {
            file: "rules/complaint.toml".into(),
            line: 14,
            message: "rule `both` needs exactly one of `kind` or `flag`".into()
        }
    );
}

#[test]
fn a_toml_error_and_an_unknown_key_name_their_line() {
    let mut problems = Vec::new();
    parse_file(
        Path::new("r.toml"),
        "[[rule]]\nid = \"a\"\npaterns = ['x']\nkind = \"complaint\"\n",
        &mut Vec::new(),
        &mut problems,
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 3, "{}", problems[0]);
    assert!(problems[0].message.contains("paterns"), "{}", problems[0]);
    let mut problems = Vec::new();
    parse_file(
        Path::new("r.toml"),
        "[[rule]]\nid = \"a\"\nkind = \"complaint\"\npatterns = ['x'\n",
        &mut Vec::new(),
        &mut problems,
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].line >= 4, "{}", problems[0]);
}

#[test]
fn a_folder_with_a_bad_file_is_refused_whole_so_the_old_rules_stay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), RULES).unwrap();
    let loaded = Engine::load(dir.path(), Uncertain::ComplaintForReview).expect("valid rules load");
    std::fs::write(
        dir.path().join("b.toml"),
        "[[rule]]\nid = \"complaint.fed_up\"\npatterns = ['(']\nkind = \"complaint\"\n",
    )
    .unwrap();
    let err = Engine::load(dir.path(), Uncertain::ComplaintForReview).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("b.toml:3"), "{text}");
    assert!(text.contains("does not compile"), "{text}");
    // The caller keeps `loaded`: the rule set in force is unchanged.
    assert_eq!(loaded.rules().len(), 7);
}

#[test]
fn duplicate_rule_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), RULES).unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "[[rule]]\nid = \"repair.leak\"\npatterns = ['x']\nkind = \"complaint\"\n",
    )
    .unwrap();
    let err = Engine::load(dir.path(), Uncertain::ComplaintForReview).unwrap_err();
    assert!(
        err.to_string()
            .contains("rule id `repair.leak` is also used at"),
        "{err}"
    );
}

#[test]
fn the_learned_component_shifts_scores_by_its_influence_and_says_so() {
    let model = crate::classify::learned::complaints_and_requests(
        &[
            "the lift is broken again nobody cares",
            "lift out of order for weeks",
            "third week without a lift",
        ],
        &[
            "please fix the tap",
            "gutter needs clearing",
            "window latch broken",
        ],
        1,
    );
    let msg = input("", "The lift is out of order again", Context::None);
    let rules_only = engine(Uncertain::OfferChoice).classify(&msg);
    assert_eq!(rules_only.kind, MessageKind::ServiceRequest);
    assert_eq!(rules_only.learned, None);
    let with_model = engine(Uncertain::OfferChoice)
        .with_model(model.clone(), 2.0)
        .classify(&msg);
    assert_eq!(with_model.kind, MessageKind::Complaint);
    let learned = with_model.learned.expect("the model's view is shown");
    assert_eq!(
        (learned.kind, learned.influence),
        (MessageKind::Complaint, 2.0)
    );
    assert!(learned.probability > 0.5);
    let weak = engine(Uncertain::OfferChoice)
        .with_model(model, 0.1)
        .classify(&msg);
    assert_eq!(
        weak.kind,
        MessageKind::ServiceRequest,
        "a small influence cannot outvote the baseline"
    );
}

/// A model that has learned what wasted visits sound like, from messages no rule calls
/// complaints.
fn model_of_wasted_visits() -> crate::classify::learned::NaiveBayes {
    crate::classify::learned::complaints_and_requests(
        &[
            "ctxnew took another day off work and the plumber never turned up third wasted visit",
            "ctxnew another wasted day off work waiting in for the engineer",
            "ctxstageoneresponded the report says it is fixed but it is not another wasted visit",
        ],
        &[
            "ctxnew please fix the gutter over the back door",
            "ctxnew the kitchen tap is dripping could someone look at it",
            "ctxnew my bath panel has come loose please send someone",
        ],
        4,
    )
}

#[test]
fn dissatisfaction_the_rules_miss_but_the_learned_component_is_sure_of_is_a_complaint_for_review() {
    let msg = input(
        "Plumber",
        "Took another day off work for the plumber. Third wasted visit.",
        Context::None,
    );
    let rules_only = engine(Uncertain::ComplaintForReview).classify(&msg);
    assert_eq!(rules_only.kind, MessageKind::ServiceRequest);
    assert!(!rules_only.flags.contains(&Flag::NeedsReview));

    let safe = engine(Uncertain::ComplaintForReview).with_model(model_of_wasted_visits(), 0.25);
    let v = safe.classify(&msg);
    let learned = v.learned.as_ref().expect("the model's view is shown");
    assert!(
        learned.dissatisfied >= LEARNED_DISSATISFACTION,
        "{}",
        learned.dissatisfied
    );
    assert_eq!(v.kind, MessageKind::Complaint);
    assert!(v.flags.contains(&Flag::NeedsReview));
    assert!(v.flags.contains(&Flag::Dissatisfaction));

    // After a stage 1 response the same words ask for stage 2 (6.12).
    let reply = input(
        "Re: stage 1 response",
        "Another wasted visit, the report says it is fixed but it is not.",
        Context::Stage1Responded,
    );
    assert_eq!(safe.classify(&reply).kind, MessageKind::Stage2Request);

    // Offering the choice keeps the service request, marked for review (Code 1.3).
    let offer = engine(Uncertain::OfferChoice)
        .with_model(model_of_wasted_visits(), 0.25)
        .classify(&msg);
    assert_eq!(offer.kind, MessageKind::ServiceRequest);
    assert!(offer.flags.contains(&Flag::NeedsReview));

    // A plain repair request the model does not find dissatisfied is left alone.
    let plain = safe.classify(&input(
        "",
        "Please fix the gutter at the back.",
        Context::None,
    ));
    assert_eq!(plain.kind, MessageKind::ServiceRequest);
    assert!(plain.learned.unwrap().dissatisfied < LEARNED_DISSATISFACTION);
    assert!(!plain.flags.contains(&Flag::NeedsReview));
}

#[test]
fn the_learned_component_cannot_turn_an_mp_enquiry_or_automated_mail_into_a_complaint() {
    // Kinds with their own route keep it, however sure the model is of dissatisfaction.
    let safe = engine(Uncertain::ComplaintForReview).with_model(model_of_wasted_visits(), 0.25);
    let v = safe.classify(&input(
        "",
        "My constituent took another day off work for the plumber, third wasted visit.",
        Context::None,
    ));
    assert!(v.learned.as_ref().unwrap().dissatisfied >= LEARNED_DISSATISFACTION);
    assert_eq!(v.kind, MessageKind::MpEnquiry);
}
