//! The bundled layers through the binary, against real BitBake: a build directory
//! made by `rstore init`, read with `rstore recipes --json` (parallel workers, then
//! the parse cache), compared with `tests/fidelity/bundled-layers/expected.jsonl`
//! (what BitBake computes for every recipe and variant of `layers/`). The importer's
//! own `bundled_layers` test compares the rest of the recorded values (the
//! `network` and `rstore-builtin` task flags) through the library.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use common::{assert_no_crash, repo_root, rstore};
use serde_json::{Value, json};

const VARS: [&str; 10] = ["PN", "PV", "PR", "BPN", "DEPENDS", "PROVIDES", "PACKAGES", "SRC_URI", "S", "LICENSE"];
const TASK_FLAGS: [&str; 5] = ["deptask", "rdeptask", "recrdeptask", "depends", "noexec"];

fn recipes(build: &std::path::Path, vars: &[String]) -> Vec<Value> {
    let out = rstore()
        .arg("-C")
        .arg(build)
        .args(["recipes", "--json", "--tasks", "--vars", &vars.join(",")])
        .output()
        .unwrap();
    assert_no_crash(&out, "rstore recipes");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn bundled_layers_through_the_binary_match_bitbake() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = repo_root().join("layers").canonicalize().unwrap();
    let out = rstore().current_dir(tmp.path()).args(["init", "build"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let build = tmp.path().join("build");
    let filter = |s: &str| {
        s.replace(&build.display().to_string(), "${TOPDIR}").replace(&layers.display().to_string(), "${LAYERSDIR}")
    };

    let text = std::fs::read_to_string(repo_root().join("tests/fidelity/bundled-layers/expected.jsonl")).unwrap();
    let expected: BTreeMap<String, Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|r| r["fn"].as_str().map(|t| (t.to_owned(), r.clone())))
        .collect();
    let mut vars: Vec<String> = VARS.iter().map(|v| (*v).to_owned()).collect();
    vars.push("RDEPENDS:${PN}".into());
    let packages: BTreeSet<String> =
        expected.values().flat_map(|r| r["packages"].as_object().unwrap().keys().cloned()).collect();
    for p in &packages {
        vars.push(format!("FILES:{p}"));
        vars.push(format!("RDEPENDS:{p}"));
    }

    // Twice: parsed by the workers, then served from the parse cache.
    for round in ["parsed", "cached"] {
        let mut problems = String::new();
        let mut checked = 0;
        let records = recipes(&build, &vars);
        let targets: BTreeSet<String> = records.iter().map(|r| filter(r["target"].as_str().unwrap())).collect();
        assert_eq!(targets, expected.keys().cloned().collect::<BTreeSet<_>>(), "{round}: the recipes and variants");
        for r in &records {
            let target = filter(r["target"].as_str().unwrap());
            let want = &expected[&target];
            let mut compare = |what: &str, want: &Value, got: Value| {
                checked += 1;
                if *want != got {
                    let _ = writeln!(problems, "{target}: {what}\n  bitbake: {want}\n  rstore:  {got}");
                }
            };
            let value = |name: &str| match &r[name] {
                Value::String(s) => Value::String(filter(s)),
                other => other.clone(),
            };
            for name in VARS.iter().copied().chain(["RDEPENDS:${PN}"]) {
                compare(name, &want[name], value(name));
            }
            for (pkg, values) in want["packages"].as_object().unwrap() {
                for var in ["FILES", "RDEPENDS"] {
                    let name = format!("{var}:{pkg}");
                    compare(&name, &values[var], value(&name));
                }
            }
            let want_tasks = want["tasks"].as_object().unwrap();
            let got_tasks: BTreeSet<&str> =
                r["tasks"].as_array().unwrap().iter().map(|t| t["task"].as_str().unwrap()).collect();
            compare("tasks", &json!(want_tasks.keys().collect::<BTreeSet<_>>()), json!(got_tasks));
            for t in r["tasks"].as_array().unwrap() {
                let name = t["task"].as_str().unwrap();
                let Some(want_task) = want_tasks.get(name) else { continue };
                let mut deps: Vec<String> =
                    t["deps"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
                deps.sort();
                compare(&format!("{name} deps"), &want_task["deps"], json!(deps));
                for flag in TASK_FLAGS {
                    let got = match &t[flag] {
                        Value::String(s) if !s.is_empty() => Value::String(s.clone()),
                        _ => Value::Null,
                    };
                    compare(&format!("{name}[{flag}]"), &want_task[flag], got);
                }
            }
        }
        assert!(problems.is_empty(), "{round}: rstore and BitBake differ:\n{problems}");
        assert!(checked > 800, "{round}: only {checked} values compared");
    }
}
