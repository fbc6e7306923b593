//! Skipping the patterns that cannot match a text, without changing what any rule finds.
//!
//! Each pattern gets a [`Plan`] when its rule is loaded: the literals every match must contain
//! (worked out from the pattern's syntax tree over a folded alphabet), and an ASCII-word-boundary
//! twin where it matches the same. [`Prefilter`] gathers every plan's literals into one
//! Aho-Corasick automaton, so a message is scanned once and only the patterns whose literals
//! are all present run. Classifying a typical message runs about 1% of the patterns.

use regex_syntax::hir::{Capture, Class, Hir, HirKind, Look, Repetition};

use super::rules::{CASE_INSENSITIVE, PATTERN_SIZE_LIMIT, Rule};

/// What the engine needs to run one compiled pattern fast without changing what it matches,
/// worked out from the pattern's syntax tree when the rule is loaded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// Literals every match contains, in [`fold`]ed form, as clauses: every match of the
    /// pattern, folded, contains at least one literal of every clause. A text whose folded form
    /// holds no literal of some clause cannot match, so the pattern need not run on it. Empty
    /// when nothing selective is known: the pattern always runs.
    pub(crate) required: Vec<Vec<Vec<u8>>>,
    /// The pattern with ASCII word boundaries in place of Unicode ones, when it has any.
    ///
    /// On a text with no non-ASCII word character the two forms find the same matches. A word
    /// boundary is only ever tested at a character boundary (matches start, end and step from
    /// one character to the next only there), and the characters on either side are then
    /// ASCII, where both forms agree on what a word character is, or non-ASCII non-word
    /// characters, whose bytes are all non-word bytes to the ASCII form. The Unicode form makes
    /// the regex crate's fast DFA give up at the first non-ASCII byte (a curly quote, an emoji)
    /// and fall back to engines many times slower; the ASCII form does not.
    pub(crate) ascii: Option<regex_automata::meta::Regex>,
}

impl Plan {
    /// The plan for a pattern compiled with [`CASE_INSENSITIVE`] and the regex crate's other
    /// defaults (which are `regex_automata`'s syntax and meta defaults). A pattern that does
    /// not parse here gets the empty plan: always run, as written.
    pub(super) fn new(pattern: &str) -> Plan {
        use regex_automata::meta;
        use regex_automata::util::syntax;
        let config = syntax::Config::new().case_insensitive(CASE_INSENSITIVE);
        let Ok(hir) = syntax::parse_with(pattern, &config) else {
            return Plan::default();
        };
        let mut changed = false;
        let ascii_hir = ascii_words(&hir, &mut changed);
        let ascii = changed
            .then(|| {
                meta::Regex::builder()
                    .configure(meta::Config::new().nfa_size_limit(Some(PATTERN_SIZE_LIMIT)))
                    .build_from_hir(&ascii_hir)
                    .ok()
            })
            .flatten();
        Plan {
            required: required(&hir),
            ascii,
        }
    }
}

/// Byte that every character folds to that has no other byte of its own (see [`fold`]).
const OTHER: u8 = 0xFF;

/// Folds a character to one byte for the literal prefilter: white space (what `\s` matches)
/// to a space, ASCII to lower case, the two non-ASCII characters that case-insensitive matching
/// equates with ASCII letters (KELVIN SIGN with `k`, LONG S with `s`) to those letters, and
/// every other character to [`OTHER`]. Texts and literals are then [`collapse`]d.
///
/// Why the prefilter stays exact: folding is a mapping of each character to a fixed byte, and
/// collapsing shrinks each run of spaces to one; both take a piece of a text to a piece of the
/// folded text. So a text containing a match contains, folded, the folded match, and with it
/// the literals every folded match contains. Which mapping is used decides only how selective
/// the literals are, never whether they are right. This one keeps literal sets small and long:
/// a case-insensitive letter is one byte, `\s+` is one space, and a class such as `\d`, with
/// hundreds of members outside ASCII, is a handful of bytes.
fn fold(c: char) -> u8 {
    let folding = &*FOLDING;
    match c {
        c if c.is_ascii() => folding.ascii[c as usize],
        '\u{212A}' => b'k',
        '\u{17F}' => b's',
        c if folding.is_space(u32::from(c)) => b' ',
        _ => OTHER,
    }
}

