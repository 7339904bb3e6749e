//! Embeds every Python file under `python/` (the `bb` compatibility package and the
//! start-up code) into the importer, as a table of (module name, is package, source).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("read python dir").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "tests" || n == "__pycache__") {
                continue;
            }
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

/// A hash of the Rust sources that decide what parsing produces (this crate and the
/// evaluator's derivation code), so the parse cache is not reused across rebuilds
/// that change them.
fn source_hash(manifest: &Path, dirs: &[PathBuf]) -> String {
    use std::hash::{Hash, Hasher};
    let mut files = Vec::new();
    for dir in dirs {
        collect_rs(dir, &mut files);
    }
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        rerun_if_changed(manifest, &f);
        f.file_name().hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// Watch `path`, named relative to this crate (cargo resolves it against the package
/// root): an absolute path would keep watching the clone that first ran this script
/// when another clone shares the target directory.
fn rerun_if_changed(manifest: &Path, path: &Path) {
    println!("cargo:rerun-if-changed={}", path.strip_prefix(manifest).unwrap_or(path).display());
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn main() {
    // Read at run time: a build script compiled in another clone of the repository may
    // be reused from a shared target directory, and must still read this clone.
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let sources = source_hash(&manifest, &[manifest.join("src"), manifest.join("../evaluator/src")]);
    println!("cargo:rustc-env=RSTORE_IMPORTER_SOURCES={sources}");
    let root = manifest.join("python");
    rerun_if_changed(&manifest, &root);
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut table = String::from("&[\n");
    for path in &files {
        rerun_if_changed(&manifest, path);
        let rel = path.strip_prefix(&root).expect("under root");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let last = parts.pop().expect("file name");
        let is_package = last == "__init__.py";
        if !is_package {
            parts.push(last.trim_end_matches(".py").to_owned());
        }
        let module = parts.join(".");
        writeln!(
            table,
            "    ({module:?}, {is_package}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {path:?})), {file:?}),",
            path = format!("/python/{}", rel.display()),
            file = format!("<rstore>/{}", rel.display())
        )
        .expect("write");
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("python_modules.rs");
    std::fs::write(out, table).expect("write table");
}
