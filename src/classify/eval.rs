//! Scoring the classifier on a labelled corpus (`tests/corpus/`): per-kind precision, recall
//! and F1, complaint recall and precision (the figures that matter most), and the confusion
//! matrix.
//!
//! A corpus file is a header (`kind:`, `flags:`, `channel:`, `context:`, `note:`), a line
//! `---`, then the message: `Subject: …`, a blank line and the body for email; the text alone
//! for social posts.

use std::collections::BTreeMap;

use serde::Serialize;

use super::engine::{Engine, Input};
use super::{Context, MessageKind};
use crate::core::model::{Channel, Flag};

/// One labelled message.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    pub kind: MessageKind,
    pub flags: Vec<Flag>,
    pub channel: Channel,
    pub context: Context,
    pub subject: String,
    pub body: String,
}

impl Labelled {
    /// The message as the engine reads it.
    pub fn input(&self) -> Input<'_> {
        Input {
            subject: &self.subject,
            body: &self.body,
            channel: self.channel,
            context: self.context,
        }
    }
}

/// Reads a corpus file; the error says which header is wrong.
pub fn parse_labelled(text: &str) -> Result<Labelled, String> {
    let (header, message) = text
        .split_once("\n---\n")
        .ok_or("no `---` line after the header")?;
    let mut fields = BTreeMap::new();
    for line in header.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("header line `{line}` is not `key: value`"))?;
        fields.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    let named = |key: &str| -> Result<serde_json::Value, String> {
        fields
            .get(key)
            .map(|v| serde_json::Value::String(v.clone()))
            .ok_or_else(|| format!("no `{key}:` header"))
    };
    let kind: MessageKind = serde_json::from_value(named("kind")?)
        .map_err(|_| format!("unknown kind `{}`", fields["kind"]))?;
    let channel: Channel = serde_json::from_value(named("channel")?)
        .map_err(|_| format!("unknown channel `{}`", fields["channel"]))?;
    let context: Context = match fields.get("context") {
        Some(_) => serde_json::from_value(named("context")?)
            .map_err(|_| format!("unknown context `{}`", fields["context"]))?,
        None => Context::None,
    };
    let flags = fields
        .get("flags")
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    serde_json::from_value(serde_json::Value::String(s.to_owned()))
                        .map_err(|_| format!("unknown flag `{s}`"))
                })
                .collect::<Result<Vec<Flag>, String>>()
        })
        .transpose()?
        .unwrap_or_default();
    let (subject, body) = split_subject(message);
    Ok(Labelled {
        kind,
        flags,
        channel,
        context,
        subject,
        body,
    })
}

/// `Subject: …` and the body after the first blank line, or the whole text as the body.
pub fn split_subject(message: &str) -> (String, String) {
    let message = message.trim_start_matches('\n');
    match message.strip_prefix("Subject:") {
        Some(rest) => {
            let (subject, body) = rest.split_once('\n').unwrap_or((rest, ""));
            (
                subject.trim().to_owned(),
                body.trim_start_matches(['\r', '\n']).to_owned(),
            )
        }
        None => (String::new(), message.to_owned()),
    }
}

/// Precision, recall and F1 of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Score {
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Scores over a corpus.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub messages: usize,
    pub per_kind: BTreeMap<MessageKind, Score>,
    /// Mean F1 over the kinds present in the corpus.
    pub macro_f1: f64,
    /// `confusion[truth][predicted]` = count.
    pub confusion: BTreeMap<MessageKind, BTreeMap<MessageKind, usize>>,
    /// What the learned component did, when the engine has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<LearnedScore>,
}

/// The learned component's record on a corpus: how often it is right on its own, and how
/// many decisions it changed from what the rules alone would have said, for better or worse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LearnedScore {
    pub influence: f32,
    /// Share of messages whose kind the model alone names correctly.
    pub accuracy: f64,
    /// Share the rules alone get right, and the rules with the model.
    pub rules_alone_accuracy: f64,
    pub combined_accuracy: f64,
    /// Decisions it changed: to the right kind, and away from it.
    pub fixed: usize,
    pub broke: usize,
}

impl Report {
    pub fn complaint(&self) -> Score {
        self.per_kind
            .get(&MessageKind::Complaint)
            .copied()
            .unwrap_or_default()
    }
}

