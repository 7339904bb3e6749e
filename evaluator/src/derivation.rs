//! The derivation of one task and its hashes.
//!
//! A derivation is what a task needs and nothing more: the code it runs and the values
//! of every variable and function it reads (already normalised by the importer so no
//! host path appears), checksums of the local files it uses, the flags that change how
//! it runs, the checksums a fetch must produce, and the tasks it depends on.
//!
//! Hashes (blake3, lowercase hex):
//! * `basehash` = blake3 of the canonical encoding below, which leaves out the task's
//!   identity and its dependencies;
//! * `taskhash` = blake3 of the basehash and the `unihash` of every dependency, sorted;
//! * `unihash` comes from hash equivalence in the store (the first taskhash that
//!   produced an output), or is the taskhash.
//!
//! Canonical encoding (version 1), the input of the basehash: the line
//! `rstore-derivation-v1`, then `kind`, `task`, each input as `name NUL digest` (the
//! blake3 of its value, or `-` when unset) in name order, each file as `path NUL hash`,
//! each flag as `name NUL value` and each fixed-output checksum as `name NUL value`, in
//! name order, every field terminated by a newline and every section introduced by its
//! name. Hashing each value separately lets the many tasks of a recipe that read the
//! same variables share the work; the same derivation gives the same bytes on every
//! machine.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A task of a recipe: `zlib-native:do_compile`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId {
    /// The recipe (PN, with `-native` / `nativesdk-` for variants).
    pub recipe: String,
    pub task: String,
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.recipe, self.task)
    }
}

/// How a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Shell,
    Python,
    /// Only orders other tasks (`[noexec]`).
    Noexec,
}

/// What a task needs, and nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    pub id: TaskId,
    pub kind: TaskKind,
    /// Every variable and function the task reads, with its value (None: unset). The
    /// task's own function is listed under its name.
    pub inputs: BTreeMap<String, Option<String>>,
    /// Local files the task uses (`file://` sources): normalised path → blake3.
    pub files: BTreeMap<String, String>,
    /// Flags that change how the task runs (network, fakeroot, …).
    pub flags: BTreeMap<String, String>,
    /// For fetch tasks: the checksums the downloads must have (`name:sha256sum` → value).
    pub fixed_output: BTreeMap<String, String>,
    /// The tasks this one depends on.
    pub deps: BTreeSet<TaskId>,
}

/// The canonical encoding's first line.
pub const ENCODING_TAG: &[u8] = b"rstore-derivation-v1\n";

/// The digest of one input value as it enters the basehash (`-` for unset).
pub fn value_digest(value: Option<&str>) -> String {
    match value {
        Some(v) => blake3::hash(v.as_bytes()).to_hex().to_string(),
        None => "-".to_owned(),
    }
}

/// Everything the basehash covers, with inputs already reduced to their digests.
pub struct BasehashInput<'a, I: IntoIterator<Item = (&'a str, &'a str)>> {
    pub kind: &'a TaskKind,
    pub task: &'a str,
    /// (name, value digest) in name order.
    pub inputs: I,
    pub files: &'a BTreeMap<String, String>,
    pub flags: &'a BTreeMap<String, String>,
    pub fixed_output: &'a BTreeMap<String, String>,
}

/// The basehash from the canonical encoding.
pub fn basehash<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(b: BasehashInput<'a, I>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(ENCODING_TAG);
    let kind = match b.kind {
        TaskKind::Shell => "shell",
        TaskKind::Python => "python",
        TaskKind::Noexec => "noexec",
    };
    for (field, value) in [("kind", kind), ("task", b.task)] {
        h.update(field.as_bytes());
        h.update(b"\0");
        h.update(value.as_bytes());
        h.update(b"\n");
    }
    h.update(b"inputs\n");
    for (name, digest) in b.inputs {
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(digest.as_bytes());
        h.update(b"\n");
    }
    for (section, map) in [("files", b.files), ("flags", b.flags), ("fixed_output", b.fixed_output)] {
        h.update(section.as_bytes());
        h.update(b"\n");
        for (k, v) in map {
            h.update(k.as_bytes());
            h.update(b"\0");
            h.update(v.as_bytes());
            h.update(b"\n");
        }
    }
    h.finalize().to_hex().to_string()
}

impl Derivation {
    /// The basehash of this derivation.
    pub fn basehash(&self) -> String {
        let digests: Vec<(String, String)> =
            self.inputs.iter().map(|(k, v)| (k.clone(), value_digest(v.as_deref()))).collect();
        basehash(BasehashInput {
            kind: &self.kind,
            task: &self.id.task,
            inputs: digests.iter().map(|(k, d)| (k.as_str(), d.as_str())),
            files: &self.files,
            flags: &self.flags,
            fixed_output: &self.fixed_output,
        })
    }
}

/// `taskhash = blake3(basehash, sorted unihashes of the dependencies)`.
pub fn taskhash<'a>(basehash: &str, dep_unihashes: impl IntoIterator<Item = &'a str>) -> String {
    let mut deps: Vec<&str> = dep_unihashes.into_iter().collect();
    deps.sort_unstable();
    let mut h = blake3::Hasher::new();
    h.update(b"rstore-taskhash-v1\n");
    h.update(basehash.as_bytes());
    for d in deps {
        h.update(b"\n");
        h.update(d.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Derivation {
        Derivation {
            id: TaskId { recipe: "zlib".into(), task: "do_compile".into() },
            kind: TaskKind::Shell,
            inputs: [
                ("do_compile".to_owned(), Some("oe_runmake".to_owned())),
                ("CFLAGS".to_owned(), Some("-O2".to_owned())),
            ]
            .into(),
            files: BTreeMap::new(),
            flags: BTreeMap::new(),
            fixed_output: BTreeMap::new(),
            deps: [TaskId { recipe: "zlib".into(), task: "do_configure".into() }].into(),
        }
    }

    #[test]
    fn basehash_ignores_identity_and_dependencies() {
        let a = sample();
        let mut b = sample();
        b.id.recipe = "other".into();
        b.deps.clear();
        assert_eq!(a.basehash(), b.basehash());
        let mut c = sample();
        c.inputs.insert("CFLAGS".into(), Some("-O3".into()));
        assert_ne!(a.basehash(), c.basehash());
    }

    #[test]
    fn taskhash_is_order_independent() {
        assert_eq!(taskhash("b", ["x", "y"]), taskhash("b", ["y", "x"]));
        assert_ne!(taskhash("b", ["x"]), taskhash("b", ["y"]));
        assert_ne!(taskhash("b", []), taskhash("c", []));
    }
}
