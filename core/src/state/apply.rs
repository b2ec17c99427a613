//! Applying committed entries to the state.

use super::check::check_command;
use super::{
    ApplyOrderError, ApplyRefusal, ClusterCommand, ClusterEvent, ClusterState, EntryPayload, Member, MemberStatus,
    PolicyDocument, Proposal, ReplicaSet, SetBy,
};

use crate::digest::{Digest, DigestKind};
use crate::identity::NodeId;

impl ClusterState {
    /// Applies the entry at `index` (of `term`). Refuses any index but the next one.
    pub fn apply(&mut self, index: u64, term: u64, payload: &EntryPayload) -> Result<ClusterEvent, ApplyOrderError> {
        let expected = self.applied_index + 1;
        if index != expected {
            return Err(ApplyOrderError { expected, got: index });
        }
        self.applied_index = index;
        self.applied_term = term;
        Ok(match payload {
            EntryPayload::Noop { leader } => ClusterEvent::LeaderNoop { term, leader: *leader },
            EntryPayload::Proposal(proposal) => self.apply_proposal(index, proposal),
        })
    }

    fn apply_proposal(&mut self, index: u64, proposal: &Proposal) -> ClusterEvent {
        let applied = proposal
            .origin
            .check(&proposal.command, self)
            .and_then(|()| self.apply_command(&proposal.command));
        if applied.is_ok() {
            self.record_setter(index, proposal);
        }
        match applied {
            Ok(()) => ClusterEvent::Applied {
                proposal: proposal.id,
                command: proposal.command.clone(),
            },
            Err(refusal) => ClusterEvent::Refused {
                proposal: proposal.id,
                refusal,
            },
        }
    }

    fn apply_command(&mut self, command: &ClusterCommand) -> Result<(), ApplyRefusal> {
        check_command(command, &*self)?;
        match command {
            ClusterCommand::AdmitMember {
                node,
                role,
                stream_addr,
            } => {
                let member = Member {
                    role: *role,
                    status: MemberStatus::Joining,
                    voter: false,
                    stream_addr: *stream_addr,
                };
                self.members.insert(*node, member);
                self.removed.remove(node);
            }
            ClusterCommand::PromoteVoter { node } => self.member_mut(*node).voter = true,
            ClusterCommand::RemoveMember { node } => self.remove_member(*node),
            ClusterCommand::SetMemberStatus { node, status } => self.member_mut(*node).status = *status,
            ClusterCommand::SetRole { node, role } => {
                let member = self.member_mut(*node);
                member.role = *role;
                member.voter &= role.is_coordinator_capable();
            }
            ClusterCommand::DeclareLink { a, b, class } => {
                let (low, high) = if a < b { (*a, *b) } else { (*b, *a) };
                self.links.entry(low).or_default().insert(high, *class);
            }
            ClusterCommand::SetArtifactResidency {
                node,
                artifact,
                residency,
            } => {
                self.residency.entry(*node).or_default().insert(*artifact, *residency);
            }
            ClusterCommand::SetBackendReadiness {
                node,
                backend,
                readiness,
            } => {
                self.backends
                    .entry(*node)
                    .or_default()
                    .insert(*backend, readiness.clone());
            }
            ClusterCommand::DeclareReplicaSet {
                artifact,
                replicas,
                warm_min,
            } => {
                let set = ReplicaSet {
                    replicas: replicas.clone(),
                    warm_min: *warm_min,
                };
                self.replica_sets.insert(*artifact, set);
            }
            ClusterCommand::SetPolicy { name, document } => self.set_policy(name, document),
            ClusterCommand::SetServingPolicy { policy } => self.serving_policy = Some(*policy),
            ClusterCommand::CutOverAdmissionToken { token } => self.admission_token = Some(*token),
            ClusterCommand::RotateNodeKey { rotation } => {
                rotation.check(self)?;
                self.rotate_key(rotation);
            }
            ClusterCommand::RetireNodeKey { node, key } => {
                super::check_retirement(self, *node, *key)?;
                if let Some(keys) = self.node_keys.get_mut(node) {
                    keys.retiring = None;
                }
            }
        }
        Ok(())
    }

    fn rotate_key(&mut self, rotation: &super::KeyRotation) {
        let keys = self.node_keys.entry(rotation.node).or_insert_with(|| super::NodeKeys {
            key: rotation.old_key,
            retiring: None,
            history: Vec::new(),
            rotations: 0,
        });
        keys.key = rotation.new_key;
        keys.retiring = Some(rotation.old_key);
        keys.rotations = keys.rotations.saturating_add(1);
        if keys.history.len() >= crate::limits::KEY_HISTORY_MAX {
            keys.history.remove(0);
        }
        keys.history.push(rotation.clone());
    }

