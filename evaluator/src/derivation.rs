//! The derivation of one task and its hashes.
//!
//! A derivation is what a task needs and nothing more: the code it runs and the values
//! of every variable and function it reads (already normalised by the importer so no
//! host path appears), digests of the local files it uses, the flags that change how
//! it runs, the checksums a fetch must produce, and the tasks it depends on. Beside
//! what is hashed it records what the task sees but the hash leaves out
//! ([`Derivation::unhashed`]) and, for a shell task, the script that runs
//! ([`Derivation::script`]), so a user can see why a change did not rebuild.
//!
//! Hashes (blake3, see [`rstore_store::digest`]):
//! * [`Basehash`] = blake3 of the canonical encoding below, which leaves out the task's
//!   identity, its dependencies, the unhashed values and the script;
//! * [`Taskhash`] = blake3 of the basehash, the host fingerprint and the [`Unihash`] of
//!   every dependency, sorted ([`taskhash`]);
//! * the unihash comes from hash equivalence in the store (the first taskhash that
//!   produced an output), or is the taskhash.
//!
//! # Canonical encoding (version 2), the input of the basehash
//!
//! Every string is its length as a little-endian `u64`, then its UTF-8 bytes; every
//! list is its length as a `u64`, then its items; digests are their 32 bytes. So no
//! value, whatever bytes it holds (newlines, NULs), can imitate a boundary.
//!
//! ```text
//! derivation := str("rstore-derivation-v2") str(kind) str(task)
//!               list(input)  list(file)  list(flag)  list(checksum)
//! input      := str(name) value        (in name order)
//! value      := 0x00                   (unset)
//!             | 0x01 [u8; 32]          (blake3 of the value)
//! file       := str(path) [u8; 32]     (blob digest of the file; in path order)
//! flag       := str(name) str(value)   (in name order)
//! checksum   := str(name) str(value)   (in name order)
//! ```
//!
//! Each value enters as its own digest, so the many tasks of a recipe that read the
//! same variables share the work. The taskhash hashes
//! `str("rstore-taskhash-v2") basehash:[u8; 32] host dep-count:u64 unihash{dep-count}`
//! with `host := 0x00 | 0x01 [u8; 32]` and the unihashes sorted by their bytes.
//!
//! The golden vectors in this module's tests pin both encodings: a change to either
//! changes every hash in every store, and must come with a new version (and a new
//! store schema, see `rstore_store::SCHEMA_VERSION`).

use std::collections::{BTreeMap, BTreeSet};

use rstore_store::{Basehash, BlobDigest, Digest, HostFingerprint, Taskhash, Unihash};
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

impl TaskKind {
    /// The name the encoding uses.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Shell => "shell",
            TaskKind::Python => "python",
            TaskKind::Noexec => "noexec",
        }
    }
}

/// Why a value the task sees is not part of its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "why")]
pub enum Unhashed {
    /// BB_BASEHASH_IGNORE_VARS names it.
    IgnoredVar,
    /// A `[vardepsexclude]` flag excludes it.
    Excluded {
        /// The variable or function whose flag names it.
        by: String,
    },
    /// Hashed with another value: `[vardepvalue]` replaces it, or
    /// `[vardepvalueexclude]` removes parts of it.
    ValueReplaced {
        /// The flag.
        flag: String,
    },
    /// Only an unhashed variable's value references it.
    Through {
        /// The unhashed variable that references it.
        via: String,
    },
    /// BitBake's dependency analysis does not reach it (it is referenced in a way the
    /// analysis does not follow).
    NotReached,
}

impl std::fmt::Display for Unhashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhashed::IgnoredVar => f.write_str("BB_BASEHASH_IGNORE_VARS"),
            Unhashed::Excluded { by } => write!(f, "{by}[vardepsexclude]"),
            Unhashed::ValueReplaced { flag } => write!(f, "[{flag}] changes the value hashed"),
            Unhashed::Through { via } => write!(f, "only through {via}"),
            Unhashed::NotReached => f.write_str("not reached by the dependency analysis"),
        }
    }
}

/// A value the task sees but its hash leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnhashedValue {
    /// The value the task sees (None: unset).
    pub value: Option<String>,
    #[serde(flatten)]
    pub reason: Unhashed,
}

