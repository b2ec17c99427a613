//! The built-in scenarios.

/// A built-in scenario's name and what it shows.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioInfo {
    /// Name given to `cargo sim run`.
    pub name: &'static str,
    /// One line on what it exercises.
    pub summary: &'static str,
}

/// Every built-in scenario.
pub const CATALOGUE: &[ScenarioInfo] = &[
    ScenarioInfo {
        name: "discovery",
        summary: "5 nodes seeded with one address converge by gossip; an isolated node goes unreachable and \
              back; a node with the wrong token is refused by all; a restarted node keeps its id, advances \
              its epoch, and its replayed old-epoch frames are refused",
    },
    ScenarioInfo {
        name: "failover",
        summary: "5 voters under a steady stream of proposals: the leader crashes, a minority holding it is \
                  partitioned off, heal, restart; one leader per term, nothing committed lost or changed, \
                  equal digests after the heal",
    },
];

/// The scenario named `name`.
pub fn find(name: &str) -> Option<&'static ScenarioInfo> {
    CATALOGUE.iter().find(|info| info.name == name)
}
