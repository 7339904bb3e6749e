//! Helpers shared by the end-to-end tests of the metadata commands: a private copy of
//! the test layers (`tests/layers`) with a build directory over it, the `rstore`
//! binary run in it, and filters that make output comparable (paths replaced by
//! `${TOPDIR}` and `${LAYERSDIR}`, durations by `[TIME]`).
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
}

/// The `rstore` binary, with no environment that changes where it looks.
pub fn rstore() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.env_remove("RUST_LOG").env_remove("RSTORE_LAYERS_DIR").env_remove("RSTORE_STORE");
    cmd
}

/// Fail the test if rstore panicked or was killed, whatever else it did.
pub fn assert_no_crash(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "{what}: killed by a signal ({:?})\n{stderr}", out.status);
    assert_ne!(out.status.code(), Some(101), "{what}: panicked\n{stderr}");
    assert!(!stderr.contains("panicked at"), "{what}: panicked\n{stderr}");
}

/// Copy a directory tree (regular files and directories).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(from).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name() == "__pycache__" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The layers of the okay fixtures.
pub const OKAY_LAYERS: [&str; 2] = ["meta-itest", "meta-itest-extra"];
/// The okay layers and the one whose recipes all fail.
pub const FAIL_LAYERS: [&str; 3] = ["meta-itest", "meta-itest-extra", "meta-itest-fail"];

/// A copy of the test layers and a build directory using some of them.
pub struct Build {
    pub tmp: tempfile::TempDir,
    /// The copy of `tests/layers`.
    pub layers: PathBuf,
    /// The build directory (`conf/bblayers.conf`, `conf/local.conf`).
    pub dir: PathBuf,
}

impl Build {
    pub fn new(layers: &[&str]) -> Build {
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join("layers");
        copy_tree(&repo_root().join("tests/layers"), &copy);
        let dir = tmp.path().join("build");
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        let list: Vec<String> = layers.iter().map(|l| copy.join(l).display().to_string()).collect();
        std::fs::write(
            dir.join("conf/bblayers.conf"),
            format!("BBPATH = \"${{TOPDIR}}\"\nBBFILES ?= \"\"\nBBLAYERS = \"{}\"\n", list.join(" ")),
        )
        .unwrap();
        std::fs::copy(copy.join("templates/local.conf.sample"), dir.join("conf/local.conf")).unwrap();
        Build { tmp, layers: copy, dir }
    }

    /// A path inside the copy of the layers.
    pub fn layer_file(&self, rel: &str) -> PathBuf {
        self.layers.join(rel)
    }

    /// Run `rstore -C <build dir> ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = rstore().arg("-C").arg(&self.dir).args(args).output().unwrap();
        assert_no_crash(&out, &format!("rstore {args:?}"));
        out
    }

    /// Run and require success; the filtered stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rstore {args:?} failed ({:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        self.filter(&String::from_utf8_lossy(&out.stdout))
    }

    /// Run and require failure; the filtered stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "rstore {args:?} should fail with status 1:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.filter(&String::from_utf8_lossy(&out.stderr))
    }

    /// Run, require success and parse stdout as one JSON document.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("rstore {args:?}: not JSON ({e}):\n{text}"))
    }

    /// Run, require success and parse stdout as one JSON document per line.
    pub fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        self.ok(args).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    /// Replace the build directory and the layers by placeholders.
    pub fn filter(&self, text: &str) -> String {
        text.replace(&self.dir.display().to_string(), "${TOPDIR}")
            .replace(&self.layers.display().to_string(), "${LAYERSDIR}")
    }

    /// Replace a file's text.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.layer_file(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Append a line to a file of the layers.
    pub fn append(&self, rel: &str, line: &str) {
        let path = self.layer_file(rel);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(line);
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }
}

