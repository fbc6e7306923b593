//! Export, import and verification.
//!
//! The event log is the record (Code 5.12); snapshots and indexes are derived from it. So a
//! full backup is the events as JSON lines, a restore replays them through the workflow, and
//! `verify` checks that every snapshot and index entry (the classifier's corrections too) is
//! exactly what the events imply.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};

use super::write::write_snapshot;
use super::{Store, StoreError, decode, encode, keys};
use crate::core::event::{Event, Recorded};
use crate::core::model::Case;
use crate::core::workflow::{self, Rules};

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub cases: usize,
    pub events: usize,
    /// Every inconsistency, one sentence each; empty when the store is sound.
    pub problems: Vec<String>,
}

impl Store {
    /// Writes every event as one JSON line, in reference then sequence order. Returns the number
    /// of events written.
    pub fn export(&self, out: &mut impl Write) -> Result<usize, StoreError> {
        let mut count = 0;
        for kv in self.tree.scan_prefix(keys::EVENTS) {
            let (k, v) = kv?;
            // Re-encode rather than copy bytes, so the export is checked as it is written.
            let recorded: Recorded = decode(&k, &v)?;
            let line = encode("event", &recorded)?;
            out.write_all(&line)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| StoreError::Io(e.into()))?;
            count += 1;
        }
        Ok(count)
    }

    /// Restores an export into this store, which must hold no cases. The whole file is read,
    /// checked and replayed through the workflow before anything is written, so a bad line
    /// leaves the store empty. Effects are not queued again (those letters were drafted when
    /// the events first happened).
    pub async fn import(&self, input: impl BufRead, rules: Rules<'_>) -> Result<usize, StoreError> {
        // One key is enough to know the store is not empty; no need to count them all.
        if self.tree.scan_prefix(keys::CASES).next().is_some() {
            return Err(StoreError::NotEmpty {
                path: self.path.clone(),
            });
        }
        let cases = read_export(input, rules)?;
        let count = cases.iter().map(|c| c.events.len()).sum();
        for case in &cases {
            self.write_imported(case)?;
        }
        self.flush().await?;
        Ok(count)
    }

    /// Writes one replayed case: its events, snapshot, indexes, and the reference counter, all
    /// in one transaction so no reference can be handed out again.
    fn write_imported(&self, imported: &ImportedCase) -> Result<(), StoreError> {
        let reference = &imported.case.reference;
        let encoded: Vec<_> = imported
            .events
            .iter()
            .map(|(r, _)| encode("event", r).map(|bytes| (keys::event(reference, r.seq), bytes)))
            .collect::<Result<_, _>>()?;
        let counter = keys::split_reference(reference);
        let recorded: Vec<Recorded> = imported.events.iter().map(|(r, _)| r.clone()).collect();
        let correction = match self.expected_correction(&recorded)? {
            Some(c) => Some(encode("correction", &c)?),
            None => None,
        };
        self.transact(|tx| {
            for (k, v) in &encoded {
                tx.insert(k.as_slice(), v.as_slice())?;
            }
            if let Some(c) = &correction {
                tx.insert(keys::correction(reference), c.as_slice())?;
            }
            if let Some((prefix_year, number)) = counter {
                let key = keys::counter(prefix_year);
                let last = tx
                    .get(&key)?
                    .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                    .unwrap_or(0);
                tx.insert(key, &last.max(number).to_be_bytes())?;
            }
            write_snapshot(tx, None, &imported.case)
        })
    }

    /// Checks that every snapshot equals the replay of its events and that the indexes hold
    /// exactly the entries the snapshots imply. Uses the current calendar and policy, so a
    /// changed closure-day list shows as a due-date difference.
    pub fn verify(&self, rules: Rules<'_>) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let mut by_case: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
        for kv in self.tree.scan_prefix(keys::EVENTS) {
            let (k, v) = kv?;
            let recorded: Recorded = decode(&k, &v)?;
            report.events += 1;
            by_case
                .entry(recorded.reference.clone())
                .or_default()
                .push(recorded);
        }
        let mut expected_index: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut snapshots = BTreeSet::new();
        let mut message_owners: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for case in self.cases() {
            let case = case?;
            report.cases += 1;
            snapshots.insert(case.reference.clone());
            expected_index.extend(keys::index_keys(&case));
            for id in case.message_ids() {
                message_owners
                    .entry(id.to_owned())
                    .or_default()
                    .insert(case.reference.clone());
            }
            self.verify_case(
                &case,
                by_case.get(&case.reference),
                rules,
                &mut report.problems,
            );
        }
        for reference in by_case.keys().filter(|r| !snapshots.contains(*r)) {
            report
                .problems
                .push(format!("{reference} has events but no snapshot"));
        }
        let mut actual_index = BTreeSet::new();
        for prefix in [keys::DUE, keys::STATUS, keys::CONTACTS] {
            for k in self.tree.scan_prefix(prefix).keys() {
                actual_index.insert(k?.to_vec());
            }
        }
        for k in expected_index.difference(&actual_index) {
            report.problems.push(format!(
                "index entry missing: {}",
                String::from_utf8_lossy(k)
            ));
        }
        for k in actual_index.difference(&expected_index) {
            report
                .problems
                .push(format!("stale index entry: {}", String::from_utf8_lossy(k)));
        }
        self.verify_message_index(&message_owners, &mut report.problems)?;
        self.verify_corrections(&by_case, &mut report.problems)?;
        Ok(report)
    }

    /// The correction index must hold exactly one entry per reclassified case, the one its
    /// latest `reclassified` event implies: the classifier retrains on it.
    fn verify_corrections(
        &self,
        by_case: &BTreeMap<String, Vec<Recorded>>,
        problems: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let mut expected = BTreeMap::new();
        for (reference, events) in by_case {
            if let Some(c) = self.expected_correction(events)? {
                expected.insert(reference.clone(), c);
            }
        }
        let actual: BTreeMap<_, _> = self.stored_corrections()?.into_iter().collect();
        for (reference, want) in &expected {
            match actual.get(reference) {
                None => problems.push(format!(
                    "{reference}: correction (event {}) missing from the correction index",
                    want.seq
                )),
                Some(got) if got != want => problems.push(format!(
                    "{reference}: the correction index differs from its event {}",
                    want.seq
                )),
                Some(_) => {}
            }
        }
        for reference in actual.keys().filter(|r| !expected.contains_key(*r)) {
            problems.push(format!(
                "stale correction index entry: {reference} has no reclassified event"
            ));
        }
        Ok(())
    }

    fn verify_case(
        &self,
        case: &Case,
        events: Option<&Vec<Recorded>>,
        rules: Rules<'_>,
        problems: &mut Vec<String>,
    ) {
        let r = &case.reference;
        let Some(events) = events else {
            problems.push(format!("{r} has a snapshot but no events"));
            return;
        };
        let seqs_ok = events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq as usize == i + 1);
        if !seqs_ok {
            problems.push(format!("{r}: event sequence has a gap"));
        }
        match workflow::replay(r, events.iter().map(|e| &e.event), rules) {
            Ok(replayed) if replayed == *case => {}
            Ok(_) => problems.push(format!(
                "{r}: snapshot differs from the replay of its {} events",
                events.len()
            )),
            Err(e) => problems.push(format!("{r}: events cannot be replayed: {e}")),
        }
    }

    /// Every Message-ID on a case must be indexed to a case that holds it, and every index
    /// entry must name such a case. (A Message-ID reused across cases is indexed to the first.)
    fn verify_message_index(
        &self,
        owners: &BTreeMap<String, BTreeSet<String>>,
        problems: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let mut indexed = BTreeSet::new();
        for kv in self.tree.scan_prefix(keys::MESSAGES) {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k[keys::MESSAGES.len()..]).into_owned();
            let reference = String::from_utf8_lossy(&v).into_owned();
            match owners.get(&id) {
                Some(refs) if refs.contains(&reference) => {}
                Some(_) => problems.push(format!(
                    "message {id} is indexed to {reference}, which does not hold it"
                )),
                None => problems.push(format!("stale message index entry: {id} -> {reference}")),
            }
            indexed.insert(id);
        }
        for (id, refs) in owners {
            if !indexed.contains(id) {
                let refs: Vec<_> = refs.iter().cloned().collect();
                problems.push(format!(
                    "{}: message {id} missing from the message index",
                    refs.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// A case read from an export and replayed, with the line of each event.
struct ImportedCase {
    events: Vec<(Recorded, usize)>,
    case: Case,
}

/// Reads a whole export: each case's events must be together and numbered from 1, and must
/// replay through the workflow. Errors name the line of the event at fault.
fn read_export(input: impl BufRead, rules: Rules<'_>) -> Result<Vec<ImportedCase>, StoreError> {
    let mut cases: Vec<ImportedCase> = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| import_error(n, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let recorded: Recorded =
            serde_json::from_str(&line).map_err(|e| import_error(n, e.to_string()))?;
        let current = cases
            .last_mut()
            .filter(|c| c.case.reference == recorded.reference);
        match current {
            Some(imported) => {
                let expected = imported.events.len() as u32 + 1;
                if recorded.seq != expected {
                    return Err(import_error(
                        n,
                        format!(
                            "{} event {} found where {expected} was expected",
                            recorded.reference, recorded.seq
                        ),
                    ));
                }
                imported.case = workflow::apply(&imported.case, &recorded.event, rules)
                    .map_err(|e| replay_error(n, &recorded.reference, e))?
                    .case;
                imported.events.push((recorded, n));
            }
            None => {
                if !seen.insert(recorded.reference.clone()) {
                    return Err(import_error(
                        n,
                        format!(
                            "{} appears again after other cases: a case's events must be together",
                            recorded.reference
                        ),
                    ));
                }
                let Event::Opened(opened) = &recorded.event else {
                    return Err(import_error(
                        n,
                        format!(
                            "{} does not start with an `opened` event",
                            recorded.reference
                        ),
                    ));
                };
                if recorded.seq != 1 {
                    return Err(import_error(
                        n,
                        format!(
                            "{} starts at event {}, not 1",
                            recorded.reference, recorded.seq
                        ),
                    ));
                }
                let case = workflow::open(&recorded.reference, opened, rules)
                    .map_err(|e| replay_error(n, &recorded.reference, e))?
                    .case;
                cases.push(ImportedCase {
                    events: vec![(recorded, n)],
                    case,
                });
            }
        }
    }
    Ok(cases)
}

fn replay_error(line: usize, reference: &str, e: workflow::WorkflowError) -> StoreError {
    import_error(line, format!("{reference} cannot be replayed: {e}"))
}

fn import_error(line: usize, message: String) -> StoreError {
    StoreError::Import { line, message }
}
