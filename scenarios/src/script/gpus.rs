//! Simulated GPU inventories: `[[cluster.gpus]]` tables and the `gpus` step.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::StepProblem;
use super::raw::check_range;

/// Most GPUs one simulated node may have.
pub const GPUS_PER_NODE_MAX: u32 = 16;
/// Largest simulated device, GiB.
pub const GPU_MEMORY_GIB_MAX: u64 = 1_024;

/// What a simulated node's CUDA driver reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuSpec {
    /// Devices (0: the driver reports none).
    pub count: u32,
    /// Memory of each, GiB.
    pub memory_gib: u64,
    /// Compute capability of each (major, minor).
    pub compute_capability: (u32, u32),
}

/// One `[[cluster.gpus]]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGpus {
    nodes: Vec<String>,
    count: u32,
    memory_gib: Option<u64>,
    compute_capability: Option<Vec<u32>>,
}

/// Memory of a simulated device when a file does not say, GiB.
pub const GPU_MEMORY_GIB_DEFAULT: u64 = 80;

/// The inventories by node name; a node listed twice takes the later table.
pub(super) fn inventories(tables: Vec<RawGpus>, nodes_min: usize) -> Result<BTreeMap<String, GpuSpec>, StepProblem> {
    let mut by_node = BTreeMap::new();
    for table in tables {
        let spec = gpu_spec(
            table.count,
            table.memory_gib.unwrap_or(GPU_MEMORY_GIB_DEFAULT),
            table.compute_capability.as_deref(),
        )?;
        for name in table.nodes {
            by_node.insert(fixed_node(name, nodes_min)?, spec);
        }
    }
    Ok(by_node)
}

/// A GPU spec with every value in range.
pub(super) fn gpu_spec(
    count: u32,
    memory_gib: u64,
    compute_capability: Option<&[u32]>,
) -> Result<GpuSpec, StepProblem> {
    check_range("count", f64::from(count), 0.0, f64::from(GPUS_PER_NODE_MAX))?;
    check_range("memory_gib", memory_gib as f64, 1.0, GPU_MEMORY_GIB_MAX as f64)?;
    let compute_capability = match compute_capability {
        None => (9, 0),
        Some([major, minor]) => (*major, *minor),
        Some(other) => {
            return Err(StepProblem::BadRange {
                key: "compute_capability",
                given: other.iter().map(|part| u64::from(*part)).collect(),
            });
        }
    };
    Ok(GpuSpec {
        count,
        memory_gib,
        compute_capability,
    })
}

/// `name` when it names a node every run has (`n1` to `n{nodes_min}`).
pub(super) fn fixed_node(name: String, nodes_min: usize) -> Result<String, StepProblem> {
    let number = name.strip_prefix('n').and_then(|number| number.parse::<usize>().ok());
    if !number.is_some_and(|number| (1..=nodes_min).contains(&number)) {
        return Err(StepProblem::UnknownNode {
            name,
            nodes_max: nodes_min,
            intruders: 0,
            words: "(names only: every run must have the node)",
        });
    }
    Ok(name)
}
