//! Derivations, hashes, task graph, fetchers and realisation

pub mod derivation;
pub mod graph;