/// What a task needs, and nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    pub id: TaskId,
    pub kind: TaskKind,
    /// Every variable and function the task reads, with its value (None: unset). The
    /// task's own function is listed under its name. Hashed.
    pub inputs: BTreeMap<String, Option<String>>,
    /// Local files the task uses (`file://` sources): normalised path → digest. Hashed.
    pub files: BTreeMap<String, BlobDigest>,
    /// Flags that change how the task runs (network, fakeroot, …). Hashed.
    pub flags: BTreeMap<String, String>,
    /// For fetch tasks: the checksums the downloads must have (`name:sha256sum` →
    /// value). Hashed.
    pub fixed_output: BTreeMap<String, String>,
    /// The tasks this one depends on (their unihashes enter the taskhash).
    pub deps: BTreeSet<TaskId>,
    /// What the task sees but its hash leaves out, and why. For a shell task: every
    /// variable and function its script holds or references that is not an input.
    /// (A Python task reads the whole datastore: everything but its inputs is visible
    /// to it unhashed.) Not hashed.
    #[serde(default)]
    pub unhashed: BTreeMap<String, UnhashedValue>,
    /// A shell task's script, exactly as it runs (BitBake's `run.do_TASK`), when it was
    /// worked out. Not hashed: what it holds is either an input or listed in
    /// [`Derivation::unhashed`].
    #[serde(default)]
    pub script: Option<String>,
}

/// The canonical encoding's tag.
pub const ENCODING_TAG: &str = "rstore-derivation-v2";
/// The taskhash encoding's tag.
pub const TASKHASH_TAG: &str = "rstore-taskhash-v2";

/// The digest of one input value as it enters the basehash (None for unset).
pub fn value_digest(value: Option<&str>) -> Option<Digest> {
    value.map(|v| Digest::of_bytes(v.as_bytes()))
}

/// Writes the canonical encoding into a hasher.
struct Encoder(blake3::Hasher);

impl Encoder {
    fn len(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.update(s.as_bytes());
    }

    fn digest(&mut self, d: &Digest) {
        self.0.update(d.as_bytes());
    }

    fn optional(&mut self, d: Option<&Digest>) {
        match d {
            None => {
                self.0.update(&[0]);
            }
            Some(d) => {
                self.0.update(&[1]);
                self.digest(d);
            }
        }
    }

    fn map(&mut self, map: &BTreeMap<String, String>) {
        self.len(map.len());
        for (k, v) in map {
            self.str(k);
            self.str(v);
        }
    }
}

/// Everything the basehash covers, with inputs already reduced to their digests.
pub struct BasehashInput<'a, I: ExactSizeIterator<Item = (&'a str, Option<&'a Digest>)>> {
    pub kind: &'a TaskKind,
    pub task: &'a str,
    /// (name, value digest) in name order.
    pub inputs: I,
    pub files: &'a BTreeMap<String, BlobDigest>,
    pub flags: &'a BTreeMap<String, String>,
    pub fixed_output: &'a BTreeMap<String, String>,
}

/// The basehash from the canonical encoding.
pub fn basehash<'a, I: ExactSizeIterator<Item = (&'a str, Option<&'a Digest>)>>(b: BasehashInput<'a, I>) -> Basehash {
    let mut e = Encoder(blake3::Hasher::new());
    e.str(ENCODING_TAG);
    e.str(b.kind.name());
    e.str(b.task);
    e.len(b.inputs.len());
    for (name, digest) in b.inputs {
        e.str(name);
        e.optional(digest);
    }
    e.len(b.files.len());
    for (path, digest) in b.files {
        e.str(path);
        e.digest(digest.digest());
    }
    e.map(b.flags);
    e.map(b.fixed_output);
    Basehash::from_digest(e.0.finalize().into())
}

impl Derivation {
    /// The basehash of this derivation.
    pub fn basehash(&self) -> Basehash {
        let digests: Vec<(&str, Option<Digest>)> =
            self.inputs.iter().map(|(k, v)| (k.as_str(), value_digest(v.as_deref()))).collect();
        basehash(BasehashInput {
            kind: &self.kind,
            task: &self.id.task,
            inputs: digests.iter().map(|(k, d)| (*k, d.as_ref())),
            files: &self.files,
            flags: &self.flags,
            fixed_output: &self.fixed_output,
        })
    }
}

