//! Saved task graphs, and why a task's hash changed since one was saved.
//!
//! A snapshot records, for every task of a graph, its derivation (each input as the
//! digest of its value, values stored once in a table), its basehash, its dependencies
//! and its taskhash computed without hash equivalence (so it depends on metadata only).
//! Comparing a task with its snapshot finds the root causes of a change: inputs that
//! changed value, appeared or disappeared (with the old and new values), files, flags
//! or checksums that changed — following changed dependencies down to the tasks whose
//! own derivation changed.

use std::collections::{BTreeMap, BTreeSet};

use rstore_store::{Basehash, BlobDigest, Digest, Taskhash, Unihash};
use serde::{Deserialize, Serialize};

use crate::derivation::{Derivation, taskhash, value_digest};
use crate::graph::Graph;

/// One task in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    pub basehash: Basehash,
    /// The taskhash from metadata alone: no host fingerprint, no hash equivalence.
    pub taskhash: Taskhash,
    pub deps: Vec<String>,
    /// Input name → digest of its value (None when unset).
    pub inputs: BTreeMap<String, Option<Digest>>,
    pub files: BTreeMap<String, BlobDigest>,
    pub flags: BTreeMap<String, String>,
    pub fixed_output: BTreeMap<String, String>,
}

/// A saved graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub targets: Vec<String>,
    /// `recipe:task` → task.
    pub tasks: BTreeMap<String, TaskSnapshot>,
    /// Value digest → value.
    pub values: BTreeMap<Digest, String>,
}

/// Snapshot format version (2: typed `b3:` digests, derivation encoding version 2).
pub const FORMAT: u32 = 2;

impl Snapshot {
    /// Build from derivations (with their dependencies by id) in any order. A
    /// dependency that is not among the derivations (a skipped recipe) is listed but
    /// contributes nothing to the taskhash.
    pub fn new(targets: Vec<String>, derivations: &[Derivation]) -> Snapshot {
        let mut snap = Snapshot { format: FORMAT, targets, ..Snapshot::default() };
        let mut graph: Graph<&Derivation> = Graph::with_capacity(derivations.len(), 0);
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        for d in derivations {
            by_id.insert(d.id.to_string(), graph.add_node(d));
        }
        for (i, d) in derivations.iter().enumerate() {
            for dep in &d.deps {
                if let Some(&j) = by_id.get(&dep.to_string()) {
                    graph.add_edge(i, j);
                }
            }
        }
        // Taskhashes need the dependencies' first. On a cycle (which a task graph
        // never has) the nodes that cannot be ordered are left out.
        let order = graph.topological_order().unwrap_or_default();
        let mut hashes: Vec<Option<Taskhash>> = vec![None; graph.len()];
        for i in order {
            let d = *graph.node(i);
            let deps: Vec<Unihash> = graph.deps(i).filter_map(|j| hashes[j]).map(Unihash::from_taskhash).collect();
            let basehash = d.basehash();
            let th = taskhash(&basehash, None, &deps);
            hashes[i] = Some(th);
            let mut inputs = BTreeMap::new();
            for (k, v) in &d.inputs {
                let digest = value_digest(v.as_deref());
                if let (Some(digest), Some(v)) = (digest, v) {
                    snap.values.entry(digest).or_insert_with(|| v.clone());
                }
                inputs.insert(k.clone(), digest);
            }
            snap.tasks.insert(
                d.id.to_string(),
                TaskSnapshot {
                    basehash,
                    taskhash: th,
                    deps: d.deps.iter().map(|t| t.to_string()).collect(),
                    inputs,
                    files: d.files.clone(),
                    flags: d.flags.clone(),
                    fixed_output: d.fixed_output.clone(),
                },
            );
        }
        snap
    }

    fn value(&self, digest: &Option<Digest>) -> Option<&str> {
        digest.as_ref().and_then(|d| self.values.get(d)).map(String::as_str)
    }
}

/// One thing that differs in a task's own derivation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What changed: an input variable or function, `file PATH`, `flag NAME`, `checksum NAME`.
    pub what: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Why one task's hash changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Cause {
    /// The task is new (it was not in the saved graph).
    New { task: String },
    /// Its own derivation changed.
    Derivation { task: String, changes: Vec<Change> },
    /// Only dependencies changed: the chain below leads to the root causes.
    Dependencies { task: String, changed: Vec<String>, added: Vec<String>, removed: Vec<String> },
}

fn map_changes<V: PartialEq + ToString>(
    kind: &str,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    out: &mut Vec<Change>,
) {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for k in keys {
        let (o, n) = (old.get(k), new.get(k));
        if o != n {
            out.push(Change {
                what: format!("{kind} {k}"),
                old: o.map(ToString::to_string),
                new: n.map(ToString::to_string),
            });
        }
    }
}

