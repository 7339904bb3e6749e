//! Derivations, hashes, task graph, fetchers and realisation
