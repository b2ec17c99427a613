//! The harness bites: each planted bug is caught as a safety violation by a catalogue
//! scenario within seeds 1..=200 (`config-before-own-term-commit` needs an
//! interleaving no sweep has produced; `core/tests/config_handover.rs` replays it).
//!
//! proves: D1
#![cfg(madsim)]

use psionic_scenarios::load;
use psionic_scenarios::runner::{self, Mutation};
use psionic_sim::{Outcome, Violation};

/// The first seed in 1..=200 at which `mutation` breaks safety in `failover`, with
/// what broke.
fn first_caught(mutation: Mutation) -> Option<(u64, Violation)> {
    first_caught_in("failover", mutation)
}

/// The first seed in 1..=200 at which `mutation` breaks safety in `scenario`.
fn first_caught_in(scenario: &str, mutation: Mutation) -> Option<(u64, Violation)> {
    let scenario = load(scenario).unwrap();
    (1..=200).find_map(|seed| {
        let report = runner::run(&scenario, seed, Some(mutation)).report;
        (report.outcome == Outcome::SafetyViolation).then(|| {
            let violation = report.violations.into_iter().find(Violation::is_safety).unwrap();
            (seed, violation)
        })
    })
}

/// Whether `violation` is a committed entry lost, changed or missing somewhere.
fn breaks_the_log(violation: &Violation) -> bool {
    matches!(
        violation,
        Violation::CommittedEntryChanged { .. }
            | Violation::StateDivergence { .. }
            | Violation::AcknowledgedCommitLost { .. }
            | Violation::LogMismatch { .. }
            | Violation::LeaderIncomplete { .. }
    )
}

#[test]
fn commit_without_quorum_loses_or_changes_a_committed_entry() {
    let (seed, violation) = first_caught(Mutation::CommitWithoutQuorum).expect("caught within 200 seeds");
    assert!(breaks_the_log(&violation), "seed {seed}: {violation:?}");
}

#[test]
fn vote_ignoring_the_log_elects_a_leader_missing_committed_entries() {
    let (seed, violation) = first_caught(Mutation::VoteIgnoresLog).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::LeaderIncomplete { .. }),
        "seed {seed}: {violation:?}"
    );
}

#[test]
fn no_fence_check_accepts_a_stale_decision() {
    let (seed, violation) = first_caught(Mutation::NoFenceCheck).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::StaleDecisionAccepted { .. }),
        "seed {seed}: {violation:?}"
    );
}

#[test]
fn concurrent_config_changes_let_removed_voters_elect_a_leader_of_their_own() {
    let (seed, violation) =
        first_caught_in("membership-churn", Mutation::ConcurrentConfigChange).expect("caught within 200 seeds");
    assert!(
        breaks_the_log(&violation) || matches!(violation, Violation::TwoLeaders { .. }),
        "seed {seed}: {violation:?}"
    );
}

#[test]
fn an_append_answered_before_it_is_durable_is_lost_with_a_crash() {
    let (seed, violation) = first_caught(Mutation::AckBeforePersist).expect("caught within 200 seeds");
    assert!(
        breaks_the_log(&violation) || matches!(violation, Violation::AppliedEntryTruncated { .. }),
        "seed {seed}: {violation:?}"
    );
}

#[test]
fn truncating_at_a_late_append_cuts_applied_entries() {
    let (seed, violation) =
        first_caught_in("rolling-restart", Mutation::TruncateCommitted).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::AppliedEntryTruncated { .. }) || breaks_the_log(&violation),
        "seed {seed}: {violation:?}"
    );
}

/// A follower that answers a forwarded write once its leader took it, not once it
/// applied it, acknowledges writes a crash of that leader loses, or that a read after
/// the answer does not see.
#[test]
fn a_forwarded_write_acknowledged_before_it_commits_is_caught() {
    let (seed, violation) = first_caught(Mutation::AckForwardWhenTaken).expect("caught within 200 seeds");
    assert!(
        breaks_the_log(&violation) || matches!(violation, Violation::NotLinearizable { .. }),
        "seed {seed}: {violation:?}"
    );
}

#[test]
fn linearizable_reads_answered_from_local_state_are_caught_stale() {
    let (seed, violation) = first_caught(Mutation::ReadLocalAsLinearizable).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::NotLinearizable { .. }),
        "seed {seed}: {violation:?}"
    );
}

