//! The learned component: a multinomial naive Bayes model over words and word pairs, trained
//! on the labelled corpus plus staff corrections (a `reclassified` event says what a message
//! really was). It does not decide on its own: its probabilities are added to the rules'
//! scores, scaled by an `influence` the landlord sets, so staff can see exactly how much it
//! moved a decision. Small, fast, explainable, and retrained in milliseconds.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{Context, MessageKind};

/// Word and word-pair counts per kind.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NaiveBayes {
    /// Training messages per kind.
    docs: BTreeMap<MessageKind, u32>,
    /// Token counts per kind.
    counts: BTreeMap<MessageKind, HashMap<String, u32>>,
    /// Total tokens per kind.
    totals: BTreeMap<MessageKind, u64>,
    /// Distinct tokens seen, for smoothing.
    vocabulary: std::collections::HashSet<String>,
    /// What [`NaiveBayes::posterior`] adds up, worked out from the counts on first use after
    /// training; not part of the model.
    #[serde(skip)]
    terms: std::sync::OnceLock<Terms>,
}

impl PartialEq for NaiveBayes {
    fn eq(&self, other: &Self) -> bool {
        self.docs == other.docs
            && self.counts == other.counts
            && self.totals == other.totals
            && self.vocabulary == other.vocabulary
    }
}

/// The terms of [`NaiveBayes::read`]'s sums, computed once per trained model with the very
/// expressions it would otherwise evaluate for every token of every message, so the sums (and
/// the probabilities) come out bit for bit the same.
///
/// Each row holds one term per kind, then two for the pooled question "dissatisfied or not"
/// (see [`Reading::dissatisfied`]), so one lookup per token serves both.
#[derive(Clone)]
struct Terms {
    /// The kinds, in the model's order.
    kinds: Vec<MessageKind>,
    /// Each kind's log prior, then the pooled classes' (dissatisfied, the rest).
    priors: Vec<f64>,
    /// The same, for a token no kind saw.
    unseen: Vec<f64>,
    /// The same, for every token some kind saw: the row number in `rows`. Looked up once per
    /// word and word pair of every message, so a fast non-cryptographic hash (the keys are
    /// the model's own vocabulary, not attacker-chosen), and the rows side by side in one
    /// table rather than one allocation each, which saves a memory access per token.
    seen: rustc_hash::FxHashMap<Box<str>, u32>,
    /// The rows of `seen`, each `unseen.len()` long, end to end.
    rows: Vec<f64>,
}

impl std::fmt::Debug for Terms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terms")
            .field("kinds", &self.kinds)
            .field("tokens", &self.seen.len())
            .finish_non_exhaustive()
    }
}

/// The kinds that voice dissatisfaction with the landlord: a complaint, or a request to take
/// one to stage 2.
pub fn voices_dissatisfaction(kind: MessageKind) -> bool {
    matches!(kind, MessageKind::Complaint | MessageKind::Stage2Request)
}

/// One class of a naive Bayes model as its sums need it: messages, tokens in all, and how
/// often it saw a token.
struct Class<'a> {
    docs: f64,
    total: f64,
    counts: Vec<&'a HashMap<String, u32>>,
}

impl Class<'_> {
    fn count(&self, token: &str) -> f64 {
        self.counts
            .iter()
            .map(|c| c.get(token).copied().unwrap_or(0) as f64)
            .sum()
    }
}

impl Terms {
    fn new(model: &NaiveBayes) -> Terms {
        let total_docs = f64::from(model.examples());
        let v = model.vocabulary.len().max(1) as f64;
        let class = |which: &dyn Fn(MessageKind) -> bool| Class {
            docs: model
                .docs
                .iter()
                .filter(|(k, _)| which(**k))
                .map(|(_, d)| f64::from(*d))
                .sum(),
            total: model
                .totals
                .iter()
                .filter(|(k, _)| which(**k))
                .map(|(_, t)| *t as f64)
                .sum(),
            counts: model
                .counts
                .iter()
                .filter(|(k, _)| which(**k))
                .map(|(_, c)| c)
                .collect(),
        };
        let kinds: Vec<MessageKind> = model.docs.keys().copied().collect();
        let mut classes: Vec<Class<'_>> = kinds.iter().map(|kind| class(&|k| k == *kind)).collect();
        classes.push(class(&|k| voices_dissatisfaction(k)));
        classes.push(class(&|k| !voices_dissatisfaction(k)));
        let priors = classes.iter().map(|c| (c.docs / total_docs).ln()).collect();
        // As for a count of 0: (0 + 1) / (total + v).
        let unseen = classes.iter().map(|c| (1.0 / (c.total + v)).ln()).collect();
        let mut seen: rustc_hash::FxHashMap<Box<str>, u32> = Default::default();
        let mut rows = Vec::new();
        for token in model.counts.values().flat_map(HashMap::keys) {
            if seen.contains_key(token.as_str()) {
                continue;
            }
            seen.insert(token.as_str().into(), seen.len() as u32);
            rows.extend(
                classes
                    .iter()
                    .map(|c| ((c.count(token) + 1.0) / (c.total + v)).ln()),
            );
        }
        Terms {
            kinds,
            priors,
            unseen,
            seen,
            rows,
        }
    }
}