/// Collapse every run of spaces (column padding) to one space.
pub fn squeeze(text: &str) -> String {
    text.lines()
        .map(|l| l.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replace `in 0.12s`-style durations by `in [TIME]`.
pub fn filter_time(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match line.rfind(" in ") {
            Some(at) if line.ends_with('s') && line[at + 4..line.len() - 1].parse::<f64>().is_ok() => {
                out.push_str(&line[..at]);
                out.push_str(" in [TIME]");
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// The text of a fail fixture's `.expected` file (comment lines left out).
pub fn expected_error(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n")
}

/// Every `fail-*.bb` of the test layers (in `layers`), sorted.
pub fn fail_fixtures(layers: &Path) -> Vec<PathBuf> {
    let dir = layers.join("meta-itest-fail/recipes-fail");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("fail-") && name.ends_with(".bb")
        })
        .collect();
    out.sort();
    out
}

/// A release of openembedded-core the fidelity tests compare against: the reference
/// values BitBake computed for it are in `tests/fidelity/<name>/`, and its
/// `release.conf` says which commits they were computed at. Adding a release is adding
/// such a folder.
pub struct Release {
    /// The folder's name (`master`, `scarthgap`, ...).
    pub name: String,
    /// `tests/fidelity/<name>`.
    pub dir: PathBuf,
    /// The openembedded-core commit of the reference values.
    pub oe_core_commit: String,
    /// `bb.__version__` of the BitBake that computed them.
    pub bitbake_version: String,
}

impl Release {
    /// The release `RSTORE_FIDELITY_RELEASE` names (`scripts/fidelity` sets it), by
    /// default `master`.
    pub fn selected() -> Release {
        Release::named(&std::env::var("RSTORE_FIDELITY_RELEASE").unwrap_or_else(|_| "master".to_owned()))
    }

    /// The release whose reference values are in `tests/fidelity/<name>`.
    pub fn named(name: &str) -> Release {
        let dir = repo_root().join("tests/fidelity").join(name);
        let conf = dir.join("release.conf");
        let text = std::fs::read_to_string(&conf)
            .unwrap_or_else(|e| panic!("{}: {e} (no reference values for release {name:?})", conf.display()));
        let value = |key: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{}: no {key}=", conf.display()))
                .trim()
                .to_owned()
        };
        Release {
            name: name.to_owned(),
            oe_core_commit: value("OE_CORE_COMMIT"),
            bitbake_version: value("BITBAKE_VERSION"),
            dir,
        }
    }

    /// The release whose `release.conf` names the commit of the openembedded-core tree
    /// `dir`; fails naming the commit when there is none.
    pub fn of_tree(dir: &Path) -> Release {
        let commit =
            commit_of(dir).unwrap_or_else(|| panic!("{}: not a checkout or an unpacked snapshot", dir.display()));
        let mut names: Vec<String> = std::fs::read_dir(repo_root().join("tests/fidelity"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| repo_root().join("tests/fidelity").join(n).join("release.conf").is_file())
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| Release::named(n))
            .find(|r| r.oe_core_commit == commit)
            .unwrap_or_else(|| panic!("{} is openembedded-core at {commit}: no release of {names:?} is", dir.display()))
    }

    /// A file of the reference values.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The openembedded-core tree that `RSTORE_OE_CORE_DIR` names, which must be at
    /// this release's commit. The fidelity tests that call this are `#[ignore]`d (cargo
    /// reports them as ignored) and run with `--ignored` by `scripts/fidelity DIR`;
    /// run without the variable, or on a tree at another commit, they fail and say why.
    pub fn oe_core(&self, check: &str) -> PathBuf {
        let Some(dir) = std::env::var_os("RSTORE_OE_CORE_DIR").map(PathBuf::from) else {
            panic!(
                "set RSTORE_OE_CORE_DIR to an openembedded-core tree at {} ({}) to {check} (scripts/fidelity DIR)",
                self.oe_core_commit, self.name
            );
        };
        let commit = commit_of(&dir);
        assert_eq!(
            commit.as_deref(),
            Some(self.oe_core_commit.as_str()),
            "{} is not openembedded-core at {} ({}): the reference values are for that commit",
            dir.display(),
            self.oe_core_commit,
            self.name
        );
        dir.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
    }
}

/// The file beside the layers of an unpacked snapshot (`git archive`) that says which
/// commit it is: `scripts/unpack-snapshot` writes it when it unpacks one.
pub const SNAPSHOT_COMMIT_FILE: &str = ".rstore-snapshot-commit";

/// The commit of an openembedded-core tree: `git rev-parse HEAD` of a checkout, or the
/// commit an unpacked snapshot records.
fn commit_of(dir: &Path) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(dir.join(SNAPSHOT_COMMIT_FILE)) {
        return Some(text.trim().to_owned());
    }
    let head = Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().ok()?;
    head.status.success().then(|| String::from_utf8_lossy(&head.stdout).trim().to_owned())
}

/// openembedded-core at the master reference commit (the builds and the offline
/// overlay layer are checked on master only).
pub fn oe_core(check: &str) -> PathBuf {
    Release::named("master").oe_core(check)
}

/// A build directory over openembedded-core `oe`, configured like the one the reference
/// values were computed in (its default templates, MACHINE qemux86-64, no network).
pub fn oe_core_build_dir(oe: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    // Where the release keeps its sample configuration (meta/conf before langdale).
    let templates = [oe.join("meta/conf/templates/default"), oe.join("meta/conf")]
        .into_iter()
        .find(|d| d.join("local.conf.sample").is_file())
        .expect("openembedded-core has a local.conf.sample");
    let bblayers = std::fs::read_to_string(templates.join("bblayers.conf.sample")).unwrap();
    std::fs::write(conf.join("bblayers.conf"), bblayers.replace("##OEROOT##", &oe.display().to_string())).unwrap();
    let mut local = std::fs::read_to_string(templates.join("local.conf.sample")).unwrap();
    local.push_str(
        "MACHINE = \"qemux86-64\"\nBB_NUMBER_THREADS = \"2\"\nBB_NUMBER_PARSE_THREADS = \"2\"\nBB_NO_NETWORK = \"1\"\n",
    );
    std::fs::write(conf.join("local.conf"), local).unwrap();
    dir
}

/// The manifest of a tree as `tests/oe-build/manifest.py` writes it.
pub fn manifest(dir: &Path) -> String {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/oe-build/manifest.py"))
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "manifest.py {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The paths whose manifest lines differ between two manifests, with both lines.
pub fn differences(
    expected: &str,
    actual: &str,
) -> std::collections::BTreeMap<String, (Option<String>, Option<String>)> {
    let by_path = |text: &str| -> std::collections::BTreeMap<String, String> {
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                (v["path"].as_str().unwrap().to_owned(), l.to_owned())
            })
            .collect()
    };
    let (e, a) = (by_path(expected), by_path(actual));
    let paths: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    paths
        .into_iter()
        .filter(|p| e.get(*p) != a.get(*p))
        .map(|p| (p.clone(), (e.get(p).cloned(), a.get(p).cloned())))
        .collect()
}