/// The tables behind [`fold`].
struct Folding {
    /// The byte for each ASCII character.
    ascii: [u8; 128],
    /// The white space outside ASCII, as sorted ranges of code points.
    spaces: Vec<(u32, u32)>,
}

static FOLDING: std::sync::LazyLock<Folding> = std::sync::LazyLock::new(|| {
    // White space as the patterns' `\s` means it; the ASCII set if that cannot be had, which
    // only makes non-ASCII white space fold to `OTHER`.
    let mut spaces: Vec<(u32, u32)> = match regex_automata::util::syntax::parse(r"\s") {
        Ok(hir) => match hir.kind() {
            HirKind::Class(Class::Unicode(c)) => c
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect(),
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    if spaces.is_empty() {
        spaces = vec![(0x09, 0x0D), (0x20, 0x20)];
    }
    let mut ascii = [0; 128];
    for (c, byte) in (0u8..128).zip(ascii.iter_mut()) {
        let space = spaces
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(c)));
        *byte = if space { b' ' } else { c.to_ascii_lowercase() };
    }
    spaces.retain(|&(_, hi)| hi >= 0x80);
    for range in &mut spaces {
        range.0 = range.0.max(0x80);
    }
    Folding { ascii, spaces }
});

impl Folding {
    fn is_space(&self, c: u32) -> bool {
        self.spaces.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
    }

    /// How many white-space characters lie in `lo..=hi` (all beyond ASCII).
    fn spaces_in(&self, lo: u32, hi: u32) -> u32 {
        self.spaces
            .iter()
            .map(|&(a, b)| (b.min(hi) + 1).saturating_sub(a.max(lo)))
            .sum()
    }
}

/// Shrinks each run of spaces in a folded string to one space.
fn collapse(mut s: Vec<u8>) -> Vec<u8> {
    s.dedup_by(|a, b| *a == b' ' && *b == b' ');
    s
}

/// `text` [`fold`]ed and [`collapse`]d, into `out` (cleared first).
fn fold_into(text: &str, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(text.len());
    let ascii = &FOLDING.ascii;
    let mut last = 0;
    let mut push = |b: u8| {
        if !(b == b' ' && last == b' ') {
            out.push(b);
        }
        last = b;
    };
    let mut rest = text;
    while !rest.is_empty() {
        let run = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        for &b in &rest.as_bytes()[..run] {
            push(ascii[usize::from(b)]);
        }
        rest = &rest[run..];
        if let Some(c) = rest.chars().next() {
            push(fold(c));
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// `hir` with every Unicode word-boundary assertion made ASCII; `changed` says if there was
/// any.
fn ascii_words(hir: &Hir, changed: &mut bool) -> Hir {
    match hir.kind() {
        HirKind::Look(look) => {
            let ascii = match look {
                Look::WordUnicode => Look::WordAscii,
                Look::WordUnicodeNegate => Look::WordAsciiNegate,
                Look::WordStartUnicode => Look::WordStartAscii,
                Look::WordEndUnicode => Look::WordEndAscii,
                Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
                Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
                other => *other,
            };
            *changed |= ascii != *look;
            Hir::look(ascii)
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            min: r.min,
            max: r.max,
            greedy: r.greedy,
            sub: Box::new(ascii_words(&r.sub, changed)),
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            index: c.index,
            name: c.name.clone(),
            sub: Box::new(ascii_words(&c.sub, changed)),
        }),
        HirKind::Concat(subs) => {
            Hir::concat(subs.iter().map(|h| ascii_words(h, changed)).collect())
        }
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.iter().map(|h| ascii_words(h, changed)).collect())
        }
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => hir.clone(),
    }
}

/// A set of folded literals.
type Literals = std::collections::BTreeSet<Vec<u8>>;

/// Largest literal set worked with; past it the set is dropped (knowing less is always safe).
const MAX_LITERALS: usize = 256;
/// Shortest literal worth requiring: a single byte is in almost every text, so it filters out
/// little and only slows the scan for literals.
const MIN_LITERAL: usize = 2;

/// What is known about the strings a part of a pattern matches, [`fold`]ed and [`collapse`]d.
#[derive(Default)]
struct Facts {
    /// Every string it can match, when that is a small set.
    exact: Option<Literals>,
    /// Every match starts with one of these.
    prefix: Option<Literals>,
    /// Every match ends with one of these.
    suffix: Option<Literals>,
    /// Clauses, as in [`Plan::required`]; none contains the empty string.
    clauses: Vec<Literals>,
}

