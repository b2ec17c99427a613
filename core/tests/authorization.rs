//! Authorization in the log, checked twice: the leader refuses to append an entry
//! whose origin may not carry its command, and an entry that slipped past a faulty
//! leader is refused identically by every node that applies it (same refusal, same
//! state digest). Applied entries record who set each fact, at which index.
//!
//! proves: F11

mod harness;

use harness::{Harness, consensus_configs, node_id};
use psionic_core::consensus::{EntryPayload, ProposalRejection};
use psionic_core::state::{ApplyRefusal, ClusterEvent, ClusterState, Origin, OriginKind, Proposal, Scope};
use psionic_core::{ClusterCommand, NodeEpoch, NodeRole, ProposalId};

fn policy() -> ClusterCommand {
    ClusterCommand::SetPolicy {
        name: "lanes".into(),
        document: b"{}".to_vec(),
    }
}

fn readiness_of(node: psionic_core::NodeId) -> ClusterCommand {
    ClusterCommand::SetBackendReadiness {
        node,
        backend: psionic_core::backend::Backend::Cpu,
        readiness: psionic_core::backend::BackendReadiness::Ready {
            devices: Vec::new(),
            profile: Default::default(),
        },
    }
}

/// Origins that may not carry the command paired with them, and why.
fn forged() -> Vec<(Origin, ClusterCommand, ApplyRefusal)> {
    let reader = Origin::Operator {
        credential: "ci-reader".into(),
        scope: Scope::Read,
        policy: None,
    };
    let (a, b) = (node_id(0), node_id(1));
    vec![
        (
            reader,
            policy(),
            ApplyRefusal::ScopeMismatch {
                needed: Scope::Operate,
                used: Scope::Read,
            },
        ),
        (
            Origin::Member { node: a },
            readiness_of(b),
            ApplyRefusal::NotOwnFact { reporter: a, about: b },
        ),
        (
            Origin::Leader,
            policy(),
            ApplyRefusal::OriginMayNot {
                origin: OriginKind::Leader,
                needed: Scope::Operate,
            },
        ),
        (
            Origin::Operator {
                credential: "x".repeat(65),
                scope: Scope::Operate,
                policy: None,
            },
            policy(),
            ApplyRefusal::CredentialId { len: 65, max: 64 },
        ),
    ]
}

/// The payload of node 0's proposal number `seq` of `command` by `origin`.
fn proposal(seq: u64, origin: Origin, command: ClusterCommand) -> EntryPayload {
    let id = ProposalId {
        node: node_id(0),
        epoch: NodeEpoch(1),
        seq,
    };
    EntryPayload::Proposal(Proposal {
        id,
        command: command.into(),
        origin,
    })
}

#[test]
fn the_leader_refuses_to_append_an_entry_its_origin_may_not_carry() {
    let mut harness = Harness::new(consensus_configs(3, 3), 11);
    let leader = harness.await_leader(3_000);
    let last = harness.nodes[leader].consensus().log().last_index();
    for (origin, command, refusal) in forged() {
        let now = harness.now;
        let id = harness.nodes[leader].propose_as(now, vec![(origin, command)])[0];
        harness.run_until_ms(harness.now.as_millis() + 1);
        let outcome = harness.outcome_of(leader, id);
        assert_eq!(outcome, Some(Err(ProposalRejection::Invalid { refusal })));
    }
    assert_eq!(
        harness.nodes[leader].consensus().log().last_index(),
        last,
        "nothing appended"
    );
}

#[test]
fn an_entry_a_faulty_leader_let_through_is_refused_alike_on_every_node() {
    let voters: Vec<_> = (0..3).map(|index| (node_id(index), NodeRole::Both)).collect();
    let mut states = vec![ClusterState::genesis(&voters); 3];
    for (seq, (origin, command, refusal)) in forged().into_iter().enumerate() {
        let index = seq as u64 + 1;
        let payload = proposal(index, origin, command);
        for state in &mut states {
            let before = state.clone();
            let event = state.apply(index, 1, &payload).unwrap();
            assert!(
                matches!(event, ClusterEvent::Refused { refusal: got, .. } if got == refusal),
                "{event:?}"
            );
            assert_eq!(state.set_by, before.set_by, "a refused entry sets nothing");
        }
        assert!(states.iter().all(|state| state.digest() == states[0].digest()));
    }
}

#[test]
fn applied_entries_record_who_set_each_fact_and_where() {
    let mut harness = Harness::new(consensus_configs(3, 3), 12);
    let leader = harness.await_leader(3_000);
    let credentials = [("platform", Scope::Operate), ("local", Scope::Admin)]
        .into_iter()
        .map(|(id, scope)| (id.to_owned(), [scope].into()))
        .collect();
    let authorization = ClusterCommand::SetPolicy {
        name: psionic_core::state::AUTHORIZATION_POLICY_NAME.into(),
        document: psionic_core::state::AuthorizationPolicy { credentials }.to_document(),
    };
    let now = harness.now;
    harness.nodes[leader].propose(now, authorization);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let in_force = harness.nodes[leader].consensus().state().policies["authorization"].digest;
    let ops = Origin::operator("platform", &policy());
    let now = harness.now;
    harness.nodes[leader].propose_as(now, vec![(ops.clone(), policy())]);
    harness.run_until_ms(harness.now.as_millis() + 500);
    for node in &harness.nodes {
        let set_by = &node.consensus().state().set_by["policy/lanes"];
        assert_eq!(
            set_by.origin,
            ops.clone().under_policy(Some(in_force)),
            "the policy in force recorded"
        );
        assert_eq!(set_by.index, node.consensus().state().applied_index);
    }
}

