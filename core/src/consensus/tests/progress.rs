//! A follower's progress taken alone: what each answer does to it.

use super::super::leader::{AnswerTaken, LogBounds, Progress};
use super::super::replication::AppendResponse;
use super::super::{CatchupDisposition, ResyncReason};
use crate::consensus::message::ValueFault;

const LOG: LogBounds = LogBounds {
    snapshot_index: 10,
    last_index: 20,
};

fn answer(success: bool, match_index: u64, conflict_index: u64, last_index: u64) -> AppendResponse {
    AppendResponse {
        term: 1,
        success,
        match_index,
        conflict_index,
        last_index,
        state_schema: 0,
        genesis: None,
        echo_us: 0,
    }
}

fn at(next_index: u64, match_index: u64) -> Progress {
    Progress {
        next_index,
        match_index,
        snapshot_sent: None,
        disposition: None,
    }
}

#[test]
fn a_success_beyond_the_log_is_a_fault_and_changes_nothing() {
    let mut progress = at(15, 12);
    let taken = progress.take_answer(&answer(true, 21, 0, 21), LOG);
    assert_eq!(
        taken,
        Err(ValueFault::MatchBeyondLog {
            match_index: 21,
            last_index: 20
        })
    );
    assert_eq!(progress, at(15, 12));
}

#[test]
fn a_stale_success_never_lowers_the_match_index() {
    let mut progress = at(19, 18);
    assert_eq!(
        progress.take_answer(&answer(true, 14, 0, 18), LOG),
        Ok(AnswerTaken::Matched { lagging: true })
    );
    assert_eq!(progress, at(19, 18));
    assert_eq!(
        progress.take_answer(&answer(true, 20, 0, 20), LOG),
        Ok(AnswerTaken::Matched { lagging: false })
    );
    assert_eq!(progress, at(21, 20));
}

#[test]
fn a_refusal_from_a_follower_that_lost_entries_lowers_its_match_index() {
    let mut progress = at(19, 18);
    let taken = progress.take_answer(&answer(false, 0, 14, 13), LOG);
    let disposition = CatchupDisposition::ReplayTail { from: 14, to: 20 };
    assert_eq!(
        taken,
        Ok(AnswerTaken::Mismatched {
            reported: Some(disposition)
        })
    );
    assert_eq!((progress.next_index, progress.match_index), (14, 13));
    // The same kind of disposition again is not reported again.
    let again = progress.take_answer(&answer(false, 0, 14, 13), LOG);
    assert_eq!(again, Ok(AnswerTaken::Mismatched { reported: None }));
}

#[test]
fn a_conflict_below_the_snapshot_asks_for_the_snapshot() {
    let mut progress = at(12, 0);
    let taken = progress.take_answer(&answer(false, 0, 5, 4), LOG);
    let install = CatchupDisposition::InstallSnapshot { snapshot_index: 10 };
    assert_eq!(
        taken,
        Ok(AnswerTaken::Mismatched {
            reported: Some(install)
        })
    );
    let mut diverged = at(12, 0);
    let taken = diverged.take_answer(&answer(false, 0, 5, 15), LOG);
    let reason = ResyncReason::DivergedBelowSnapshot {
        conflict_index: 5,
        snapshot_index: 10,
    };
    let resync = CatchupDisposition::FullResync { reason };
    assert_eq!(taken, Ok(AnswerTaken::Mismatched { reported: Some(resync) }));
}

#[test]
fn an_installed_snapshot_moves_the_follower_past_it() {
    let mut progress = at(3, 2);
    progress.snapshot_sent = Some(64);
    assert!(!progress.take_snapshot_answer(10, 128, false, Some(10)));
    assert_eq!(progress.snapshot_sent, Some(128));
    assert!(!progress.take_snapshot_answer(9, 128, false, Some(10)));
    assert_eq!(
        progress.snapshot_sent, None,
        "an answer about an older snapshot restarts it"
    );
    assert!(progress.take_snapshot_answer(10, 256, true, Some(10)));
    assert_eq!(progress, at(11, 10));
}
