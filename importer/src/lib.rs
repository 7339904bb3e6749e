//! BitBake metadata to derivations.
//!
//! The importer reads BitBake layers exactly as BitBake does: [`parser`] turns each file
//! into an [`ast`], [`datastore`] holds variables with BitBake's semantics, and the
//! evaluation of statements (includes, inherits, tasks, Python) builds one datastore per
//! recipe and variant.

pub mod assign;
pub mod ast;
pub mod bitbake_run;
pub mod bitbake_version;
pub mod build;
pub mod builtins;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod datastore;
pub mod derive;
pub mod emit;
pub mod eval;
pub mod layers;
pub mod parallel;
pub mod parser;
pub mod providers;
pub mod python;
pub mod recipe;
pub mod runfile;
pub mod session;
pub mod shell;
pub mod taskgraph;
pub mod tasks;
pub mod truth;
pub mod value;
pub mod vardeps;