/// `taskhash = blake3(basehash, host fingerprint, sorted unihashes of the dependencies)`.
/// Without a host fingerprint it depends on the metadata alone (saved graphs).
pub fn taskhash(basehash: &Basehash, host: Option<&HostFingerprint>, dep_unihashes: &[Unihash]) -> Taskhash {
    let mut deps: Vec<&Unihash> = dep_unihashes.iter().collect();
    deps.sort_unstable();
    let mut e = Encoder(blake3::Hasher::new());
    e.str(TASKHASH_TAG);
    e.digest(basehash.digest());
    e.optional(host.map(HostFingerprint::digest));
    e.len(deps.len());
    for d in deps {
        e.digest(d.digest());
    }
    Taskhash::from_digest(e.0.finalize().into())
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
                ("EXTRA".to_owned(), None),
            ]
            .into(),
            files: [("${LAYER:meta}/files/a.patch".to_owned(), BlobDigest::of_contents(b"patch"))].into(),
            flags: [("dirs".to_owned(), "${B}".to_owned())].into(),
            fixed_output: BTreeMap::new(),
            deps: [TaskId { recipe: "zlib".into(), task: "do_configure".into() }].into(),
            unhashed: BTreeMap::new(),
            script: None,
        }
    }

    /// The encodings are pinned: these digests change only with a new encoding version.
    #[test]
    fn golden_vectors() {
        let d = sample();
        assert_eq!(d.basehash().to_string(), "b3:635dd9141117ca72e06fb5fb7afb31f12d214ce4c9fe5072eb490943a7a5747c");
        let host = HostFingerprint::from_digest(Digest::of_bytes(b"host"));
        let dep = Unihash::from_digest(Digest::of_bytes(b"dep"));
        assert_eq!(
            taskhash(&d.basehash(), Some(&host), &[dep]).to_string(),
            "b3:eac7ba0f38e90feacf140ef5c8a2769bde50f51ae0d8e86a2ea01cb10408236c"
        );
        assert_eq!(
            taskhash(&d.basehash(), None, &[]).to_string(),
            "b3:e62ec593f9b0046d0ad4e9ecaf3a8d0d65597ac4e145afcc2f4cb88bef93ffaa"
        );
    }

    #[test]
    fn basehash_ignores_identity_dependencies_and_what_is_unhashed() {
        let a = sample();
        let mut b = sample();
        b.id.recipe = "other".into();
        b.deps.clear();
        b.script = Some("echo hi".into());
        b.unhashed.insert("DATETIME".into(), UnhashedValue { value: Some("now".into()), reason: Unhashed::IgnoredVar });
        assert_eq!(a.basehash(), b.basehash());
        let mut c = sample();
        c.inputs.insert("CFLAGS".into(), Some("-O3".into()));
        assert_ne!(a.basehash(), c.basehash());
    }

    #[test]
    fn a_value_cannot_imitate_a_boundary() {
        // Under a newline-separated encoding, a flag value holding the text of the next
        // section would collide with a derivation that has that section.
        let mut a = sample();
        a.flags.insert("dirs".into(), "${B}\nfixed_output\nname\0x".into());
        let mut b = sample();
        b.fixed_output.insert("name".into(), "x".into());
        assert_ne!(a.basehash(), b.basehash());
        // Unset and set-to-empty differ, and so do a name split differently.
        let mut c = sample();
        c.inputs.insert("EXTRA".into(), Some(String::new()));
        assert_ne!(sample().basehash(), c.basehash());
        let mut d = sample();
        d.flags = [("dirs$".to_owned(), "{B}".to_owned())].into();
        assert_ne!(sample().basehash(), d.basehash());
    }

    #[test]
    fn taskhash_is_order_independent() {
        let b = sample().basehash();
        let x = Unihash::from_digest(Digest::of_bytes(b"x"));
        let y = Unihash::from_digest(Digest::of_bytes(b"y"));
        assert_eq!(taskhash(&b, None, &[x, y]), taskhash(&b, None, &[y, x]));
        assert_ne!(taskhash(&b, None, &[x]), taskhash(&b, None, &[y]));
        let host = HostFingerprint::from_digest(Digest::of_bytes(b"host"));
        assert_ne!(taskhash(&b, None, &[x]), taskhash(&b, Some(&host), &[x]));
    }
}
