//! The rules a command must meet to take effect, shared by apply (against the applied
//! state) and by the leader at proposal (against the members the whole log implies),
//! so a command the leader takes is refused on apply only if the log changed between.

use std::collections::BTreeMap;

use super::{ApplyRefusal, ClusterCommand, ClusterState, POLICY_NAME_LEN_MAX, REPLICAS_MAX, Residency};
use crate::backend::{BackendReadiness, DEVICES_PER_BACKEND_MAX};
use crate::identity::{NodeId, NodeRole};

/// A member as the rules see it: its role and whether it votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    /// Its role.
    pub role: NodeRole,
    /// Whether it votes.
    pub voter: bool,
}

/// The members a command is checked against.
pub trait Seats {
    /// `node`'s seat, if it is a member.
    fn seat(&self, node: NodeId) -> Option<Seat>;
    /// How many members vote.
    fn voter_count(&self) -> usize;
}

impl Seats for ClusterState {
    fn seat(&self, node: NodeId) -> Option<Seat> {
        self.members.get(&node).map(|member| Seat {
            role: member.role,
            voter: member.voter,
        })
    }

    fn voter_count(&self) -> usize {
        self.members.values().filter(|member| member.voter).count()
    }
}

impl Seats for BTreeMap<NodeId, Seat> {
    fn seat(&self, node: NodeId) -> Option<Seat> {
        self.get(&node).copied()
    }

    fn voter_count(&self) -> usize {
        self.values().filter(|seat| seat.voter).count()
    }
}

/// Whether `command` would take effect among `seats`; the refusal apply would give if
/// not.
pub fn check_command(command: &ClusterCommand, seats: &impl Seats) -> Result<(), ApplyRefusal> {
    let member = |node: NodeId| seats.seat(node).ok_or(ApplyRefusal::NotAMember { node });
    let not_last_voter = |node: NodeId| match member(node)? {
        seat if seat.voter && seats.voter_count() == 1 => Err(ApplyRefusal::LastVoter { node }),
        _ => Ok(()),
    };
    match command {
        ClusterCommand::AdmitMember { node, .. } => match seats.seat(*node) {
            Some(_) => Err(ApplyRefusal::AlreadyAMember { node: *node }),
            None => Ok(()),
        },
        ClusterCommand::PromoteVoter { node } => {
            let seat = member(*node)?;
            if seat.voter {
                return Err(ApplyRefusal::AlreadyAVoter { node: *node });
            }
            if !seat.role.is_coordinator_capable() {
                return Err(ApplyRefusal::CannotVote {
                    node: *node,
                    role: seat.role,
                });
            }
            Ok(())
        }
        ClusterCommand::RemoveMember { node } => not_last_voter(*node),
        ClusterCommand::SetMemberStatus { node, .. } => member(*node).map(drop),
        ClusterCommand::SetArtifactResidency { node, residency, .. } => {
            member(*node)?;
            match *residency {
                Residency::Staging {
                    bytes_done,
                    bytes_total,
                } if bytes_done > bytes_total => Err(ApplyRefusal::StagingBeyondTotal {
                    bytes_done,
                    bytes_total,
                }),
                _ => Ok(()),
            }
        }
        ClusterCommand::SetRole { node, role } if !role.is_coordinator_capable() => not_last_voter(*node),
        ClusterCommand::SetRole { node, .. } => member(*node).map(drop),
        ClusterCommand::DeclareLink { a, b, .. } => {
            if a == b {
                return Err(ApplyRefusal::SelfLink);
            }
            member(*a)?;
            member(*b).map(drop)
        }
        ClusterCommand::SetBackendReadiness {
            node,
            backend,
            readiness,
        } => {
            member(*node)?;
            if let BackendReadiness::Ready { devices, .. } = readiness {
                if devices.len() > DEVICES_PER_BACKEND_MAX {
                    return Err(ApplyRefusal::TooManyDevices {
                        count: devices.len(),
                        max: DEVICES_PER_BACKEND_MAX,
                    });
                }
                if readiness.clone().for_cluster(*backend) != *readiness {
                    return Err(ApplyRefusal::NotForClusterExecution { backend: *backend });
                }
            }
            Ok(())
        }
        ClusterCommand::DeclareReplicaSet { replicas, warm_min, .. } => {
            let count = replicas.len();
            if count == 0 || count > REPLICAS_MAX || *warm_min as usize > count {
                return Err(ApplyRefusal::ReplicaSetShape {
                    replicas: count,
                    warm_min: *warm_min,
                    max: REPLICAS_MAX,
                });
            }
            replicas.iter().try_for_each(|node| member(*node).map(drop))
        }
        ClusterCommand::SetPolicy { name, document } => {
            if name.is_empty() || name.len() > POLICY_NAME_LEN_MAX {
                return Err(ApplyRefusal::PolicyName {
                    len: name.len(),
                    max: POLICY_NAME_LEN_MAX,
                });
            }
            if name == super::SERVING_POLICY_NAME {
                return Err(ApplyRefusal::ServingPolicy {
                    problem: super::ServingPolicyProblem::NotTyped,
                });
            }
            if name == super::AUTHORIZATION_POLICY_NAME {
                super::AuthorizationPolicy::from_document(document)
                    .map_err(|problem| ApplyRefusal::AuthorizationPolicy { problem })?;
            }
            Ok(())
        }
        ClusterCommand::CutOverAdmissionToken { .. } => Ok(()),
        ClusterCommand::SetServingPolicy { policy } => policy
            .check()
            .map_err(|problem| ApplyRefusal::ServingPolicy { problem }),
        ClusterCommand::RotateNodeKey { rotation } => member(rotation.node).map(drop),
        ClusterCommand::RetireNodeKey { .. } => Ok(()),
    }
}

/// Applies `command`'s effect on seats (it must have passed [`check_command`]).
pub fn change_seats(seats: &mut BTreeMap<NodeId, Seat>, command: &ClusterCommand) {
    match command {
        ClusterCommand::AdmitMember { node, role, .. } => {
            seats.insert(
                *node,
                Seat {
                    role: *role,
                    voter: false,
                },
            );
        }
        ClusterCommand::PromoteVoter { node } => {
            if let Some(seat) = seats.get_mut(node) {
                seat.voter = true;
            }
        }
        ClusterCommand::RemoveMember { node } => {
            seats.remove(node);
        }
        ClusterCommand::SetRole { node, role } => {
            if let Some(seat) = seats.get_mut(node) {
                seat.role = *role;
                seat.voter &= role.is_coordinator_capable();
            }
        }
        _ => {}
    }
}
