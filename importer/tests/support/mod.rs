//! Shared by the importer's integration tests: a private copy of the test layers,
//! build directories over it, and the path placeholders golden files use.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

/// The root of the repository (the importer crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the importer lives in the workspace")
        .to_path_buf()
}

/// Copy a directory tree (regular files and directories; Python caches left out).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("reading {}: {e}", from.display()))
        .map(|e| e.expect("directory entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&source, &target);
        } else {
            std::fs::copy(&source, &target).unwrap_or_else(|e| panic!("copying {}: {e}", source.display()));
        }
    }
}

/// A copy of `tests/layers` in a temporary directory, with build directories beside it.
pub struct TestLayers {
    tmp: tempfile::TempDir,
    /// The copy of `tests/layers`.
    pub layers: PathBuf,
}

impl TestLayers {
    pub fn new() -> TestLayers {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let layers = tmp.path().join("layers");
        copy_tree(&repo_root().join("tests/layers"), &layers);
        TestLayers { tmp, layers }
    }

    /// Make `<tmp>/<name>` a build directory using the given layers of the copy, with
    /// the test layers' `local.conf`. Returns its path.
    pub fn build_dir(&self, name: &str, layers: &[&str]) -> PathBuf {
        let dir = self.tmp.path().join(name);
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf).expect("conf directory");
        let list: Vec<String> = layers.iter().map(|l| self.layers.join(l).display().to_string()).collect();
        let bblayers = format!("BBPATH = \"${{TOPDIR}}\"\nBBFILES ?= \"\"\nBBLAYERS = \"{}\"\n", list.join(" "));
        std::fs::write(conf.join("bblayers.conf"), bblayers).expect("bblayers.conf");
        std::fs::copy(self.layers.join("templates/local.conf.sample"), conf.join("local.conf")).expect("local.conf");
        dir
    }
}

/// The build directory of the okay fixtures: meta-itest and meta-itest-extra.
pub const OKAY_LAYERS: [&str; 2] = ["meta-itest", "meta-itest-extra"];
/// The build directory of the fail fixtures: the okay layers and meta-itest-fail.
pub const FAIL_LAYERS: [&str; 3] = ["meta-itest", "meta-itest-extra", "meta-itest-fail"];

/// Replace the build directory by `${TOPDIR}` and the layers directory by
/// `${LAYERSDIR}`, as golden files write them.
pub fn normalise(text: &str, topdir: &Path, layers: &Path) -> String {
    text.replace(&topdir.display().to_string(), "${TOPDIR}").replace(&layers.display().to_string(), "${LAYERSDIR}")
}

/// Run `f` on a thread with a large stack: metadata may nest expansions (and the
/// Python calls between them) hundreds of levels deep, more than a test thread's
/// default stack holds.
pub fn with_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new().stack_size(64 << 20).spawn(f).expect("spawning a thread").join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Every file below `dir` whose name satisfies `keep`, sorted.
pub fn files_below(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