/// Caught where a follower lags: one catching up by snapshot answers before it applied
/// as far as its read index.
#[test]
fn reads_that_skip_the_wait_for_their_read_index_are_caught_stale() {
    let (seed, violation) =
        first_caught_in("lagging-follower-snapshot", Mutation::SkipReadIndexWait).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::NotLinearizable { .. }),
        "seed {seed}: {violation:?}"
    );
}

/// The impostor of `failover` claims a newer term and stamps a decision: a node that
/// takes them follows a peer that must stay outside.
#[test]
fn following_any_sender_follows_the_impostor() {
    let (seed, violation) = first_caught(Mutation::FollowAnySender).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::RefusedPeerFollowed { .. }),
        "seed {seed}: {violation:?}"
    );
}

/// The impostor of `failover` introduces itself as coordinator-capable: a leader that
/// admits unlisted candidates makes it a member.
#[test]
fn admitting_unlisted_candidates_admits_the_impostor() {
    let (seed, violation) = first_caught(Mutation::AdmitUnlisted).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::RefusedPeerAdmitted { .. }),
        "seed {seed}: {violation:?}"
    );
}

/// Runs `credential-rotation` at seed 1 under `mutation`: a liveness failure, with a
/// violation `expected` names among those reported.
fn credential_rotation_fails(mutation: Mutation, expected: impl Fn(&Violation) -> bool) {
    let scenario = load("credential-rotation").unwrap();
    let report = runner::run(&scenario, 1, Some(mutation)).report;
    assert_eq!(report.outcome, Outcome::LivenessFailure, "{:?}", report.violations);
    assert!(report.violations.iter().any(expected), "{:?}", report.violations);
}

fn refusal_missed(violation: &Violation) -> bool {
    matches!(
        violation,
        Violation::NotReached {
            condition: psionic_sim::Condition::Refused { .. },
            ..
        }
    )
}

/// A node that keeps accepting the admission token a cut-over retired goes on hearing
/// the node `credential-rotation` leaves on it: the refusal the scenario awaits never
/// comes.
#[test]
fn keeping_the_retired_token_lets_the_node_left_on_it_be_heard() {
    credential_rotation_fails(Mutation::KeepRetiredToken, refusal_missed);
}

/// A leader that takes a cut-over to a token only it holds: `credential-rotation`
/// first asks for one, and it must be refused.
#[test]
fn cutting_over_without_a_quorum_of_holders_is_caught() {
    credential_rotation_fails(Mutation::CutOverWithoutQuorum, |violation| {
        matches!(
            violation,
            Violation::FaultNotApplied {
                reason: psionic_sim::NotApplied::NotRefused { .. },
                ..
            }
        )
    });
}

/// A node that keeps accepting a key its owner rotated from hears the frame
/// `credential-rotation` sends under it once retired: the refusal the scenario awaits
/// never comes.
#[test]
fn keeping_a_retired_key_lets_a_frame_under_it_be_heard() {
    credential_rotation_fails(Mutation::KeepRetiredKey, refusal_missed);
}

/// `join-by-runbook`'s outsider is listed and runs the approved binary, but is
/// configured with another trust bundle: a leader that ignores the bundle admits it.
#[test]
fn admitting_candidates_of_another_trust_bundle_admits_the_outsider() {
    let (seed, violation) =
        first_caught_in("join-by-runbook", Mutation::AdmitUntrusted).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::RefusedPeerAdmitted { .. }),
        "seed {seed}: {violation:?}"
    );
}

/// `join-by-runbook`'s stranger is listed for admission but runs an unapproved
/// binary: a leader that ignores the measurement admits it.
#[test]
fn admitting_unattested_candidates_admits_the_stranger() {
    let (seed, violation) =
        first_caught_in("join-by-runbook", Mutation::AdmitUnattested).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::RefusedPeerAdmitted { .. }),
        "seed {seed}: {violation:?}"
    );
}

/// `staging` damages one copy on its node's disk: a node that counts a whole copy
/// without verifying it is recorded resident without the artifact's bytes.
#[test]
fn counting_a_copy_without_verifying_it_is_caught_resident_without_its_bytes() {
    let (seed, violation) =
        first_caught_in("staging", Mutation::StagingSkipsVerification).expect("caught within 200 seeds");
    assert!(
        matches!(violation, Violation::ResidentNotHeld { .. }),
        "seed {seed}: {violation:?}"
    );
}
