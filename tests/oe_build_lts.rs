//! openembedded-core of an LTS release built by rstore with that release's BitBake (its
//! `bb` runs the layers' own tasks in the sandbox), compared with what the real BitBake
//! of that release built (`tests/oe-build/reference/lts/<release>/`, made by
//! `make-reference` there at the paths the sandbox gives tasks):
//!
//! - `makedevs-native` (its sources are in the layer; `PATCHTOOL = "patch"`, since
//!   quilt's exact source cannot be had offline): its `do_populate_sysroot` and
//!   `do_populate_lic` outputs file by file (paths, types, modes, sizes, contents);
//! - a no-op rebuild runs nothing.
//!
//! Needs openembedded-core of a release with a reference (`RSTORE_OE_CORE_DIR`, the
//! release found by its commit) and a BitBake checkout of that release
//! (`RSTORE_BITBAKE_DIR`), so it is `#[ignore]`d; `scripts/oe-build-lts` runs it.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Release, build_records, differences, known_differences, manifest, materialise, oe_core_build_dir, repo_root, rstore,
};

const RECIPE: &str = "makedevs-native";

/// `rstore build --json TARGET` in `dir` with the store `store`: each task's record by
/// its id, and the summary.
fn build(
    dir: &Path,
    store: &Path,
    target: &str,
) -> (std::collections::BTreeMap<String, serde_json::Value>, serde_json::Value) {
    build_records(rstore().arg("-C").arg(dir).arg("--store").arg(store).args(["build", "--json", target]))
}

/// The one directory below `root` whose path ends with `suffix`.
fn find_dir(root: &Path, suffix: &Path) -> PathBuf {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.ends_with(suffix) {
            return dir;
        }
        for entry in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap()) {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    panic!("no {} below {}", suffix.display(), root.display());
}

#[test]
#[ignore = "needs openembedded-core of an LTS release and its BitBake: scripts/oe-build-lts runs it"]
fn lts_native_recipe_matches_bitbake() {
    let oe = PathBuf::from(std::env::var_os("RSTORE_OE_CORE_DIR").expect("set RSTORE_OE_CORE_DIR"));
    let release = Release::of_tree(&oe);
    let oe = release.oe_core("build an LTS recipe");
    assert!(std::env::var_os("RSTORE_BITBAKE_DIR").is_some(), "set RSTORE_BITBAKE_DIR to a BitBake checkout");
    let reference = repo_root().join("tests/oe-build/reference/lts").join(&release.name);
    let build_dir = oe_core_build_dir(&oe);
    let local = build_dir.path().join("conf/local.conf");
    let mut text = std::fs::read_to_string(&local).unwrap();
    text.push_str("PATCHTOOL = \"patch\"\n");
    std::fs::write(&local, text).unwrap();
    let store = tempfile::tempdir().unwrap();

    let started = std::time::Instant::now();
    let (_, summary) = build(build_dir.path(), store.path(), RECIPE);
    assert_eq!(summary["failed"], 0, "{summary}");
    eprintln!(
        "built {RECIPE} on openembedded-core {} with BitBake {}: {} run in {:.1}s",
        release.name,
        release.bitbake_version,
        summary["run"],
        started.elapsed().as_secs_f64()
    );
    let lic_path = std::fs::read_to_string(reference.join(format!("{RECIPE}.populate_lic.path"))).unwrap();
    let checks = [
        ("do_populate_sysroot", "populate_sysroot", PathBuf::from(format!("x86_64/{RECIPE}"))),
        ("do_populate_lic", "populate_lic", PathBuf::from(lic_path.trim())),
    ];
    let out = tempfile::tempdir().unwrap();
    let mut known = known_differences(reference.parent().unwrap());
    let mut failures = Vec::new();
    for (task, kind, suffix) in checks {
        let (roots, summary) = build(build_dir.path(), store.path(), &format!("{RECIPE}:{task}"));
        assert_eq!(summary["run"], 0, "{RECIPE}:{task} was built by the recipe's build: {summary}");
        let id = format!("{RECIPE}:{task}");
        let root = roots[&id]["output_root"].as_str().unwrap_or_else(|| panic!("no output root for {id}"));
        let dest = out.path().join(kind);
        materialise(store.path(), root, &dest);
        let ours = manifest(&find_dir(&dest, &suffix));
        let theirs = std::fs::read_to_string(reference.join(format!("{RECIPE}.{kind}.jsonl"))).unwrap();
        let diff = differences(&theirs, &ours);
        for (path, (bitbake, rstore)) in &diff {
            match known.remove(&(id.clone(), path.clone())) {
                Some(why) => eprintln!("known difference: {id} {path}: {why}"),
                None => failures.push(format!(
                    "{id} {path} differs from BitBake {}'s:\n  BitBake: {}\n  rstore:  {}",
                    release.bitbake_version,
                    bitbake.as_deref().unwrap_or("(absent)"),
                    rstore.as_deref().unwrap_or("(absent)")
                )),
            }
        }
        eprintln!(
            "{id}: {} of {} files identical to BitBake's",
            theirs.lines().count() - diff.len(),
            theirs.lines().count()
        );
    }
    for ((id, path), _) in known {
        failures.push(format!("{id} {path} is listed in known-differences.tsv but no longer differs: remove the line"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let (_, again) = build(build_dir.path(), store.path(), RECIPE);
    assert_eq!(again["run"], 0, "a no-op rebuild runs nothing: {again}");
}