    /// Records who set the fact `proposal` changed (a removed member's facts go).
    fn record_setter(&mut self, index: u64, proposal: &Proposal) {
        if let ClusterCommand::RemoveMember { node } = &*proposal.command {
            let id = node.to_string();
            self.set_by.retain(|key, _| !super::origin::fact_names_member(key, &id));
            return;
        }
        let key = proposal.command.fact_key();
        match self.set_by.get_mut(&key) {
            Some(set_by) if set_by.origin == proposal.origin => set_by.index = index,
            _ => {
                let origin = proposal.origin.clone();
                self.set_by.insert(key, SetBy { origin, index });
            }
        }
    }

    fn remove_member(&mut self, node: NodeId) {
        self.members.remove(&node);
        self.links.remove(&node);
        for peers in self.links.values_mut() {
            peers.remove(&node);
        }
        self.residency.remove(&node);
        self.backends.remove(&node);
        for set in self.replica_sets.values_mut() {
            set.replicas.remove(&node);
        }
        self.removed.insert(node);
    }

    fn set_policy(&mut self, name: &str, document: &[u8]) {
        let digest = Digest::of_bytes(DigestKind::Policy, document);
        match self.policies.get_mut(name) {
            Some(policy) => {
                policy.digest = digest;
                policy.document.clear();
                policy.document.extend_from_slice(document);
            }
            None => {
                let policy = PolicyDocument {
                    digest,
                    document: document.to_vec(),
                };
                self.policies.insert(name.to_owned(), policy);
            }
        }
    }

