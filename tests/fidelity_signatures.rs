//! Fidelity of task signatures against the real BitBake: for each task in
//! `tests/fidelity/oe-core/taskdeps-*.json`, the variables and functions rstore's
//! derivation reads must be exactly those BitBake's signature depends on
//! (`basehash_vars`), with the same values (`varvals`).
//!
//! Runs when `RSTORE_OE_CORE_DIR` names an openembedded-core checkout at the reference
//! commit; otherwise it says so and passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const OE_CORE_COMMIT: &str = "35a2c6ed7987763dadbe45ad86095e1aee1c7314";
const RECIPES: [&str; 5] = ["zlib", "busybox", "glibc", "base-files", "core-image-minimal"];

fn oe_core() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("RSTORE_OE_CORE_DIR").map(PathBuf::from) else {
        eprintln!(
            "skipping: set RSTORE_OE_CORE_DIR to an openembedded-core checkout at {OE_CORE_COMMIT} to run the signature fidelity check"
        );
        return None;
    };
    let head = Command::new("git").arg("-C").arg(&dir).args(["rev-parse", "HEAD"]).output().ok()?;
    if String::from_utf8_lossy(&head.stdout).trim() != OE_CORE_COMMIT {
        eprintln!("skipping: {} is not at {OE_CORE_COMMIT}", dir.display());
        return None;
    }
    dir.canonicalize().ok()
}

fn build_dir(oe: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let templates = oe.join("meta/conf/templates/default");
    let bblayers = std::fs::read_to_string(templates.join("bblayers.conf.sample")).unwrap();
    std::fs::write(conf.join("bblayers.conf"), bblayers.replace("##OEROOT##", &oe.display().to_string())).unwrap();
    let mut local = std::fs::read_to_string(templates.join("local.conf.sample")).unwrap();
    local.push_str(
        "MACHINE = \"qemux86-64\"\nBB_NUMBER_THREADS = \"2\"\nBB_NUMBER_PARSE_THREADS = \"2\"\nBB_NO_NETWORK = \"1\"\n",
    );
    std::fs::write(conf.join("local.conf"), local).unwrap();
    dir
}

/// Values as the reference writes them: integers as numbers, scratch paths as `${COREBASE}`.
fn same_value(reference: &Value, ours: Option<&Value>) -> bool {
    let ours = ours.and_then(Value::as_str).map(|s| s.replace("${LAYER:meta}", "${COREBASE}/meta"));
    match (reference, ours) {
        (Value::Null, None) => true,
        (Value::Null, Some(o)) => o.is_empty(),
        (Value::String(r), Some(o)) => *r == o,
        // Numbers as the reference writes them (Value == String only matches strings).
        (other, Some(o)) => {
            let rendered = other.to_string();
            rendered == o
        }
        (_, None) => false,
    }
}

#[test]
fn task_signatures_match_bitbake() {
    let Some(oe) = oe_core() else { return };
    let build = build_dir(&oe);
    let (mut tasks, mut exact_sets, mut values, mut exact_values) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for pn in RECIPES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fidelity/oe-core/taskdeps-{pn}.json"));
        let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for (task, r) in reference["tasks"].as_object().unwrap() {
            let out = Command::new(env!("CARGO_BIN_EXE_rstore"))
                .arg("-C")
                .arg(build.path())
                .args(["show", &format!("{pn}:{task}"), "--json"])
                .output()
                .unwrap();
            assert!(out.status.success(), "rstore show {pn}:{task}: {}", String::from_utf8_lossy(&out.stderr));
            let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
            let inputs = ours["inputs"].as_object().unwrap();
            let ours_set: BTreeSet<&str> = inputs.keys().map(String::as_str).filter(|k| k != task).collect();
            let ref_set: BTreeSet<&str> =
                r["basehash_vars"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            tasks += 1;
            if ours_set == ref_set {
                exact_sets += 1;
            } else {
                problems.push(format!(
                    "{pn}:{task}: missing {:?}, extra {:?}",
                    ref_set.difference(&ours_set).collect::<Vec<_>>(),
                    ours_set.difference(&ref_set).collect::<Vec<_>>()
                ));
            }
            for (k, v) in r["varvals"].as_object().unwrap() {
                values += 1;
                if same_value(v, inputs.get(k)) {
                    exact_values += 1;
                } else {
                    problems.push(format!("{pn}:{task}: {k} = {:?}, BitBake hashed {v}", inputs.get(k)));
                }
            }
        }
    }
    eprintln!(
        "signature fidelity against BitBake: {exact_sets}/{tasks} tasks with identical variable sets, {exact_values}/{values} values identical"
    );
    for p in &problems {
        eprintln!("    {p}");
    }
    assert!(problems.is_empty(), "{} differences", problems.len());
}