/// What the model reads in a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The probability of each kind it knows (they sum to 1).
    pub kinds: BTreeMap<MessageKind, f64>,
    /// The probability that the message voices dissatisfaction at all, asked as one question:
    /// complaints and stage 2 requests pooled against everything else. Pooling weighs the
    /// words of dissatisfaction against all other kinds at once rather than against the
    /// nearest one, and on batches of unseen messages it found complaints the rules missed
    /// at almost no cost in precision, where adding up the two kinds' own probabilities
    /// cost 15 points of it (README, Classification).
    pub dissatisfied: f64,
}

/// Turns log scores into probabilities that sum to 1, in log space to avoid underflow on
/// long messages.
fn probabilities(log: &[f64]) -> Vec<f64> {
    let max = log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = log.iter().map(|s| (s - max).exp()).sum();
    log.iter().map(|s| (s - max).exp() / sum).collect()
}

/// Calls `f` with each token of `text`: every adjacent pair of words, then every word, where a
/// word is a run of letters, digits and inner apostrophes, lower-cased, of two or more
/// characters. One buffer serves them all, so classifying allocates no `String` per token.
fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    // The lower-cased words end to end, and where each is.
    let mut lower = String::with_capacity(text.len());
    let mut words: Vec<(usize, usize)> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        let word = word.trim_matches('\'');
        let start = lower.len();
        if word.is_ascii() {
            lower.push_str(word);
            lower[start..].make_ascii_lowercase();
        } else {
            lower.push_str(&word.to_lowercase());
        }
        if lower[start..].chars().count() >= 2 {
            words.push((start, lower.len()));
        } else {
            lower.truncate(start);
        }
    }
    let mut pair = String::new();
    for w in words.windows(2) {
        pair.clear();
        pair.push_str(&lower[w[0].0..w[0].1]);
        pair.push(' ');
        pair.push_str(&lower[w[1].0..w[1].1]);
        f(&pair);
    }
    for &(start, end) in &words {
        f(&lower[start..end]);
    }
}

/// Lower-case words of two or more letters or digits, and adjacent pairs ("not happy" says
/// more than "not" and "happy" apart): [`for_each_token`]'s tokens, collected.
pub fn tokens(text: &str) -> Vec<String> {
    let mut all = Vec::new();
    for_each_token(text, |token| all.push(token.to_owned()));
    all
}

impl NaiveBayes {
    /// Learns from one labelled message.
    pub fn train(&mut self, kind: MessageKind, text: &str) {
        self.terms = std::sync::OnceLock::new();
        *self.docs.entry(kind).or_default() += 1;
        let counts = self.counts.entry(kind).or_default();
        for token in tokens(text) {
            *self.totals.entry(kind).or_default() += 1;
            if !self.vocabulary.contains(&token) {
                self.vocabulary.insert(token.clone());
            }
            *counts.entry(token).or_default() += 1;
        }
    }

    /// How many messages it learned from.
    pub fn examples(&self) -> u32 {
        self.docs.values().sum()
    }

    /// What the model reads in the text; `None` when untrained.
    pub fn read(&self, text: &str) -> Option<Reading> {
        if self.examples() == 0 {
            return None;
        }
        // Each class's score is its log prior plus, token by token in order, the log of the
        // token's smoothed probability in that class (see `Terms`).
        let terms = self.terms.get_or_init(|| Terms::new(self));
        let mut scores = terms.priors.clone();
        for_each_token(text, |token| {
            let width = terms.unseen.len();
            let add = terms.seen.get(token).map_or(&terms.unseen[..], |&row| {
                let start = row as usize * width;
                &terms.rows[start..start + width]
            });
            for (score, term) in scores.iter_mut().zip(add) {
                *score += term;
            }
        });
        let n = terms.kinds.len();
        let kinds = terms
            .kinds
            .iter()
            .copied()
            .zip(probabilities(&scores[..n]))
            .collect();
        let dissatisfied = probabilities(&scores[n..])[0];
        Some(Reading {
            kinds,
            dissatisfied,
        })
    }

