//! The serving policy, as placement and executors read it (defined with the state
//! that commits it).

pub use crate::state::{QueueDiscipline, SERVING_POLICY_NAME, ServingPolicy, ServingPolicyProblem};