/// Classifies every labelled message and scores the answers.
pub fn evaluate(engine: &Engine, corpus: &[Labelled]) -> Report {
    let mut confusion: BTreeMap<MessageKind, BTreeMap<MessageKind, usize>> = BTreeMap::new();
    let rules_alone = engine.without_model();
    let mut learned = engine.influence().map(|influence| LearnedScore {
        influence,
        ..LearnedScore::default()
    });
    let (mut model_right, mut rules_right, mut right) = (0usize, 0usize, 0usize);
    for m in corpus {
        let input = m.input();
        let verdict = engine.classify(&input);
        let predicted = verdict.kind;
        right += usize::from(predicted == m.kind);
        if let Some(score) = &mut learned {
            let alone = rules_alone.classify(&input).kind;
            rules_right += usize::from(alone == m.kind);
            model_right += usize::from(verdict.learned.is_some_and(|l| l.kind == m.kind));
            if alone != predicted {
                score.fixed += usize::from(predicted == m.kind);
                score.broke += usize::from(alone == m.kind);
            }
        }
        *confusion
            .entry(m.kind)
            .or_default()
            .entry(predicted)
            .or_default() += 1;
    }
    let count = |truth: Option<MessageKind>, predicted: Option<MessageKind>| -> usize {
        confusion
            .iter()
            .filter(|(t, _)| truth.is_none_or(|k| **t == k))
            .flat_map(|(_, row)| row.iter())
            .filter(|(p, _)| predicted.is_none_or(|k| **p == k))
            .map(|(_, n)| n)
            .sum()
    };
    let mut per_kind = BTreeMap::new();
    for kind in MessageKind::ALL {
        let support = count(Some(kind), None);
        let predicted = count(None, Some(kind));
        if support == 0 && predicted == 0 {
            continue;
        }
        let right = count(Some(kind), Some(kind)) as f64;
        let precision = if predicted == 0 {
            0.0
        } else {
            right / predicted as f64
        };
        let recall = if support == 0 {
            0.0
        } else {
            right / support as f64
        };
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        per_kind.insert(
            kind,
            Score {
                support,
                precision,
                recall,
                f1,
            },
        );
    }
    let present: Vec<&Score> = per_kind.values().filter(|s| s.support > 0).collect();
    let macro_f1 = if present.is_empty() {
        0.0
    } else {
        present.iter().map(|s| s.f1).sum::<f64>() / present.len() as f64
    };
    let share = |n: usize| n as f64 / corpus.len().max(1) as f64;
    if let Some(score) = &mut learned {
        score.accuracy = share(model_right);
        score.rules_alone_accuracy = share(rules_right);
        score.combined_accuracy = share(right);
    }
    Report {
        messages: corpus.len(),
        per_kind,
        macro_f1,
        confusion,
        learned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corpus_file_is_read_with_its_labels() {
        let text = "kind: complaint\nflags: dissatisfaction, vulnerability\nchannel: email\ncontext: none\nnote: why\n---\nSubject: Still no heating\n\nThird time I have reported it.\n";
        let m = parse_labelled(text).unwrap();
        assert_eq!(m.kind, MessageKind::Complaint);
        assert_eq!(m.flags, vec![Flag::Dissatisfaction, Flag::Vulnerability]);
        assert_eq!(m.channel, Channel::Email);
        assert_eq!(m.subject, "Still no heating");
        assert_eq!(m.body, "Third time I have reported it.\n");
        let social =
            parse_labelled("kind: complaint\nflags:\nchannel: facebook\n---\nur useless\n")
                .unwrap();
        assert_eq!(
            (
                social.subject.as_str(),
                social.body.as_str(),
                social.context
            ),
            ("", "ur useless\n", Context::None)
        );
        assert!(
            parse_labelled("kind: complain\nchannel: email\n---\nx")
                .unwrap_err()
                .contains("complain")
        );
        assert!(parse_labelled("no header").is_err());
    }

    #[test]
    fn scores_follow_the_confusion_matrix() {
        use crate::classify::rules::parse_file;
        let mut rules = Vec::new();
        parse_file(
            std::path::Path::new("t.toml"),
            "[[rule]]\nid = \"c\"\npatterns = ['unhappy']\nkind = \"complaint\"\n",
            &mut rules,
            &mut Vec::new(),
        );
        let engine = Engine::new(rules, super::super::engine::Uncertain::ComplaintForReview);
        let m = |kind, body: &str| Labelled {
            kind,
            flags: vec![],
            channel: Channel::Email,
            context: Context::None,
            subject: String::new(),
            body: body.into(),
        };
        let corpus = vec![
            m(MessageKind::Complaint, "I am unhappy"),
            m(MessageKind::Complaint, "this is bad"),
            m(MessageKind::ServiceRequest, "fix my tap"),
            m(MessageKind::ServiceRequest, "unhappy tap"),
        ];
        let r = evaluate(&engine, &corpus);
        let c = r.complaint();
        assert_eq!((c.support, c.precision, c.recall), (2, 0.5, 0.5));
        let s = r.per_kind[&MessageKind::ServiceRequest];
        assert_eq!((s.precision, s.recall), (0.5, 0.5));
        assert_eq!(
            r.confusion[&MessageKind::Complaint][&MessageKind::ServiceRequest],
            1
        );
        assert!((r.macro_f1 - 0.5).abs() < 1e-9);
    }
}