    /// A member [`check_command`] found.
    fn member_mut(&mut self, node: NodeId) -> &mut Member {
        self.members.get_mut(&node).expect("checked: a member")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendReadiness;
    use crate::identity::{NodeEpoch, NodeRole};
    use crate::state::ProposalId;

    const A: NodeId = NodeId([1; 16]);
    const B: NodeId = NodeId([2; 16]);

    fn proposal(seq: u64, command: ClusterCommand) -> EntryPayload {
        EntryPayload::Proposal(Proposal {
            id: ProposalId {
                node: A,
                epoch: NodeEpoch(1),
                seq,
            },
            origin: crate::state::Origin::operator("ops", &command),
            command: command.into(),
        })
    }

    #[test]
    fn gapped_and_repeated_applies_are_refused() {
        let mut state = ClusterState::genesis(&[(A, NodeRole::Both)]);
        let noop = EntryPayload::Noop { leader: A };
        assert_eq!(state.apply(2, 1, &noop), Err(ApplyOrderError { expected: 1, got: 2 }));
        state.apply(1, 1, &noop).unwrap();
        assert_eq!(state.apply(1, 1, &noop), Err(ApplyOrderError { expected: 2, got: 1 }));
    }

    #[test]
    fn a_policy_set_again_holds_only_the_new_document_and_its_digest() {
        let set = |document: &[u8]| ClusterCommand::SetPolicy {
            name: "placement".into(),
            document: document.to_vec(),
        };
        let mut state = ClusterState::genesis(&[(A, NodeRole::Both)]);
        state
            .apply(1, 1, &proposal(1, set(b"a longer first document")))
            .unwrap();
        let second = proposal(2, set(b"second"));
        let event = state.apply(2, 1, &second).unwrap();
        let mut fresh = ClusterState::genesis(&[(A, NodeRole::Both)]);
        fresh.apply(1, 1, &proposal(1, set(b"second"))).unwrap();
        assert_eq!(state.policies, fresh.policies);
        assert_eq!(
            state.policies["placement"].digest,
            Digest::of_bytes(DigestKind::Policy, b"second")
        );
        let ClusterEvent::Applied { command, .. } = event else {
            panic!("applied: {event:?}");
        };
        let EntryPayload::Proposal(entry) = &second else {
            unreachable!("a proposal");
        };
        assert!(
            std::sync::Arc::ptr_eq(&command, &entry.command),
            "the event shares the entry's command"
        );
    }

    #[test]
    fn members_join_as_learners_and_are_promoted_one_by_one() {
        let mut state = ClusterState::genesis(&[(A, NodeRole::Both)]);
        let admit = ClusterCommand::AdmitMember {
            node: B,
            role: NodeRole::Coordinator,
            stream_addr: None,
        };
        state.apply(1, 1, &proposal(1, admit)).unwrap();
        assert!(!state.members[&B].voter);
        assert_eq!(state.members[&B].status, MemberStatus::Joining);
        state
            .apply(2, 1, &proposal(2, ClusterCommand::PromoteVoter { node: B }))
            .unwrap();
        assert_eq!(state.voters().len(), 2);
    }

    #[test]
    fn refused_commands_leave_the_state_alone_but_advance_the_index() {
        let mut state = ClusterState::genesis(&[(A, NodeRole::Both)]);
        let before = state.members.clone();
        let event = state
            .apply(1, 1, &proposal(1, ClusterCommand::RemoveMember { node: A }))
            .unwrap();
        assert!(matches!(
            event,
            ClusterEvent::Refused {
                refusal: ApplyRefusal::LastVoter { .. },
                ..
            }
        ));
        let event = state
            .apply(2, 1, &proposal(2, ClusterCommand::PromoteVoter { node: B }))
            .unwrap();
        assert!(matches!(
            event,
            ClusterEvent::Refused {
                refusal: ApplyRefusal::NotAMember { node: B },
                ..
            }
        ));
        assert_eq!(state.members, before);
        assert_eq!(state.applied_index, 2);
    }

    #[test]
    fn executors_never_vote() {
        let mut state = ClusterState::genesis(&[(A, NodeRole::Both)]);
        let admit = ClusterCommand::AdmitMember {
            node: B,
            role: NodeRole::Executor,
            stream_addr: None,
        };
        state.apply(1, 1, &proposal(1, admit)).unwrap();
        let event = state
            .apply(2, 1, &proposal(2, ClusterCommand::PromoteVoter { node: B }))
            .unwrap();
        assert!(matches!(
            event,
            ClusterEvent::Refused {
                refusal: ApplyRefusal::CannotVote { .. },
                ..
            }
        ));
    }

    #[test]
    fn the_same_history_gives_the_same_digest() {
        let history = [
            proposal(
                1,
                ClusterCommand::AdmitMember {
                    node: B,
                    role: NodeRole::Both,
                    stream_addr: None,
                },
            ),
            proposal(
                2,
                ClusterCommand::SetPolicy {
                    name: "serving".into(),
                    document: b"fifo".to_vec(),
                },
            ),
        ];
        let run = || {
            let mut state = ClusterState::genesis(&[(A, NodeRole::Both)]);
            for (offset, payload) in history.iter().enumerate() {
                state.apply(offset as u64 + 1, 1, payload).unwrap();
            }
            state.digest()
        };
        assert_eq!(run(), run());
        let mut other = ClusterState::genesis(&[(A, NodeRole::Both)]);
        other.apply(1, 1, &history[0]).unwrap();
        assert_ne!(run(), other.digest());
        let snapshot = ClusterState::from_bytes(&other.to_bytes()).unwrap();
        assert_eq!(snapshot, other);
        let mut scratch = b"left over from an earlier digest".to_vec();
        assert_eq!(other.digest_in(&mut scratch), other.digest());
        assert_eq!(scratch, other.to_bytes(), "the scratch holds this encoding only");
    }

    #[test]
    fn replica_sets_need_members_and_a_reachable_warm_minimum() {
        let mut state = ClusterState::genesis(&[(A, NodeRole::Both)]);
        let artifact = Digest::of_bytes(DigestKind::Policy, b"model");
        let declare = |replicas: &[NodeId], warm_min| ClusterCommand::DeclareReplicaSet {
            artifact,
            replicas: replicas.iter().copied().collect(),
            warm_min,
        };
        let refusal = |event| match event {
            ClusterEvent::Refused { refusal, .. } => Some(refusal),
            _ => None,
        };
        let event = state.apply(1, 1, &proposal(1, declare(&[A], 2))).unwrap();
        assert!(matches!(
            refusal(event),
            Some(ApplyRefusal::ReplicaSetShape {
                replicas: 1,
                warm_min: 2,
                ..
            })
        ));
        let event = state.apply(2, 1, &proposal(2, declare(&[A, B], 1))).unwrap();
        assert_eq!(refusal(event), Some(ApplyRefusal::NotAMember { node: B }));
        state.apply(3, 1, &proposal(3, declare(&[A], 1))).unwrap();
        assert_eq!(state.replica_sets[&artifact].warm_min, 1);
        let metal = ClusterCommand::SetBackendReadiness {
            node: A,
            backend: crate::backend::Backend::Metal,
            readiness: BackendReadiness::cpu(),
        };
        let event = state.apply(4, 1, &proposal(4, metal)).unwrap();
        assert!(matches!(
            refusal(event),
            Some(ApplyRefusal::NotForClusterExecution { .. })
        ));
    }
}