    /// The probability of each kind it knows, given the text (they sum to 1); empty when
    /// untrained.
    pub fn posterior(&self, text: &str) -> BTreeMap<MessageKind, f64> {
        self.read(text).map(|r| r.kinds).unwrap_or_default()
    }

    /// The most likely kind and its probability.
    pub fn best(&self, text: &str) -> Option<(MessageKind, f64)> {
        self.posterior(text)
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// A staff correction: what a message really was, and the context it arrived in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    pub kind: MessageKind,
    pub context: Context,
    pub subject: String,
    pub body: String,
}

/// The text the model reads: the normalised message after a word naming its context.
/// Replies and new messages mean different things ("thanks, see you Tuesday" is correspondence
/// on a case and nothing at all on its own), and the context word lets the model learn that
/// a kind never seen in a context (correspondence on a new message) is unlikely there.
pub fn learning_text(context: Context, normalised: &str) -> String {
    let word = match context {
        Context::None => "ctxnew",
        Context::OpenCase => "ctxopencase",
        Context::Stage1Responded => "ctxstageoneresponded",
        Context::ServiceRequest => "ctxservicerequest",
    };
    format!("{word} {normalised}")
}

/// [`learning_text`] of a whole message: normalised as the engine does before it asks the
/// model, so training and classifying read the same words.
fn message_text(context: Context, subject: &str, body: &str) -> String {
    learning_text(context, &super::normalise::normalise(subject, body))
}

mod training {
    include!(concat!(env!("OUT_DIR"), "/training.rs"));
}

/// The model trained on the labelled corpus the binary ships with (the tuning part only).
/// Built once per process and shared: training takes a few milliseconds, but each copy of the
/// model holds several megabytes.
pub fn shipped() -> std::sync::Arc<NaiveBayes> {
    static SHIPPED: std::sync::OnceLock<std::sync::Arc<NaiveBayes>> = std::sync::OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            let mut model = NaiveBayes::default();
            for (_, text) in training::TRAINING {
                // The corpus is checked by the test suite; a file that does not parse is
                // skipped rather than stopping the daemon.
                if let Ok(m) = super::eval::parse_labelled(text) {
                    model.train(m.kind, &message_text(m.context, &m.subject, &m.body));
                }
            }
            std::sync::Arc::new(model)
        })
        .clone()
}

/// The shipped model plus staff corrections: the shipped model itself, shared, while there
/// are none. A correction counts several times over a corpus message: a landlord's own
/// decision about its own residents' wording should outweigh one generic example.
pub fn with_corrections(corrections: &[Correction]) -> std::sync::Arc<NaiveBayes> {
    if corrections.is_empty() {
        return shipped();
    }
    let mut model = NaiveBayes::clone(&shipped());
    for c in corrections {
        let text = message_text(c.context, &c.subject, &c.body);
        for _ in 0..CORRECTION_WEIGHT {
            model.train(c.kind, &text);
        }
    }
    std::sync::Arc::new(model)
}

/// How many corpus examples one staff correction is worth.
pub const CORRECTION_WEIGHT: u32 = 3;