/// Explain why `task` differs between `old` and `new`: the causes in the order they
/// were found, from the task down to the root causes.
pub fn explain(old: &Snapshot, new: &Snapshot, task: &str) -> Vec<Cause> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![task.to_owned()];
    while let Some(t) = stack.pop() {
        if !seen.insert(t.clone()) {
            continue;
        }
        let Some(n) = new.tasks.get(&t) else { continue };
        let Some(o) = old.tasks.get(&t) else {
            out.push(Cause::New { task: t });
            continue;
        };
        if o.taskhash == n.taskhash {
            continue;
        }
        if o.basehash != n.basehash {
            let mut changes = Vec::new();
            let keys: BTreeSet<&String> = o.inputs.keys().chain(n.inputs.keys()).collect();
            for k in keys {
                let (od, nd) = (o.inputs.get(k), n.inputs.get(k));
                if od != nd {
                    changes.push(Change {
                        what: k.clone(),
                        old: od.and_then(|d| old.value(d)).map(str::to_owned).or_else(|| od.map(|_| "(unset)".into())),
                        new: nd.and_then(|d| new.value(d)).map(str::to_owned).or_else(|| nd.map(|_| "(unset)".into())),
                    });
                }
            }
            map_changes("file", &o.files, &n.files, &mut changes);
            map_changes("flag", &o.flags, &n.flags, &mut changes);
            map_changes("checksum", &o.fixed_output, &n.fixed_output, &mut changes);
            out.push(Cause::Derivation { task: t.clone(), changes });
        }
        let old_deps: BTreeSet<&String> = o.deps.iter().collect();
        let new_deps: BTreeSet<&String> = n.deps.iter().collect();
        let added: Vec<String> = new_deps.difference(&old_deps).map(|s| (*s).clone()).collect();
        let removed: Vec<String> = old_deps.difference(&new_deps).map(|s| (*s).clone()).collect();
        let changed: Vec<String> = n
            .deps
            .iter()
            .filter(|d| {
                old_deps.contains(d) && old.tasks.get(*d).map(|x| &x.taskhash) != new.tasks.get(*d).map(|x| &x.taskhash)
            })
            .cloned()
            .collect();
        if o.basehash == n.basehash || !changed.is_empty() || !added.is_empty() || !removed.is_empty() {
            if !(changed.is_empty() && added.is_empty() && removed.is_empty()) {
                out.push(Cause::Dependencies {
                    task: t.clone(),
                    changed: changed.clone(),
                    added: added.clone(),
                    removed,
                });
            }
            stack.extend(changed.into_iter().rev());
            stack.extend(added);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derivation::{TaskId, TaskKind};

    fn drv(recipe: &str, task: &str, cflags: &str, deps: &[(&str, &str)]) -> Derivation {
        Derivation {
            id: TaskId { recipe: recipe.into(), task: task.into() },
            kind: TaskKind::Shell,
            inputs: [(task.to_owned(), Some("oe_runmake".to_owned())), ("CFLAGS".to_owned(), Some(cflags.to_owned()))]
                .into(),
            files: BTreeMap::new(),
            flags: BTreeMap::new(),
            fixed_output: BTreeMap::new(),
            deps: deps.iter().map(|(r, t)| TaskId { recipe: (*r).into(), task: (*t).into() }).collect(),
            unhashed: BTreeMap::new(),
            script: None,
        }
    }

    #[test]
    fn follows_dependencies_to_the_changed_variable() {
        let old = Snapshot::new(
            vec![],
            &[drv("zlib", "do_compile", "-O2", &[]), drv("zlib", "do_install", "-O2x", &[("zlib", "do_compile")])],
        );
        let new = Snapshot::new(
            vec![],
            &[drv("zlib", "do_compile", "-O3", &[]), drv("zlib", "do_install", "-O2x", &[("zlib", "do_compile")])],
        );
        let causes = explain(&old, &new, "zlib:do_install");
        assert_eq!(
            causes,
            vec![
                Cause::Dependencies {
                    task: "zlib:do_install".into(),
                    changed: vec!["zlib:do_compile".into()],
                    added: vec![],
                    removed: vec![]
                },
                Cause::Derivation {
                    task: "zlib:do_compile".into(),
                    changes: vec![Change { what: "CFLAGS".into(), old: Some("-O2".into()), new: Some("-O3".into()) }]
                },
            ]
        );
        assert!(explain(&old, &old, "zlib:do_install").is_empty());
    }
}
