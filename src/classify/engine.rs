//! The rules engine: rules fire on the normalised text, their weights add up per kind, the
//! message's context decides what dissatisfaction means, and close calls go the safe way.
//!
//! Missing a complaint is the costliest mistake (most Ombudsman complaint-handling orders are
//! for not accepting or progressing one), so when the evidence for a complaint is close to
//! the winning kind's, the message is treated as a complaint marked for staff review
//! (`Uncertain::ComplaintForReview`), or kept as it is with the review flag and the service
//! request letter's offer of the choice to complain (`Uncertain::OfferChoice`, Code 1.3).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::learned::NaiveBayes;
use super::normalise::normalise;
use super::rules::{Rule, RulesError, Target, load_dir};
use super::{Context, MessageKind};
use crate::core::model::{Channel, Flag};

/// The message to classify.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub subject: &'a str,
    pub body: &'a str,
    pub channel: Channel,
    pub context: Context,
}

/// A rule that fired, and the text it matched.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fired {
    pub id: String,
    pub matched: String,
}

/// What the learned component added to a decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Learned {
    /// The kind it found most likely, and how likely.
    pub kind: MessageKind,
    pub probability: f64,
    /// The weight its probabilities were given next to the rules.
    pub influence: f32,
}

/// The engine's answer, with its reasons.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub kind: MessageKind,
    /// 0–1: how far the winning kind's evidence stands above the rest.
    pub confidence: f32,
    pub flags: Vec<Flag>,
    pub rules: Vec<Fired>,
    /// The learned component's view, when one is in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<Learned>,
}

/// What to do when a complaint is likely but not the clear winner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Uncertain {
    /// Open it as a complaint, marked for staff review.
    #[default]
    ComplaintForReview,
    /// Keep the winning kind, marked for review; the service request letter offers the
    /// choice to complain (Code 1.3).
    OfferChoice,
}

/// Weight of the kind a message defaults to when no rule says otherwise.
const BASELINE: f32 = 0.5;
/// How much the learned component's probabilities weigh next to the rules by default: a
/// certain model adds as much as one strong rule (weights are typically 1–2), so it tips close
/// calls and catches wording no rule knows, but cannot outvote several rules that agree.
pub const DEFAULT_INFLUENCE: f32 = 1.0;
/// Complaint evidence at least this share of the winner's counts as "close".
const CLOSE: f32 = 0.5;

/// A loaded rule set.
#[derive(Clone, Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    uncertain: Uncertain,
    /// The learned component and its influence, if one is in use. Shared: reloading the
    /// rules keeps the model, and retraining it keeps the rules.
    model: Option<(Arc<NaiveBayes>, f32)>,
}

impl Engine {
    pub fn new(rules: Vec<Rule>, uncertain: Uncertain) -> Engine {
        Engine {
            rules,
            uncertain,
            model: None,
        }
    }

    /// Adds the learned component: its probability for each kind, times `influence`, is
    /// added to that kind's rule score (a rule's weight is typically 1–2).
    pub fn with_model(mut self, model: impl Into<Arc<NaiveBayes>>, influence: f32) -> Engine {
        self.model = Some((model.into(), influence));
        self
    }

    /// The shipped rules with the shipped learned component, at its default influence: what
    /// redress uses when the landlord has no rules folder of their own.
    pub fn shipped(uncertain: Uncertain) -> Result<Engine, RulesError> {
        Ok(Engine::new(super::rules::load_default()?, uncertain)
            .with_model(super::learned::shipped().clone(), DEFAULT_INFLUENCE))
    }

    /// The same rules without the learned component, to show what it changes.
    pub fn without_model(&self) -> Engine {
        Engine {
            model: None,
            ..self.clone()
        }
    }

    /// The learned component's influence, if one is in use.
    pub fn influence(&self) -> Option<f32> {
        self.model.as_ref().map(|(_, i)| *i)
    }

    /// The learned component in use, if any.
    pub fn model(&self) -> Option<&NaiveBayes> {
        self.model.as_ref().map(|(m, _)| m.as_ref())
    }

    /// Loads and checks every rule file in `dir`.
    pub fn load(dir: &Path, uncertain: Uncertain) -> Result<Engine, RulesError> {
        Ok(Engine::new(load_dir(dir)?, uncertain))
    }