impl Facts {
    fn exact(set: Literals) -> Facts {
        if set.is_empty() || set.len() > MAX_LITERALS {
            return Facts::default();
        }
        Facts {
            prefix: Some(set.clone()),
            suffix: Some(set.clone()),
            exact: Some(set),
            clauses: Vec::new(),
        }
    }

    /// Every clause that holds: a set that every match starts with, ends with or is one of,
    /// contains one of its strings too.
    fn all_clauses(self) -> Vec<Literals> {
        let mut clauses = self.clauses;
        for set in [self.exact, self.prefix, self.suffix].into_iter().flatten() {
            push_clause(&mut clauses, set);
        }
        clauses
    }
}

fn empty_string() -> Literals {
    Literals::from([Vec::new()])
}

/// Adds a clause, unless the empty string satisfies it (every text does) or it is empty.
fn push_clause(clauses: &mut Vec<Literals>, set: Literals) {
    if !set.is_empty() && !set.contains(&Vec::new()) {
        clauses.push(set);
    }
}

/// Every `a` followed by every `b`, [`collapse`]d where they meet, if that is not too many.
fn product(a: &Literals, b: &Literals) -> Option<Literals> {
    if a.len() * b.len() > MAX_LITERALS {
        return None;
    }
    Some(
        a.iter()
            .flat_map(|x| b.iter().map(move |y| collapse([x.as_slice(), y].concat())))
            .collect(),
    )
}

/// Every string of `min` to `max` (`None`: no limit) pieces from `set`, when that is a small
/// set: a bounded count, or pieces that stop changing the string (` ` repeated is ` `).
fn repeated(set: &Literals, min: u32, max: Option<u32>) -> Option<Literals> {
    let mut all = Literals::new();
    let mut power = empty_string();
    for count in 0..=max.unwrap_or(u32::MAX).min(8) {
        if count >= min {
            all.extend(power.iter().cloned());
        }
        if max == Some(count) {
            return (all.len() <= MAX_LITERALS).then_some(all);
        }
        let next = product(&power, set)?;
        if next == power && count >= min {
            // Every further count gives these same strings.
            return (all.len() <= MAX_LITERALS).then_some(all);
        }
        power = next;
    }
    None
}

fn shortest(set: &Literals) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

/// The most selective clause: longest shortest literal, then fewest literals.
fn best(clauses: Vec<Literals>) -> Option<Literals> {
    clauses
        .into_iter()
        .max_by_key(|c| (shortest(c), std::cmp::Reverse(c.len())))
}

/// The clauses every match of `hir` satisfies, for [`Plan::required`].
fn required(hir: &Hir) -> Vec<Vec<Vec<u8>>> {
    let mut clauses = facts(hir).all_clauses();
    clauses.retain(|c| shortest(c) >= MIN_LITERAL);
    clauses.sort();
    clauses.dedup();
    clauses
        .into_iter()
        .map(|c| c.into_iter().collect())
        .collect()
}