/// A model trained `times` over on some complaints and some service requests, for tests.
#[cfg(test)]
pub(crate) fn complaints_and_requests(
    complaints: &[&str],
    requests: &[&str],
    times: usize,
) -> NaiveBayes {
    let mut model = NaiveBayes::default();
    for _ in 0..times {
        for text in complaints {
            model.train(MessageKind::Complaint, text);
        }
        for text in requests {
            model.train(MessageKind::ServiceRequest, text);
        }
    }
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> NaiveBayes {
        complaints_and_requests(
            &[
                "I am not happy with the repair",
                "this is unacceptable nobody came",
                "not happy at all, third visit",
            ],
            &[
                "please fix my tap",
                "my boiler needs a repair please",
                "could you fix the gutter",
            ],
            1,
        )
    }

    /// The tokens by their definition, word by word, which the single-buffer
    /// [`for_each_token`] must reproduce.
    fn plain_tokens(text: &str) -> Vec<String> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .map(|w| w.trim_matches('\'').to_lowercase())
            .filter(|w| w.chars().count() >= 2)
            .collect();
        let pairs = words.windows(2).map(|w| format!("{} {}", w[0], w[1]));
        let mut all: Vec<String> = pairs.collect();
        all.extend(words);
        all
    }

    /// The posterior as plain sums over `plain_tokens`, which the precomputed terms must
    /// reproduce.
    fn plain_posterior(nb: &NaiveBayes, text: &str) -> BTreeMap<MessageKind, f64> {
        let total_docs = f64::from(nb.examples());
        let words = plain_tokens(text);
        let v = nb.vocabulary.len().max(1) as f64;
        let mut log: BTreeMap<MessageKind, f64> = BTreeMap::new();
        for (kind, docs) in &nb.docs {
            let counts = &nb.counts[kind];
            let total = nb.totals.get(kind).copied().unwrap_or(0) as f64;
            let mut score = (f64::from(*docs) / total_docs).ln();
            for w in &words {
                let n = counts.get(w).copied().unwrap_or(0) as f64;
                score += ((n + 1.0) / (total + v)).ln();
            }
            log.insert(*kind, score);
        }
        let max = log.values().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = log.values().map(|s| (s - max).exp()).sum();
        log.into_iter()
            .map(|(k, s)| (k, (s - max).exp() / sum))
            .collect()
    }

    #[test]
    fn the_fast_posterior_is_the_plain_one_exactly() {
        let texts = [
            "still not happy, nobody came",
            "",
            "Ünïcödé WÖRDS, İstanbul ΟΔΟΣ ΣΑΣ and can't 'quoted' it's",
            "a b c d e f g -- ' '' x'y",
            "please fix the boiler please fix the boiler 123 456",
        ];
        let mut nb = model();
        for text in texts {
            let mut fast = Vec::new();
            for_each_token(text, |t| fast.push(t.to_owned()));
            assert_eq!(fast, plain_tokens(text), "{text}");
            assert_eq!(nb.posterior(text), plain_posterior(&nb, text), "{text}");
        }
        // Training again drops the precomputed terms.
        nb.train(MessageKind::Complaint, texts[2]);
        for text in texts {
            assert_eq!(nb.posterior(text), plain_posterior(&nb, text), "{text}");
        }
    }

    #[test]
    fn dissatisfaction_is_read_as_a_model_with_complaints_and_stage_2_pooled_would_read_it() {
        let mut nb = model();
        nb.train(
            MessageKind::Stage2Request,
            "still not happy, take it to stage 2",
        );
        nb.train(MessageKind::Compliment, "thank you, the plumber was lovely");
        // The same messages, labelled only "dissatisfied" (complaint) or not (comment).
        let mut pooled = NaiveBayes::default();
        for (kind, counts) in &nb.counts {
            let as_pooled = if voices_dissatisfaction(*kind) {
                MessageKind::Complaint
            } else {
                MessageKind::Comment
            };
            *pooled.docs.entry(as_pooled).or_default() += nb.docs[kind];
            *pooled.totals.entry(as_pooled).or_default() += nb.totals[kind];
            let into = pooled.counts.entry(as_pooled).or_default();
            for (token, n) in counts {
                *into.entry(token.clone()).or_default() += n;
            }
        }
        pooled.vocabulary = nb.vocabulary.clone();
        for text in [
            "still not happy, nobody came",
            "please fix the tap",
            "",
            "lovely",
        ] {
            let reading = nb.read(text).unwrap();
            assert_eq!(reading.kinds, nb.posterior(text), "{text}");
            let p = plain_posterior(&pooled, text)[&MessageKind::Complaint];
            assert!(
                (reading.dissatisfied - p).abs() < 1e-12,
                "{text}: {} vs {p}",
                reading.dissatisfied
            );
        }
        assert!(
            nb.read("still not happy, nobody came")
                .unwrap()
                .dissatisfied
                > 0.9
        );
        assert!(nb.read("please fix the tap").unwrap().dissatisfied < 0.1);
    }

    #[test]
    fn tokens_are_words_and_pairs() {
        assert_eq!(
            tokens("Not happy, at ALL!"),
            vec![
                "not happy",
                "happy at",
                "at all",
                "not",
                "happy",
                "at",
                "all"
            ]
        );
        assert_eq!(tokens("I can't"), vec!["can't"]);
    }

    #[test]
    fn the_model_learns_which_words_go_with_which_kind() {
        let nb = model();
        assert_eq!(nb.examples(), 6);
        let (kind, p) = nb.best("still not happy, nobody came").unwrap();
        assert_eq!(kind, MessageKind::Complaint);
        assert!(p > 0.8, "{p}");
        assert_eq!(
            nb.best("please fix the boiler").unwrap().0,
            MessageKind::ServiceRequest
        );
        let sum: f64 = nb.posterior("anything at all").values().sum();
        assert!((sum - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_staff_correction_moves_the_model() {
        let mut nb = model();
        let text = "the tap is dripping again";
        let before = nb.posterior(text)[&MessageKind::Complaint];
        for _ in 0..3 {
            nb.train(MessageKind::Complaint, text);
        }
        assert!(nb.posterior(text)[&MessageKind::Complaint] > before);
    }

    #[test]
    fn an_untrained_model_has_no_opinion() {
        assert!(NaiveBayes::default().best("hello").is_none());
    }
}
