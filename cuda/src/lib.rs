//! CUDA device truth for Psionic cluster nodes.
//!
//! This crate will own the device inventory (through cudarc with dynamic loading) and
//! backend readiness, reported as typed refusals when there is no driver or no device.
//! It has no public items yet: nothing in the cluster reads device facts so far.