/// What every match of `hir` is made of. Each step only ever claims less than is true when it
/// gives up (no exact set, fewer clauses), never more.
fn facts(hir: &Hir) -> Facts {
    match hir.kind() {
        // Zero-width: matches only the empty string.
        HirKind::Empty | HirKind::Look(_) => Facts::exact(empty_string()),
        HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
            Ok(s) => Facts::exact(Literals::from([collapse(s.chars().map(fold).collect())])),
            Err(_) => Facts::default(),
        },
        HirKind::Class(class) => class_literals(class).map_or_else(Facts::default, Facts::exact),
        HirKind::Capture(c) => facts(&c.sub),
        HirKind::Repetition(r) => {
            let sub = facts(&r.sub);
            if let Some(exact) = sub.exact.as_ref().and_then(|e| repeated(e, r.min, r.max)) {
                Facts::exact(exact)
            } else if r.min == 0 {
                // Possibly nothing: nothing is required.
                Facts::default()
            } else {
                // At least one x: it starts as an x does, ends as one does, and holds what
                // every x holds.
                let mut clauses = sub.clauses;
                if let Some(exact) = sub.exact {
                    push_clause(&mut clauses, exact);
                }
                Facts {
                    exact: None,
                    prefix: sub.prefix,
                    suffix: sub.suffix,
                    clauses,
                }
            }
        }
        HirKind::Concat(subs) => {
            // A run of parts with exact sets, between the end of one part and the start of
            // another, matches a contiguous piece of the match: the product of the first
            // part's suffixes, the exact sets and the last part's prefixes is a clause.
            let mut clauses = Vec::new();
            let mut run = empty_string();
            // Set at the first break in the run: what every match starts with.
            let mut prefix = None;
            for sub in subs {
                let f = facts(sub);
                clauses.extend(f.clauses);
                if let Some(exact) = f.exact {
                    if let Some(p) = product(&run, &exact) {
                        run = p;
                    } else {
                        prefix.get_or_insert_with(|| run.clone());
                        push_clause(&mut clauses, std::mem::replace(&mut run, exact));
                    }
                } else {
                    let piece = match f.prefix.as_ref().and_then(|p| product(&run, p)) {
                        Some(piece) => piece,
                        None => run,
                    };
                    prefix.get_or_insert_with(|| piece.clone());
                    push_clause(&mut clauses, piece);
                    run = f.suffix.unwrap_or_else(empty_string);
                }
            }
            match prefix {
                // No break: all of it is one run.
                None => Facts {
                    clauses,
                    ..Facts::exact(run)
                },
                Some(prefix) => {
                    push_clause(&mut clauses, run.clone());
                    Facts {
                        exact: None,
                        prefix: Some(prefix),
                        suffix: Some(run),
                        clauses,
                    }
                }
            }
        }
        HirKind::Alternation(subs) => {
            let all: Vec<Facts> = subs.iter().map(facts).collect();
            if all.iter().all(|f| f.exact.is_some()) {
                let union: Literals = all
                    .iter()
                    .flat_map(|f| f.exact.iter().flatten().cloned())
                    .collect();
                if union.len() <= MAX_LITERALS {
                    return Facts::exact(union);
                }
            }
            // A match is some branch's match: it starts as that branch's do, ends as they do,
            // and contains a literal of that branch's best clause. A branch with no clause
            // (it may match anything) leaves no clause.
            let union_of = |sets: Vec<Option<&Literals>>| -> Option<Literals> {
                let mut union = Literals::new();
                for set in sets {
                    union.extend(set?.iter().cloned());
                }
                (union.len() <= MAX_LITERALS).then_some(union)
            };
            let prefix = union_of(all.iter().map(|f| f.prefix.as_ref()).collect());
            let suffix = union_of(all.iter().map(|f| f.suffix.as_ref()).collect());
            let best_clauses: Vec<Option<Literals>> =
                all.into_iter().map(|f| best(f.all_clauses())).collect();
            let mut clauses = Vec::new();
            if let Some(union) = union_of(best_clauses.iter().map(Option::as_ref).collect()) {
                push_clause(&mut clauses, union);
            }
            Facts {
                exact: None,
                prefix,
                suffix,
                clauses,
            }
        }
    }
}

/// The folded members of a class, as one-byte literals; `None` for a class of bytes outside
/// ASCII, which a pattern over text cannot hold (the compiler refuses it), so a guard only.
fn class_literals(class: &Class) -> Option<Literals> {
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
    };
    if matches!(class, Class::Bytes(_)) && ranges.iter().any(|&(_, end)| end > 0x7F) {
        return None;
    }
    let mut set = Literals::new();
    for (start, end) in ranges {
        for c in start..=end.min(0x7F) {
            set.insert(vec![fold(char::from(c as u8))]);
        }
        let lo = start.max(0x80);
        if lo > end {
            continue;
        }
        // Beyond ASCII: the two letters, white space, and everything else as `OTHER`.
        // Counting the surrogate gap as members only ever adds `OTHER` needlessly.
        let mut named = 0;
        for special in ['\u{17F}', '\u{212A}'] {
            if (lo..=end).contains(&u32::from(special)) {
                set.insert(vec![fold(special)]);
                named += 1;
            }
        }
        let spaces = FOLDING.spaces_in(lo, end);
        if spaces > 0 {
            set.insert(vec![b' ']);
            named += spaces;
        }
        if end - lo + 1 > named {
            set.insert(vec![OTHER]);
        }
    }
    Some(set)
}