#[test]
fn a_removed_members_facts_leave_set_by_and_no_other_fact_does() {
    let voters: Vec<_> = (0..3).map(|index| (node_id(index), NodeRole::Both)).collect();
    let mut state = ClusterState::genesis(&voters);
    let gone = node_id(2);
    let named_after = ClusterCommand::SetPolicy {
        name: format!("x/{gone}"),
        document: Vec::new(),
    };
    let residency = ClusterCommand::SetArtifactResidency {
        node: gone,
        artifact: psionic_core::Digest([4; 32]),
        residency: psionic_core::state::Residency::STAGING_ASKED,
    };
    let removal = ClusterCommand::RemoveMember { node: gone };
    for (seq, command) in [named_after, residency, removal].into_iter().enumerate() {
        let index = seq as u64 + 1;
        let origin = Origin::operator("ops", &command);
        let event = state.apply(index, 1, &proposal(index, origin, command)).unwrap();
        assert!(matches!(event, ClusterEvent::Applied { .. }), "{event:?}");
    }
    let keys: Vec<&String> = state.set_by.keys().collect();
    assert_eq!(
        keys,
        [&format!("policy/x/{gone}")],
        "the member's facts went, the policy stayed"
    );
}

#[test]
fn an_operator_residency_claim_committed_before_claims_were_refused_replays_as_it_applied() {
    use psionic_core::state::{ApplyRefusal, Residency};
    let voters: Vec<_> = (0..3).map(|index| (node_id(index), NodeRole::Both)).collect();
    let mut state = ClusterState::genesis(&voters);
    let claim = ClusterCommand::SetArtifactResidency {
        node: node_id(1),
        artifact: psionic_core::Digest([4; 32]),
        residency: Residency::Resident,
    };
    let origin = Origin::operator("ops", &claim);
    assert_eq!(
        origin.check_proposal(&claim, &state),
        Err(ApplyRefusal::ReportedByNode {
            node: node_id(1),
            artifact: psionic_core::Digest([4; 32])
        }),
        "a leader appends no new claim"
    );
    let event = state.apply(1, 1, &proposal(1, origin, claim)).unwrap();
    assert!(
        matches!(event, ClusterEvent::Applied { .. }),
        "an old log's claim still applies: {event:?}"
    );
    assert_eq!(
        state.residency[&node_id(1)][&psionic_core::Digest([4; 32])],
        Residency::Resident
    );
}

#[test]
fn a_committed_authorization_policy_is_checked_alike_by_every_node() {
    use psionic_core::state::{AUTHORIZATION_POLICY_NAME, AuthorizationPolicy, AuthorizationProblem};
    let voters: Vec<_> = (0..3).map(|index| (node_id(index), NodeRole::Both)).collect();
    let mut states = vec![ClusterState::genesis(&voters); 3];
    let grants = |credentials: &[(&str, &[Scope])]| AuthorizationPolicy {
        credentials: credentials
            .iter()
            .map(|(id, scopes)| (id.to_string(), scopes.iter().copied().collect()))
            .collect(),
    };
    let set = |policy: &AuthorizationPolicy| ClusterCommand::SetPolicy {
        name: AUTHORIZATION_POLICY_NAME.into(),
        document: policy.to_document(),
    };
    let no_admin = grants(&[("ops", &[Scope::Operate])]);
    let policy = grants(&[("ops", &[Scope::Admin, Scope::Operate]), ("ci-reader", &[Scope::Read])]);
    let steps = [
        ("ops", set(&no_admin)),
        ("ops", set(&policy)),
        ("platform", self::policy()),
        ("ops", self::policy()),
    ];
    let mut outcomes = Vec::new();
    for (seq, (credential, command)) in steps.into_iter().enumerate() {
        let index = seq as u64 + 1;
        let payload = proposal(index, Origin::operator(credential, &command), command);
        let events: Vec<ClusterEvent> = states
            .iter_mut()
            .map(|state| state.apply(index, 1, &payload).unwrap())
            .collect();
        assert!(events.iter().all(|event| *event == events[0]), "{events:?}");
        assert!(states.iter().all(|state| state.digest() == states[0].digest()));
        outcomes.push(events[0].clone());
    }
    let refusal = |event: &ClusterEvent| match event {
        ClusterEvent::Refused { refusal, .. } => Some(*refusal),
        _ => None,
    };
    let problem = AuthorizationProblem::NoAdmin;
    assert_eq!(
        refusal(&outcomes[0]),
        Some(ApplyRefusal::AuthorizationPolicy { problem })
    );
    assert_eq!(refusal(&outcomes[1]), None, "an admin puts the policy in force");
    let digest = states[0].authorization().unwrap().0;
    assert_eq!(
        refusal(&outcomes[2]),
        Some(ApplyRefusal::NotAuthorized {
            needed: Scope::Operate,
            policy: digest
        })
    );
    assert_eq!(refusal(&outcomes[3]), None, "a granted credential's entry applies");
}
