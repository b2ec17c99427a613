use super::*;
use crate::catalogue::{CATALOGUE, load};

const MINIMAL: &str = "summary = \"s\"\n[cluster]\nnodes = 3\n";

fn error_of(steps: &str) -> ScenarioError {
    parse("t", &format!("{MINIMAL}{steps}")).expect_err("refused")
}

fn invalid_at(steps: &str) -> (usize, StepProblem) {
    match error_of(steps) {
        ScenarioError::Invalid { line, problem } => (line, problem),
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn every_built_in_scenario_parses_and_names_itself() {
    for (name, _) in CATALOGUE {
        let scenario = load(name).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(scenario.name, *name);
        assert!(!scenario.steps.is_empty());
    }
}

#[test]
fn a_step_is_read_with_its_line_time_and_action() {
    let scenario = parse(
        "t",
        &format!("{MINIMAL}\n[[step]]\nat_ms = 500\ndo = \"partition\"\nnodes = [\"leader\", \"n2\"]\n"),
    )
    .unwrap();
    assert_eq!(
        scenario.steps,
        vec![Step {
            line: 5,
            at: StepTime::AtMs(500),
            action: Action::Partition {
                nodes: vec![Target::Leader, Target::Named("n2".into())],
            },
        }]
    );
}

#[test]
fn an_unknown_key_is_a_syntax_error_on_its_line() {
    let error = error_of("\n[[step]]\ndo = \"heal\"\nwithin = 3\n");
    let ScenarioError::Syntax { line, message, .. } = error else {
        panic!("{error:?}")
    };
    assert_eq!(line, 7, "the line of the unknown key");
    assert!(message.contains("unknown field `within`"), "{message}");
}

#[test]
fn a_value_of_the_wrong_type_names_its_line() {
    let ScenarioError::Syntax { line, .. } = error_of("\n[[step]]\ndo = \"kill\"\nnode = 3\n") else {
        panic!()
    };
    assert_eq!(line, 7, "the line of the bad value");
}

#[test]
fn step_rules_are_typed_and_name_the_step_line() {
    let cases: &[(&str, StepProblem)] = &[
        (
            "do = \"explode\"",
            StepProblem::UnknownAction {
                name: "explode".into(),
                expected: step::ACTIONS,
            },
        ),
        (
            "do = \"kill\"",
            StepProblem::MissingKey {
                action: "kill",
                key: "node",
            },
        ),
        (
            "do = \"heal\"\nnode = \"n1\"",
            StepProblem::KeyNotForAction {
                action: "heal",
                key: "node",
            },
        ),
        ("do = \"heal\"\nat_ms = 1\nafter_ms = 2", StepProblem::TwoTimes),
        (
            "do = \"kill\"\nnode = \"n4\"",
            StepProblem::UnknownNode {
                name: "n4".into(),
                nodes_max: 3,
                intruders: 0,
                words: "leader, follower, random",
            },
        ),
        (
            "do = \"duplicate\"\nrate = 1.5",
            StepProblem::OutOfRange {
                key: "rate",
                value: 1.5,
                min: 0.0,
                max: 1.0,
            },
        ),
        (
            "do = \"network\"\nlatency_ms = [9, 2]",
            StepProblem::BadRange {
                key: "latency_ms",
                given: vec![9, 2],
            },
        ),
        (
            "do = \"expect\"\ncondition = \"sunny\"\nwithin_ms = 1",
            StepProblem::UnknownWord {
                what: "condition",
                name: "sunny".into(),
                expected: step::CONDITIONS,
            },
        ),
        (
            "do = \"chaos\"\nfor_ms = 1\nevery_ms = [1, 2]\nfaults = [\"meteor\"]",
            StepProblem::UnknownWord {
                what: "fault",
                name: "meteor".into(),
                expected: step::CHAOS_FAULTS,
            },
        ),
    ];
    for (body, expected) in cases {
        let (line, problem) = invalid_at(&format!("\n\n[[step]]\n{body}\n"));
        assert_eq!(line, 6, "{body}");
        assert_eq!(&problem, expected, "{body}");
    }
}

#[test]
fn cluster_and_timeline_rules() {
    let no_steps = parse("t", MINIMAL).unwrap_err();
    assert_eq!(
        no_steps,
        ScenarioError::Invalid {
            line: 1,
            problem: StepProblem::NoSteps
        }
    );
    let too_many = parse(
        "t",
        "summary = \"s\"\n[cluster]\nnodes = [3, 17]\n[[step]]\ndo = \"heal\"\n",
    )
    .unwrap_err();
    assert!(matches!(
        too_many,
        ScenarioError::Invalid {
            line: 2,
            problem: StepProblem::OutOfRange { key: "nodes", .. }
        }
    ));
}

#[test]
fn errors_read_as_one_line_naming_the_line() {
    let error = error_of("\n[[step]]\ndo = \"kill\"\n");
    assert_eq!(error.to_string(), "line 5: `kill` needs `node`");
}

#[test]
fn gpu_inventories_are_read_by_node_and_checked() {
    let gpus = "[[cluster.gpus]]\nnodes = [\"n1\", \"n3\"]\ncount = 4\nmemory_gib = 24\ncompute_capability = [8, 9]\n";
    let step = "[[step]]\ndo = \"gpus\"\nnode = \"follower\"\ncount = 0\n";
    let scenario = parse("t", &format!("{MINIMAL}{gpus}{step}")).unwrap();
    let spec = GpuSpec {
        count: 4,
        memory_gib: 24,
        compute_capability: (8, 9),
    };
    assert_eq!(scenario.cluster.gpus.get("n3"), Some(&spec));
    assert_eq!(scenario.cluster.gpus.get("n2"), None);
    let Action::Gpus { node, gpus } = &scenario.steps[0].action else {
        panic!("{:?}", scenario.steps[0])
    };
    assert_eq!((node, gpus.count, gpus.memory_gib), (&Target::Follower, 0, 80));

    let absent_node = "[[cluster.gpus]]\nnodes = [\"n4\"]\ncount = 1\n[[step]]\ndo = \"heal\"\n";
    assert!(matches!(invalid_at(absent_node), (2, StepProblem::UnknownNode { .. })));
    let too_many = "[[cluster.gpus]]\nnodes = [\"n1\"]\ncount = 17\n[[step]]\ndo = \"heal\"\n";
    assert!(matches!(
        invalid_at(too_many),
        (2, StepProblem::OutOfRange { key: "count", .. })
    ));
    let no_count = "\n[[step]]\ndo = \"gpus\"\nnode = \"n1\"\n";
    assert_eq!(
        invalid_at(no_count),
        (
            5,
            StepProblem::MissingKey {
                action: "gpus",
                key: "count"
            }
        )
    );
}

#[test]
fn scenario_file_fuzz_inputs_replay() {
    let fuzz_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir.join(kind).join("scenario_file")) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| crate::fuzz_scenario_file(&bytes));
            assert!(outcome.is_ok(), "scenario_file fails on {}", path.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no committed inputs for scenario_file");
}

#[test]
fn request_steps_and_metal_nodes_are_checked() {
    let file =
        |cluster: &str, step: &str| format!("summary = \"s\"\n[cluster]\nnodes = 3\n{cluster}\n[[step]]\n{step}\n");
    let scenario = parse(
        "t",
        &file(
            "metal = [\"n3\"]",
            "do = \"requests\"\nmodel = \"m1\"\nrate_per_s = 5\nmemory_gib = 20",
        ),
    )
    .unwrap();
    assert!(scenario.cluster.metal.contains("n3"));
    assert_eq!(
        scenario.steps[0].action,
        Action::Requests {
            model: "m1".into(),
            rate_per_s: 5,
            memory_gib: 20,
            forwarded: false,
            stream: false,
        }
    );
    let problem = |text: String| match parse("t", &text).unwrap_err() {
        ScenarioError::Invalid { problem, .. } => problem,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        problem(file("", "do = \"requests\"\nrate_per_s = 5")),
        StepProblem::MissingKey {
            action: "requests",
            key: "model"
        }
    );
    assert_eq!(
        problem(file(
            "",
            "do = \"resident\"\nmodel = \"m1\"\nnode = \"n1\"\nwithin_ms = 5"
        )),
        StepProblem::KeyNotForAction {
            action: "resident",
            key: "node"
        }
    );
    assert!(matches!(
        problem(file("metal = [\"n4\"]", "do = \"heal\"")),
        StepProblem::UnknownNode { .. }
    ));
}

#[test]
fn a_serving_policy_step_keeps_the_defaults_it_does_not_name() {
    use psionic_core::plan::ServingPolicy;
    let step = "\n[[step]]\ndo = \"serving-policy\"\nreroute_lost = false\nlost_wait_ms = 4_000\nwithin_ms = 5_000\n";
    let scenario = parse("t", &format!("{MINIMAL}{step}")).unwrap();
    assert_eq!(
        scenario.steps[0].action,
        Action::ServingPolicy {
            policy: ServingPolicy {
                reroute_lost: false,
                lost_wait_ms: 4_000,
                ..ServingPolicy::default()
            },
            within_ms: 5_000,
        }
    );
    assert_eq!(
        invalid_at("\n[[step]]\ndo = \"serving-policy\"\nreroute_lost = false\n"),
        (
            5,
            StepProblem::MissingKey {
                action: "serving-policy",
                key: "within_ms"
            }
        )
    );
    assert_eq!(
        invalid_at("\n[[step]]\ndo = \"serving-policy\"\nwithin_ms = 5\nrate_per_s = 3\n"),
        (
            5,
            StepProblem::KeyNotForAction {
                action: "serving-policy",
                key: "rate_per_s"
            }
        )
    );
}
