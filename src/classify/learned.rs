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

/// The terms of [`NaiveBayes::posterior`]'s sums, computed once per trained model with the
/// very expressions it would otherwise evaluate for every token of every message, so the sums
/// (and the probabilities) come out bit for bit the same.
#[derive(Clone)]
struct Terms {
    /// The kinds, in the model's order.
    kinds: Vec<MessageKind>,
    /// Each kind's log prior.
    priors: Vec<f64>,
    /// Each kind's term for a token it never saw.
    unseen: Vec<f64>,
    /// Each kind's term for every token some kind saw. Looked up once per word and word
    /// pair of every message, so a fast non-cryptographic hash: the keys are the model's own
    /// vocabulary, not attacker-chosen.
    seen: rustc_hash::FxHashMap<String, Box<[f64]>>,
}

impl std::fmt::Debug for Terms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terms")
            .field("kinds", &self.kinds)
            .field("tokens", &self.seen.len())
            .finish_non_exhaustive()
    }
}

impl Terms {
    fn new(model: &NaiveBayes) -> Terms {
        let total_docs = f64::from(model.examples());
        let v = model.vocabulary.len().max(1) as f64;
        let mut kinds = Vec::new();
        let mut priors = Vec::new();
        let mut unseen = Vec::new();
        let mut totals = Vec::new();
        for (kind, docs) in &model.docs {
            let total = model.totals.get(kind).copied().unwrap_or(0) as f64;
            kinds.push(*kind);
            priors.push((f64::from(*docs) / total_docs).ln());
            // As for a count of 0: (0 + 1) / (total + v).
            unseen.push((1.0 / (total + v)).ln());
            totals.push(total);
        }
        let mut seen: rustc_hash::FxHashMap<String, Box<[f64]>> = Default::default();
        for token in model.counts.values().flat_map(HashMap::keys) {
            if seen.contains_key(token) {
                continue;
            }
            let terms = kinds
                .iter()
                .zip(&totals)
                .map(|(kind, total)| {
                    let n = model.counts[kind].get(token).copied().unwrap_or(0) as f64;
                    ((n + 1.0) / (total + v)).ln()
                })
                .collect();
            seen.insert(token.clone(), terms);
        }
        Terms {
            kinds,
            priors,
            unseen,
            seen,
        }
    }
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

    /// The probability of each kind it knows, given the text (they sum to 1); empty when
    /// untrained.
    pub fn posterior(&self, text: &str) -> BTreeMap<MessageKind, f64> {
        let total_docs = f64::from(self.examples());
        if total_docs == 0.0 {
            return BTreeMap::new();
        }
        // Each kind's score is its log prior plus, token by token in order, the log of the
        // token's smoothed probability in that kind (see `Terms`).
        let terms = self.terms.get_or_init(|| Terms::new(self));
        let mut scores = terms.priors.clone();
        for_each_token(text, |token| {
            let add = terms.seen.get(token).map_or(&terms.unseen[..], |t| &t[..]);
            for (score, term) in scores.iter_mut().zip(add) {
                *score += term;
            }
        });
        let log: BTreeMap<MessageKind, f64> = terms.kinds.iter().copied().zip(scores).collect();
        // Normalise in log space to avoid underflow on long messages.
        let max = log.values().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = log.values().map(|s| (s - max).exp()).sum();
        log.into_iter()
            .map(|(k, s)| (k, (s - max).exp() / sum))
            .collect()
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
/// Built once per process: training takes a few milliseconds, but there is no need to repeat
/// it on every rule reload.
pub fn shipped() -> &'static NaiveBayes {
    static SHIPPED: std::sync::OnceLock<NaiveBayes> = std::sync::OnceLock::new();
    SHIPPED.get_or_init(|| {
        let mut model = NaiveBayes::default();
        for (_, text) in training::TRAINING {
            // The corpus is checked by the test suite; a file that does not parse is skipped
            // rather than stopping the daemon.
            if let Ok(m) = super::eval::parse_labelled(text) {
                model.train(m.kind, &message_text(m.context, &m.subject, &m.body));
            }
        }
        model
    })
}

/// The shipped model plus staff corrections. A correction counts several times over a corpus
/// message: a landlord's own decision about its own residents' wording should outweigh one
/// generic example.
pub fn with_corrections(corrections: &[Correction]) -> NaiveBayes {
    let mut model = shipped().clone();
    for c in corrections {
        let text = message_text(c.context, &c.subject, &c.body);
        for _ in 0..CORRECTION_WEIGHT {
            model.train(c.kind, &text);
        }
    }
    model
}

/// How many corpus examples one staff correction is worth.
pub const CORRECTION_WEIGHT: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> NaiveBayes {
        let mut nb = NaiveBayes::default();
        for text in [
            "I am not happy with the repair",
            "this is unacceptable nobody came",
            "not happy at all, third visit",
        ] {
            nb.train(MessageKind::Complaint, text);
        }
        for text in [
            "please fix my tap",
            "my boiler needs a repair please",
            "could you fix the gutter",
        ] {
            nb.train(MessageKind::ServiceRequest, text);
        }
        nb
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