    /// The rules, for listing and coverage checks.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Classifies one message.
    pub fn classify(&self, input: &Input<'_>) -> Verdict {
        let text = normalise(input.subject, input.body);
        let mut scores: BTreeMap<MessageKind, f32> = BTreeMap::new();
        let mut flags = Vec::new();
        let mut fired = Vec::new();
        for rule in &self.rules {
            if !applies(rule, input) {
                continue;
            }
            let Some(matched) = first_match(rule, &text) else {
                continue;
            };
            match rule.target {
                Target::Kind(kind) => *scores.entry(kind).or_default() += rule.weight,
                Target::Flag(flag) => push_flag(&mut flags, flag),
            }
            fired.push(Fired {
                id: rule.id.clone(),
                matched,
            });
        }
        let default = if input.context == Context::None {
            MessageKind::ServiceRequest
        } else {
            MessageKind::Correspondence
        };
        *scores.entry(default).or_default() += BASELINE;
        let mut learned = None;
        if let Some((model, influence)) = &self.model {
            let posterior = model.posterior(&super::learned::learning_text(input.context, &text));
            for (kind, p) in &posterior {
                *scores.entry(*kind).or_default() += influence * *p as f32;
            }
            learned = posterior
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(kind, probability)| Learned {
                    kind,
                    probability,
                    influence: *influence,
                });
        }
        let (kind, confidence) = self.decide(&scores, input.context, &mut flags);
        if matches!(kind, MessageKind::Complaint | MessageKind::Stage2Request) {
            push_flag(&mut flags, Flag::Dissatisfaction);
        }
        flags.sort();
        Verdict {
            kind,
            confidence,
            flags,
            rules: fired,
            learned,
        }
    }

    fn decide(
        &self,
        scores: &BTreeMap<MessageKind, f32>,
        context: Context,
        flags: &mut Vec<Flag>,
    ) -> (MessageKind, f32) {
        let mut ranked: Vec<(MessageKind, f32)> = scores.iter().map(|(k, v)| (*k, *v)).collect();
        // Highest score first; on a tie the kind listed first wins, complaint before all.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (mut kind, top) = ranked[0];
        let second = ranked.get(1).map_or(0.0, |r| r.1);
        let complaint = scores.get(&MessageKind::Complaint).copied().unwrap_or(0.0)
            + scores
                .get(&MessageKind::Stage2Request)
                .copied()
                .unwrap_or(0.0);
        let close = kind != MessageKind::Automated && complaint > 0.0 && complaint >= CLOSE * top;
        if close && !matches!(kind, MessageKind::Complaint | MessageKind::Stage2Request) {
            push_flag(flags, Flag::NeedsReview);
            if self.uncertain == Uncertain::ComplaintForReview {
                kind = MessageKind::Complaint;
            }
        }
        let kind = in_context(kind, context, flags);
        let confidence = (top / (top + second + BASELINE)).clamp(0.0, 1.0);
        (kind, confidence)
    }
}

/// What a kind means given what the message replies to.
fn in_context(kind: MessageKind, context: Context, flags: &mut Vec<Flag>) -> MessageKind {
    use MessageKind::{Complaint, Correspondence, Stage2Request};
    match (kind, context) {
        // Still unhappy after the stage 1 response: a stage 2 request, no reasons needed (6.12).
        (Complaint | Stage2Request, Context::Stage1Responded) => Stage2Request,
        // Unhappy again on a complaint already open: it joins that case.
        (Complaint | Stage2Request, Context::OpenCase) => {
            push_flag(flags, Flag::Dissatisfaction);
            Correspondence
        }
        // Unhappy with a service request's handling is a complaint (1.5); without a stage 1
        // response there is nothing to escalate, so "escalate" is a complaint too.
        (Stage2Request, _) => Complaint,
        (other, _) => other,
    }
}

fn applies(rule: &Rule, input: &Input<'_>) -> bool {
    (rule.channels.is_empty() || rule.channels.contains(&input.channel))
        && (rule.contexts.is_empty() || rule.contexts.contains(&input.context))
}

/// The first match of any of the rule's patterns, unless one of its `unless` patterns appears
/// within the window around it ("the leak is no longer a problem").
fn first_match(rule: &Rule, text: &str) -> Option<String> {
    let m = rule
        .patterns
        .iter()
        .filter_map(|p| p.find(text))
        .min_by_key(|m| m.start())?;
    if !rule.unless.is_empty() {
        let start = floor_boundary(text, m.start().saturating_sub(rule.unless_window));
        let end = ceil_boundary(text, (m.end() + rule.unless_window).min(text.len()));
        if rule.unless.iter().any(|u| u.is_match(&text[start..end])) {
            return None;
        }
    }
    Some(m.as_str().chars().take(80).collect())
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn push_flag(flags: &mut Vec<Flag>, flag: Flag) {
    if !flags.contains(&flag) {
        flags.push(flag);
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
