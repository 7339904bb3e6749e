//! Fidelity of the task graph against the real BitBake: `rstore graph
//! core-image-minimal` on openembedded-core, compared with what `bitbake -g
//! core-image-minimal` wrote for the same checkout and configuration
//! (`tests/fidelity/<release>/task-depends.dot.zst` and `pn-buildlist`; the release
//! is `RSTORE_FIDELITY_RELEASE`, by default master): the same recipes, the same task
//! nodes with the same labels, the same edges.
//!
//! Needs openembedded-core at the release's reference commit, so it is `#[ignore]`d
//! (cargo reports it as ignored); `scripts/fidelity DIR` runs it with
//! `RSTORE_OE_CORE_DIR` and `RSTORE_FIDELITY_RELEASE` set.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{Release, oe_core_build_dir};

/// A `task-depends.dot`: node → label, and the edges.
#[derive(Default)]
struct Dot {
    labels: BTreeMap<String, String>,
    edges: BTreeSet<(String, String)>,
}

fn parse_dot(text: &str) -> Dot {
    let mut dot = Dot::default();
    for line in text.lines() {
        if let Some((node, label)) = line.split_once(" [label=") {
            dot.labels.insert(node.trim_matches('"').to_owned(), label.trim_end_matches(']').to_owned());
        } else if let Some((a, b)) = line.split_once(" -> ") {
            dot.edges.insert((a.trim_matches('"').to_owned(), b.trim_matches('"').to_owned()));
        }
    }
    dot
}

/// Share of `want` found in `got`, in percent, with the first few missing and extra.
fn agreement<T: Ord + Clone + std::fmt::Debug>(what: &str, want: &BTreeSet<T>, got: &BTreeSet<T>) -> f64 {
    let common = want.intersection(got).count();
    let missing: Vec<&T> = want.difference(got).take(5).collect();
    let extra: Vec<&T> = got.difference(want).take(5).collect();
    let pct = if want.is_empty() { 100.0 } else { 100.0 * common as f64 / want.len() as f64 };
    eprintln!(
        "{what}: {common} of {} BitBake's agree ({pct:.2}%), {} extra in rstore{}{}",
        want.len(),
        got.difference(want).count(),
        if missing.is_empty() { String::new() } else { format!("; missing e.g. {missing:?}") },
        if extra.is_empty() { String::new() } else { format!("; extra e.g. {extra:?}") },
    );
    pct
}

#[test]
#[ignore = "needs openembedded-core: scripts/fidelity DIR runs it"]
fn core_image_minimal_graph_matches_bitbake() {
    let release = Release::selected();
    let oe = release.oe_core("compare task graphs");
    let build = oe_core_build_dir(&oe);
    let reference = &release.dir;
    eprintln!(
        "task graph of core-image-minimal against BitBake {} on openembedded-core {}",
        release.bitbake_version, release.name
    );
    let out = Command::new(env!("CARGO_BIN_EXE_rstore"))
        .arg("-C")
        .arg(build.path())
        .args(["graph", "core-image-minimal", "--format", "dot", "-o"])
        .arg(build.path())
        .output()
        .expect("run rstore graph");
    assert!(out.status.success(), "rstore graph failed:\n{}", String::from_utf8_lossy(&out.stderr));

    let ours = std::fs::read_to_string(build.path().join("task-depends.dot")).unwrap();
    let ours = ours.replace(&format!("{}/", oe.display()), "");
    let theirs = zstd::decode_all(std::fs::File::open(reference.join("task-depends.dot.zst")).unwrap()).unwrap();
    let theirs = String::from_utf8(theirs).unwrap();
    let (o, t) = (parse_dot(&ours), parse_dot(&theirs));

    let pn = |path: &Path| -> BTreeSet<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
    };
    let recipes = agreement(
        "recipes (pn-buildlist)",
        &pn(&reference.join("pn-buildlist")),
        &pn(&build.path().join("pn-buildlist")),
    );
    let nodes = agreement("task nodes", &t.labels.keys().cloned().collect(), &o.labels.keys().cloned().collect());
    let labels =
        agreement("node labels (PN, task, version, file)", &t.labels.iter().collect(), &o.labels.iter().collect());
    let edges = agreement("edges", &t.edges, &o.edges);
    let identical = ours == theirs;
    eprintln!("task-depends.dot byte-identical to BitBake's: {identical}");
    assert_eq!((recipes, nodes, labels, edges), (100.0, 100.0, 100.0, 100.0));
    assert!(identical, "the same graph, but not written the same way");
}