/// (task, path) → why, from `known-differences.tsv`.
pub fn known_differences(reference: &Path) -> std::collections::BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(reference.join("known-differences.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "known-differences.tsv: task, path, what, why: {l:?}");
            ((cols[0].to_owned(), cols[1].to_owned()), format!("{}: {}", cols[2], cols[3]))
        })
        .collect()
}

/// Run `rstore build --json …` (`cmd`, already given its arguments) and require success:
/// each task's record by its id, and the summary record.
pub fn build_records(cmd: &mut Command) -> (std::collections::BTreeMap<String, serde_json::Value>, serde_json::Value) {
    let out = cmd.output().unwrap();
    assert_no_crash(&out, "rstore build");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tasks = std::collections::BTreeMap::new();
    let mut summary = None;
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        match v["event"].as_str() {
            Some("task") => {
                tasks.insert(v["task"].as_str().unwrap().to_owned(), v);
            }
            Some("summary") => summary = Some(v),
            _ => {}
        }
    }
    (tasks, summary.expect("a summary record"))
}

/// A writable copy (modes as stored) of the tree `root` of the store `store` at `dest`,
/// made again when there.
pub fn materialise(store: &Path, root: &str, dest: &Path) {
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    if dest.exists() {
        std::fs::remove_dir_all(dest).unwrap();
    }
    let out = rstore()
        .arg("--store")
        .arg(store)
        .args(["store", "materialise", root])
        .arg(dest)
        .arg("--writable")
        .output()
        .unwrap();
    assert!(out.status.success(), "materialise {root}: {}", String::from_utf8_lossy(&out.stderr));
}
