//! Why a scenario file was refused; every error names its line.

/// A scenario file that cannot run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the TOML reader said.
        message: String,
    },
    /// A value is well-typed but breaks a rule.
    #[error("line {line}: {problem}")]
    Invalid {
        /// 1-based line of the table or step holding it.
        line: usize,
        /// The rule broken.
        problem: StepProblem,
    },
}

/// A rule a well-typed scenario value breaks.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StepProblem {
    /// `do` names no known action.
    #[error("unknown action {name:?}; expected one of {expected}")]
    UnknownAction {
        /// The name given.
        name: String,
        /// The known actions.
        expected: &'static str,
    },
    /// An action needs a key the step lacks.
    #[error("`{action}` needs `{key}`")]
    MissingKey {
        /// The action.
        action: &'static str,
        /// The key.
        key: &'static str,
    },
    /// A key the action does not take.
    #[error("`{key}` does not apply to `{action}`")]
    KeyNotForAction {
        /// The action.
        action: &'static str,
        /// The key.
        key: &'static str,
    },
    /// Both `at_ms` and `after_ms`.
    #[error("a step has `at_ms` or `after_ms`, not both")]
    TwoTimes,
    /// A node name that the cluster does not have, or a bad target word.
    #[error("unknown node {name:?}; expected n1..n{nodes_max}, intruder1..intruder{intruders}, same, {words}")]
    UnknownNode {
        /// The name given.
        name: String,
        /// Highest honest node number.
        nodes_max: usize,
        /// Intruder count.
        intruders: usize,
        /// The target words accepted here.
        words: &'static str,
    },
    /// A word that is not one of the accepted ones.
    #[error("unknown {what} {name:?}; expected one of {expected}")]
    UnknownWord {
        /// What kind of word (`condition`, `refusal kind`, `fault`, `seeds`).
        what: &'static str,
        /// The word given.
        name: String,
        /// The accepted words.
        expected: &'static str,
    },
    /// A number outside its range.
    #[error("`{key}` = {value} is outside {min}..={max}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value given.
        value: f64,
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
    /// A `[min, max]` pair whose ends are swapped or not two numbers.
    #[error("`{key}` must be [min, max] with min <= max (got {given:?})")]
    BadRange {
        /// The key.
        key: &'static str,
        /// The values given.
        given: Vec<u64>,
    },
    /// The timeline is empty.
    #[error("the scenario has no `[[step]]`")]
    NoSteps,
}
