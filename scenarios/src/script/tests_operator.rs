//! Operator steps as files write them.

use super::*;

const MINIMAL: &str = "summary = \"s\"\n[cluster]\nnodes = 3\n";

fn actions(steps: &str) -> Vec<Action> {
    parse("t", &format!("{MINIMAL}{steps}"))
        .unwrap()
        .steps
        .into_iter()
        .map(|step| step.action)
        .collect()
}

fn problem(steps: &str) -> StepProblem {
    match parse("t", &format!("{MINIMAL}{steps}")) {
        Err(ScenarioError::Invalid { problem, .. }) => problem,
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn operator_steps_read_with_their_defaults() {
    let read = actions(
        "[[step]]\ndo = \"add-node\"\n\
         [[step]]\ndo = \"add-node\"\nrole = \"executor\"\n\
         [[step]]\ndo = \"remove\"\nnode = \"killed\"\nwithin_ms = 100\nmust_commit = false\n\
         [[step]]\ndo = \"promote\"\nnode = \"same\"\n\
         [[step]]\ndo = \"transfer-leadership\"\nto = \"follower\"\n\
         [[step]]\ndo = \"command\"\nsize_bytes = 70000\n\
         [[step]]\ndo = \"corrupt\"\nnode = \"killed\"\nwhat = \"bit-flip\"\n\
         [[step]]\ndo = \"backup\"\nnode = \"killed\"\n\
         [[step]]\ndo = \"restore\"\nnode = \"killed\"\n\
         [[step]]\ndo = \"expect\"\ncondition = \"voters\"\ncount = 4\nwithin_ms = 1000\n",
    );
    assert_eq!(
        read,
        vec![
            Action::AddNode {
                role: psionic_core::NodeRole::Both,
                within_ms: 10_000
            },
            Action::AddNode {
                role: psionic_core::NodeRole::Executor,
                within_ms: 10_000
            },
            Action::Remove {
                node: Target::Killed,
                within_ms: 100,
                must_commit: false
            },
            Action::Promote {
                node: Target::Same,
                within_ms: 10_000
            },
            Action::TransferLeadership {
                to: Target::Follower,
                within_ms: 10_000
            },
            Action::Command {
                size_bytes: 70_000,
                within_ms: 10_000
            },
            Action::Corrupt {
                node: Target::Killed,
                what: DiskDamage::BitFlip
            },
            Action::Backup { node: Target::Killed },
            Action::Restore { node: Target::Killed },
            Action::Expect {
                condition: Expectation::Voters(4),
                within_ms: 1_000
            },
        ]
    );
}

#[test]
fn bad_operator_steps_name_what_was_expected() {
    assert!(matches!(
        problem("[[step]]\ndo = \"corrupt\"\nnode = \"killed\"\nwhat = \"melted\"\n"),
        StepProblem::UnknownWord { what: "damage", .. }
    ));
    assert!(matches!(
        problem("[[step]]\ndo = \"corrupt\"\nnode = \"killed\"\n"),
        StepProblem::MissingKey { key: "what", .. }
    ));
    assert!(matches!(
        problem("[[step]]\ndo = \"add-node\"\nrole = \"boss\"\n"),
        StepProblem::UnknownWord { what: "role", .. }
    ));
    let just_under_the_limit = psionic_core::limits::ENTRY_BYTES_MAX - 10;
    assert!(matches!(
        problem(&format!(
            "[[step]]\ndo = \"command\"\nsize_bytes = {just_under_the_limit}\n"
        )),
        StepProblem::OutOfRange { key: "size_bytes", .. }
    ));
    assert!(matches!(
        problem("[[step]]\ndo = \"backup\"\nnode = \"leader\"\n"),
        StepProblem::UnknownNode { .. }
    ));
}

#[test]
fn rotate_steps_read_with_their_defaults_and_name_the_known_credentials() {
    let read = actions(
        "[[step]]\ndo = \"rotate\"\nwhat = \"admission-token\"\n\
         [[step]]\ndo = \"rotate\"\nwhat = \"admission-token\"\nnode = \"follower\"\nwithin_ms = 500\n",
    );
    assert_eq!(
        read,
        vec![
            Action::Rotate {
                what: Rotation::AdmissionToken,
                node: None,
                within_ms: 10_000
            },
            Action::Rotate {
                what: Rotation::AdmissionToken,
                node: Some(Target::Follower),
                within_ms: 500
            },
        ]
    );
    assert!(matches!(
        problem("[[step]]\ndo = \"rotate\"\nwhat = \"password\"\n"),
        StepProblem::UnknownWord { what: "rotation", .. }
    ));
    assert!(matches!(
        problem("[[step]]\ndo = \"rotate\"\n"),
        StepProblem::MissingKey { key: "what", .. }
    ));
}
