//! Leader completeness: a leader elected for a term holds every entry committed in
//! earlier terms (anything applied anywhere before its election).
//! Reference: Raft paper §5.4.1 and §5.4.3, figure 3.

use super::logs::LogModel;
use crate::report::Violation;

/// Checks a new leader's log against `committed` (index, term) pairs.
pub(super) fn check(
    node: &str,
    term: u64,
    log: Option<&LogModel>,
    committed: impl Iterator<Item = (u64, u64)>,
    at_ms: u64,
    found: &mut Vec<Violation>,
) {
    let empty = LogModel::default();
    let log = log.unwrap_or(&empty);
    for (index, committed_term) in committed {
        if index <= log.base.0 {
            continue;
        }
        let held = log.at(index).map(|(held_term, _)| held_term);
        if held != Some(committed_term) {
            found.push(Violation::LeaderIncomplete {
                leader: node.to_owned(),
                term,
                index,
                committed_term,
                held_term: held,
                at_ms,
            });
            return;
        }
    }
}