/// One pattern's required literals ([`Plan::required`]), as the numbers of its clauses in the
/// prefilter: the pattern may match only if every one of them is satisfied.
pub(super) type Gate = Box<[u32]>;

/// Finds, in one pass over a text, which patterns' required literals it contains, so that
/// patterns that cannot match are never run. Exact: a pattern is skipped only when the folded
/// text has no literal of one of its clauses, and then the pattern has no match in it.
#[derive(Clone, Debug)]
pub(super) struct Prefilter {
    /// Every required literal of every pattern, folded; `None` when there are none.
    literals: Option<aho_corasick::AhoCorasick>,
    /// For each literal, by number, the clauses it satisfies.
    satisfies: Vec<Box<[u32]>>,
    /// How many distinct clauses there are.
    clauses: usize,
    /// Per rule, per pattern (in the order of `Engine::rules`): its gate.
    pub(super) gates: Vec<Vec<Gate>>,
}

/// What [`Prefilter::scan`] found in one text.
pub(super) struct Scan {
    /// Which clauses the folded text satisfies, by number.
    satisfied: Vec<bool>,
    /// The text has no non-ASCII word character, so ASCII word boundaries agree with Unicode
    /// ones on it ([`Plan::ascii`]).
    pub(super) ascii_words: bool,
}

impl Prefilter {
    pub(super) fn new(rules: &[Rule]) -> Prefilter {
        use std::collections::HashMap;
        let mut literal_numbers: HashMap<&[u8], u32> = HashMap::new();
        let mut literals: Vec<&[u8]> = Vec::new();
        let mut clause_numbers: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut satisfies: Vec<Vec<u32>> = Vec::new();
        let mut gates: Vec<Vec<Gate>> = Vec::with_capacity(rules.len());
        for rule in rules {
            let mut per_pattern = Vec::with_capacity(rule.plans.len());
            for plan in &rule.plans {
                let mut gate = Vec::with_capacity(plan.required.len());
                for clause in &plan.required {
                    let mut members: Vec<u32> = clause
                        .iter()
                        .map(|literal| {
                            *literal_numbers.entry(literal).or_insert_with(|| {
                                literals.push(literal);
                                satisfies.push(Vec::new());
                                (literals.len() - 1) as u32
                            })
                        })
                        .collect();
                    members.sort_unstable();
                    members.dedup();
                    let next = clause_numbers.len() as u32;
                    let number = *clause_numbers.entry(members.clone()).or_insert(next);
                    if number == next {
                        for &literal in &members {
                            satisfies[literal as usize].push(number);
                        }
                    }
                    gate.push(number);
                }
                per_pattern.push(gate.into_boxed_slice());
            }
            gates.push(per_pattern);
        }
        // The default (standard) match semantics allow an overlapping search, which reports
        // every occurrence of every literal, also inside or across others.
        let automaton = aho_corasick::AhoCorasick::builder().build(&literals).ok();
        if automaton.is_none() {
            // Nothing known without it: every pattern runs.
            for gate in gates.iter_mut().flatten() {
                *gate = Gate::default();
            }
        }
        Prefilter {
            literals: automaton,
            satisfies: satisfies.into_iter().map(Vec::into_boxed_slice).collect(),
            clauses: clause_numbers.len(),
            gates,
        }
    }

    pub(super) fn scan(&self, text: &str) -> Scan {
        let mut satisfied = vec![false; self.clauses];
        if let Some(automaton) = &self.literals
            && self.clauses > 0
        {
            let mut folded = Vec::new();
            fold_into(text, &mut folded);
            let mut seen = vec![false; self.satisfies.len()];
            for m in automaton.find_overlapping_iter(&folded) {
                let literal = m.pattern().as_usize();
                if !std::mem::replace(&mut seen[literal], true) {
                    for &clause in &self.satisfies[literal] {
                        satisfied[clause as usize] = true;
                    }
                }
            }
        }
        let ascii_words = text.is_ascii()
            || !text
                .chars()
                .any(|c| !c.is_ascii() && regex_syntax::try_is_word_character(c).unwrap_or(true));
        Scan {
            satisfied,
            ascii_words,
        }
    }
}

impl Scan {
    /// Whether a pattern with this gate may match: every clause of it is satisfied.
    pub(super) fn allows(&self, gate: &Gate) -> bool {
        gate.iter().all(|&clause| self.satisfied[clause as usize])
    }
}
