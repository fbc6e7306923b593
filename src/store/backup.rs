//! Export, import and verification.
//!
//! The event log is the record (Code 5.12); snapshots and indexes are derived from it. So a
//! full backup is the events as JSON lines, a restore replays them through the workflow, and
//! `verify` checks that every snapshot and index entry is exactly what the events imply.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};

use super::write::write_snapshot;
use super::{Store, StoreError, decode, encode, keys};
use crate::core::event::Recorded;
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

    /// Restores an export into this store, which must hold no cases. Each case's events are
    /// replayed through the workflow and written with their snapshot and indexes; effects are
    /// not queued again (those letters were drafted when the events first happened).
    pub async fn import(&self, input: impl BufRead, rules: Rules<'_>) -> Result<usize, StoreError> {
        if self.case_count() > 0 {
            return Err(StoreError::NotEmpty {
                path: self.path.clone(),
            });
        }
        let mut pending: Vec<Recorded> = Vec::new();
        let mut count = 0;
        let mut counters: BTreeMap<String, u64> = BTreeMap::new();
        for (i, line) in input.lines().enumerate() {
            let n = i + 1;
            let line = line.map_err(|e| import_error(n, e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let recorded: Recorded =
                serde_json::from_str(&line).map_err(|e| import_error(n, e.to_string()))?;
            if pending
                .first()
                .is_some_and(|p| p.reference != recorded.reference)
            {
                self.import_case(&pending, rules, n)?;
                pending.clear();
            }
            let expected = pending.len() as u32 + 1;
            if recorded.seq != expected {
                return Err(import_error(
                    n,
                    format!(
                        "{} event {} found where {expected} was expected",
                        recorded.reference, recorded.seq
                    ),
                ));
            }
            if let Some((prefix_year, number)) = keys::split_reference(&recorded.reference) {
                let c = counters.entry(prefix_year.to_owned()).or_default();
                *c = (*c).max(number);
            }
            pending.push(recorded);
            count += 1;
        }
        if !pending.is_empty() {
            self.import_case(&pending, rules, count)?;
        }
        for (prefix_year, last) in counters {
            self.tree
                .insert(keys::counter(&prefix_year), &last.to_be_bytes())?;
        }
        self.flush().await?;
        Ok(count)
    }

    fn import_case(
        &self,
        events: &[Recorded],
        rules: Rules<'_>,
        line: usize,
    ) -> Result<(), StoreError> {
        let reference = &events[0].reference;
        let case = workflow::replay(reference, events.iter().map(|r| &r.event), rules)
            .map_err(|e| import_error(line, format!("{reference} cannot be replayed: {e}")))?;
        let encoded: Vec<_> = events
            .iter()
            .map(|r| encode("event", r).map(|bytes| (keys::event(reference, r.seq), bytes)))
            .collect::<Result<_, _>>()?;
        self.transact(|tx| {
            for (k, v) in &encoded {
                tx.insert(k.as_slice(), v.as_slice())?;
            }
            write_snapshot(tx, None, &case)
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
        for case in self.cases() {
            let case = case?;
            report.cases += 1;
            snapshots.insert(case.reference.clone());
            expected_index.extend(keys::index_keys(&case));
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
        Ok(report)
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
        for id in case.message_ids() {
            if !matches!(self.reference_for_message(id), Ok(Some(_))) {
                problems.push(format!("{r}: message {id} missing from the message index"));
            }
        }
    }
}

fn import_error(line: usize, message: String) -> StoreError {
    StoreError::Import { line, message }
}
