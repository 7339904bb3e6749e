//! `tests/layers/meta-oe-offline` against its `sources.tsv`: for every recipe the layer
//! overlays, each remote file of its SRC_URI, as rstore reads the recipe with
//! openembedded-core, is listed there with the recipe's sha256, and every `.bbappend`
//! starts with the comment that says why.
//!
//! Needs openembedded-core at the reference commit, so it is `#[ignore]`d;
//! `scripts/fidelity DIR` runs it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::oe_core;

fn layer() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("tests/layers/meta-oe-offline")
}

/// file name → sha256, from sources.tsv.
fn sources() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(layer().join("sources.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 3, "sources.tsv: a row needs file, sha256 and Debian path: {l:?}");
            (cols[0].to_owned(), cols[1].to_owned())
        })
        .collect()
}

/// A recipe's expanded variable, or one of its flags.
fn getvar(build: &Path, recipe: &str, var: &str, flag: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.arg("-C").arg(build).args(["getvar", recipe, var, "--value"]);
    if let Some(f) = flag {
        cmd.args(["--flag", f]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "rstore getvar {recipe} {var}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
#[ignore = "needs openembedded-core: scripts/fidelity DIR runs it"]
fn overlay_sources_are_listed_with_their_checksums() {
    let oe = oe_core("check the offline overlay layer");
    let build = common::oe_core_build_dir(&oe);
    let bblayers = build.path().join("conf/bblayers.conf");
    let mut text = std::fs::read_to_string(&bblayers).unwrap();
    text.push_str(&format!("BBLAYERS += \"{}\"\n", layer().display()));
    std::fs::write(&bblayers, text).unwrap();

    let listed = sources();
    let recipes = [
        "quilt-native",
        "m4-native",
        "autoconf-native",
        "automake-native",
        "libtool-native",
        "gnu-config-native",
        "xz-native",
        "zlib-native",
        "flex-native",
        "gettext-minimal-native",
    ];
    for recipe in recipes {
        let src_uri = getvar(build.path(), recipe, "SRC_URI", None);
        let remote: Vec<&str> = src_uri.split_whitespace().filter(|u| !u.starts_with("file://")).collect();
        assert_eq!(remote.len(), 1, "{recipe}: one remote source expected, SRC_URI = {src_uri}");
        let url = remote[0].split(';').next().unwrap();
        let name = url.rsplit('/').next().unwrap();
        let sha = getvar(build.path(), recipe, "SRC_URI", Some("sha256sum"));
        assert_eq!(listed.get(name), Some(&sha), "{recipe}: {name} (sha256 {sha}) is not in sources.tsv as such");
    }

    let mut appends = Vec::new();
    for dir in ["recipes-core", "recipes-devtools", "recipes-extended"] {
        for recipe_dir in std::fs::read_dir(layer().join(dir)).unwrap() {
            for f in std::fs::read_dir(recipe_dir.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_some_and(|e| e == "bbappend") {
                    appends.push(p);
                }
            }
        }
    }
    assert!(appends.len() >= 8, "{appends:?}");
    for p in appends {
        let first = std::fs::read_to_string(&p).unwrap().lines().next().unwrap_or_default().to_owned();
        assert!(first.starts_with("# ") && first.len() > 40, "{} must start with why: {first:?}", p.display());
    }
}
