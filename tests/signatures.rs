//! Properties of task signatures (derivation basehashes) on the bundled layers:
//! they do not depend on where the layers and the build directory are, who runs the
//! build or where TMPDIR is; they change exactly for the tasks that read what changed;
//! comments and white space outside functions change nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A private copy of the bundled layers and a build directory for them.
struct Checkout {
    _root: tempfile::TempDir,
    layers: PathBuf,
    build: PathBuf,
}

fn checkout(local_conf_extra: &str) -> Checkout {
    let root = tempfile::tempdir().unwrap();
    let layers = root.path().join("src/layers");
    copy_dir(
        &Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")).join("layers"),
        &layers,
    );
    let build = root.path().join("b");
    let out = Command::new(env!("CARGO_BIN_EXE_rstore"))
        .arg("init")
        .arg(&build)
        .arg("--layers")
        .arg(&layers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let local = build.join("conf/local.conf");
    let mut text = std::fs::read_to_string(&local).unwrap();
    text.push_str(local_conf_extra);
    std::fs::write(local, text).unwrap();
    Checkout { _root: root, layers, build }
}

/// `target:task` → basehash for every task of every recipe.
fn basehashes(build: &Path, env: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.arg("-C").arg(build).args(["recipes", "--json", "--signatures"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "rstore recipes failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let mut hashes = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let pn = r["PN"].as_str().unwrap().to_owned();
        for t in r["tasks"].as_array().unwrap() {
            let h = t["basehash"].as_str().unwrap_or_else(|| panic!("{pn}:{} has no basehash", t["task"])).to_owned();
            hashes.insert(format!("{pn}:{}", t["task"].as_str().unwrap()), h);
        }
    }
    assert!(hashes.len() > 100, "only {} tasks", hashes.len());
    hashes
}

fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same tasks");
    a.iter().filter(|(k, v)| b[*k] != **v).map(|(k, _)| k.clone()).collect()
}

#[test]
fn hashes_do_not_depend_on_paths_users_or_tmpdir() {
    let one = checkout("");
    let two = checkout("TMPDIR = \"${TOPDIR}/elsewhere/tmp\"\n");
    assert_ne!(one.layers, two.layers);
    let a = basehashes(&one.build, &[("USER", "alice"), ("HOME", "/home/alice"), ("LOGNAME", "alice")]);
    let b = basehashes(&two.build, &[("USER", "bob"), ("HOME", "/var/lib/bob"), ("LOGNAME", "bob")]);
    assert_eq!(changed(&a, &b), Vec::<String>::new());
}

#[test]
fn only_tasks_that_read_a_variable_change_with_it() {
    let co = checkout("");
    // hello's compile task declares that it reads RSTORE_PROBE; nothing else does.
    let append = co.layers.join("meta-demo/recipes-demo/hello/hello_%.bbappend");
    std::fs::write(&append, "do_compile[vardeps] += \"RSTORE_PROBE\"\n").unwrap();
    let local = co.build.join("conf/local.conf");
    let base = std::fs::read_to_string(&local).unwrap();
    std::fs::write(&local, format!("{base}RSTORE_PROBE = \"one\"\nRSTORE_UNREAD = \"one\"\n")).unwrap();
    let before = basehashes(&co.build, &[]);

    std::fs::write(&local, format!("{base}RSTORE_PROBE = \"one\"\nRSTORE_UNREAD = \"two\"\n")).unwrap();
    let unread = basehashes(&co.build, &[]);
    assert_eq!(changed(&before, &unread), Vec::<String>::new(), "a variable no task reads changes no hash");

    std::fs::write(&local, format!("{base}RSTORE_PROBE = \"two\"\nRSTORE_UNREAD = \"two\"\n")).unwrap();
    let read = basehashes(&co.build, &[]);
    assert_eq!(changed(&unread, &read), vec!["hello:do_compile".to_owned()]);
}

#[test]
fn comments_and_white_space_outside_functions_change_nothing() {
    let co = checkout("");
    let before = basehashes(&co.build, &[]);
    let recipe = co.layers.join("meta-core/recipes-core/zlib/zlib_1.3.1.bb");
    let text = std::fs::read_to_string(&recipe).unwrap();
    let edited: String = text
        .lines()
        .map(|l| {
            if l.contains(" = ") && !l.starts_with(' ') && !l.starts_with('\t') {
                format!("# a comment\n\n{l}   ")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&recipe, format!("# edited\n\n{edited}\n\n# end\n")).unwrap();
    let after = basehashes(&co.build, &[]);
    assert_eq!(changed(&before, &after), Vec::<String>::new());
}
