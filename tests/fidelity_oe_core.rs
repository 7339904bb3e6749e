//! Fidelity against the real BitBake: parse openembedded-core with the reference
//! configuration and compare every recipe's values with what BitBake computed
//! (`tests/fidelity/<release>/recipes.jsonl.zst`; the release is
//! `RSTORE_FIDELITY_RELEASE`, by default master).
//!
//! Needs openembedded-core at the release's reference commit, so it is `#[ignore]`d
//! (cargo reports it as ignored); `scripts/fidelity DIR` runs it with
//! `RSTORE_OE_CORE_DIR` and `RSTORE_FIDELITY_RELEASE` set.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;

use common::{Release, oe_core_build_dir};

use serde_json::Value;

const FIELDS: [&str; 14] = [
    "PN",
    "PV",
    "PR",
    "PE",
    "DEPENDS",
    "PROVIDES",
    "RDEPENDS:${PN}",
    "PACKAGES",
    "SRC_URI",
    "S",
    "LICENSE",
    "inherits",
    "tasks",
    "skipped",
];
/// Variables that must match for every recipe (the others for at least 99%).
const EXACT: [&str; 4] = ["PN", "PV", "tasks", "skipped"];

fn reference(release: &Release) -> HashMap<String, Value> {
    let path = release.file("recipes.jsonl.zst");
    let bytes = zstd::decode_all(std::fs::File::open(path).expect("reference file")).expect("zstd");
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["file"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

/// Put our absolute paths in the reference's form.
fn normalise(v: &Value, topdir: &str, oe: &str, relative: bool) -> Value {
    match v {
        Value::String(s) => {
            let s = s.replace(topdir, "${TOPDIR}");
            let s = if relative { s.replace(&format!("{oe}/"), "") } else { s.replace(oe, "${COREBASE}") };
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalise(x, topdir, oe, relative)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), normalise(x, topdir, oe, relative))).collect())
        }
        other => other.clone(),
    }
}

fn tasks_key(v: Option<&Value>) -> Option<Vec<String>> {
    let mut out: Vec<String> = v?
        .as_array()?
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if let Some(o) = t.as_object_mut() {
                o.remove("basehash");
            }
            serde_json::to_string(&t).unwrap()
        })
        .collect();
    out.sort();
    Some(out)
}

#[test]
#[ignore = "needs openembedded-core: scripts/fidelity DIR runs it"]
fn oe_core_matches_bitbake() {
    let release = Release::selected();
    let oe = release.oe_core("run the fidelity check");
    let build = oe_core_build_dir(&oe);
    let topdir = build.path().canonicalize().unwrap().display().to_string();
    let oe_s = oe.display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_rstore"))
        .arg("-C")
        .arg(build.path())
        .args([
            "recipes",
            "--json",
            "--tasks",
            // Every task's signature computed too, as BitBake does while parsing: the
            // values must not depend on it.
            "--signatures",
            "--inherits",
            "--vars",
            "DEPENDS,PROVIDES,RDEPENDS:${PN},PACKAGES,SRC_URI,S,LICENSE",
        ])
        .output()
        .expect("run rstore");
    assert!(out.status.success(), "rstore recipes failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let ours: HashMap<String, Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let target = normalise(&v["target"], &topdir, &oe_s, true).as_str().unwrap().to_owned();
            (target, v)
        })
        .collect();
    let reference = reference(&release);
    let mut matched: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut mismatches: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let missing: Vec<&String> = reference.keys().filter(|k| !ours.contains_key(*k)).collect();
    for (name, r) in &reference {
        let Some(o) = ours.get(name) else { continue };
        let skipped = r["skipped"].as_bool().unwrap_or(false);
        for field in FIELDS {
            if skipped && !matches!(field, "PN" | "skipped") {
                continue;
            }
            let equal = match field {
                "inherits" => r.get("inherit_files") == Some(&normalise(&o["inherits"], &topdir, &oe_s, true)),
                "tasks" => tasks_key(r.get("tasks")) == tasks_key(Some(&o["tasks"])),
                "skipped" => r["skipped"] == o["skipped"],
                f => {
                    r.get(f).unwrap_or(&Value::Null)
                        == &normalise(o.get(f).unwrap_or(&Value::Null), &topdir, &oe_s, false)
                }
            };
            let e = matched.entry(field).or_default();
            e.1 += 1;
            if equal {
                e.0 += 1;
            } else {
                mismatches.entry(field).or_default().push(name.clone());
            }
        }
    }
    eprintln!(
        "fidelity against BitBake {} on openembedded-core {} ({} reference targets, {} parsed by rstore)",
        release.bitbake_version,
        release.name,
        reference.len(),
        ours.len()
    );
    eprintln!("{:<16} {:>12} {:>9}", "variable", "exact", "percent");
    for field in FIELDS {
        let (ok, total) = matched.get(field).copied().unwrap_or_default();
        eprintln!("{field:<16} {:>12} {:>8.2}%", format!("{ok}/{total}"), 100.0 * ok as f64 / total.max(1) as f64);
        for name in mismatches.get(field).into_iter().flatten().take(10) {
            eprintln!("    differs: {name}");
        }
    }
    assert!(missing.is_empty(), "targets BitBake has and rstore does not: {missing:?}");
    for field in FIELDS {
        let (ok, total) = matched.get(field).copied().unwrap_or_default();
        let percent = 100.0 * ok as f64 / total.max(1) as f64;
        if EXACT.contains(&field) {
            assert_eq!(ok, total, "{field} must match for every recipe");
        } else {
            assert!(percent >= 99.0, "{field} matches for only {percent:.2}% of recipes");
        }
    }
}
