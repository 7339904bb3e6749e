//! Derivations, hashes, task graph, fetchers and realisation

pub mod admit;
pub mod builtin;
pub mod check;
pub mod derivation;
pub mod execute;
pub mod graph;
pub mod overlay;
pub mod publish;
pub mod realise;
pub mod snapshot;
pub mod treediff;
pub mod variation;
