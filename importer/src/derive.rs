//! From a finalised recipe datastore to one [`Derivation`] per task.
//!
//! The variables and functions each task reads come from [`crate::vardeps`]; here their
//! values are normalised so that no path of the build host remains (the build
//! directory, TMPDIR, COREBASE and every layer directory become `${TOPDIR}`,
//! `${TMPDIR}`, `${COREBASE}` and `${LAYER:name}`), local source files are hashed, and
//! the flags that change how a task runs and the checksums a fetch must produce are
//! added.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;

use rstore_evaluator::derivation::{BasehashInput, Derivation, TaskId, TaskKind, basehash, value_digest};
use rstore_store::{Basehash, BlobDigest, Digest};

use crate::datastore::{DataError, DataStore, Read};
use crate::truth::{flag_is_set, flag_to_boolean};
use crate::value::Value;
use crate::vardeps::{self, ModuleFunc, RecipeDeps};

/// Flags that change how a task runs; part of its derivation.
const RUN_FLAGS: [&str; 7] = ["dirs", "cleandirs", "network", "fakeroot", "umask", "rstore-builtin", "noexec"];
const CHECKSUM_KINDS: [&str; 5] = ["md5sum", "sha1sum", "sha256sum", "sha384sum", "sha512sum"];

/// Replaces host paths in values by stable names.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    /// (absolute path, replacement), longest path first.
    roots: Vec<(String, String)>,
}

impl Normalizer {
    /// The roots of a recipe or configuration datastore.
    pub fn new(d: &Rc<DataStore>) -> Result<Normalizer, DataError> {
        let mut roots: Vec<(String, String)> = Vec::new();
        let mut add = |path: Option<String>, name: String| {
            if let Some(p) = path {
                let p = p.trim_end_matches('/').to_owned();
                if p.starts_with('/') && p.len() >= 4 && !roots.iter().any(|(r, _)| *r == p) {
                    roots.push((p, name));
                }
            }
        };
        for layer in d.get_str("BBLAYERS")?.unwrap_or_default().split_whitespace() {
            let name = Path::new(layer).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            add(Some(layer.to_owned()), format!("${{LAYER:{name}}}"));
        }
        for var in ["TMPDIR", "TOPDIR", "COREBASE", "DL_DIR", "SSTATE_DIR", "RSTORE_STORE_DIR"] {
            add(d.get_str(var)?, format!("${{{var}}}"));
        }
        roots.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(Normalizer { roots })
    }

    pub fn apply(&self, value: &str) -> String {
        if !value.contains('/') {
            return value.to_owned();
        }
        let mut out = value.to_owned();
        for (path, name) in &self.roots {
            if out.contains(path.as_str()) {
                out = out.replace(path.as_str(), name);
            }
        }
        out
    }
}

fn flag(d: &Rc<DataStore>, var: &str, name: &str) -> Result<Option<String>, DataError> {
    Ok(d.get_var_flag(var, name, Read::EXPANDED)?.filter(|v| !matches!(v, Value::None)).map(|v| v.to_string()))
}

thread_local! {
    /// blake3 of each local file read this run.
    static FILE_HASHES: std::cell::RefCell<HashMap<std::path::PathBuf, Option<BlobDigest>>> = std::cell::RefCell::default();
}

fn hash_file(path: &Path) -> Option<BlobDigest> {
    if let Some(h) = FILE_HASHES.with(|c| c.borrow().get(path).copied()) {
        return h;
    }
    let h = std::fs::read(path).ok().map(|b| BlobDigest::of_contents(&b));
    FILE_HASHES.with(|c| c.borrow_mut().insert(path.to_path_buf(), h));
    h
}

/// The local files a task's `[file-checksums]` names, hashed: normalised path → blake3.
/// Every file is reported to `seen` so the parse cache tracks it.
fn file_checksums(
    d: &Rc<DataStore>,
    task: &str,
    norm: &Normalizer,
    seen: &mut dyn FnMut(&Path, bool),
) -> Result<BTreeMap<String, BlobDigest>, DataError> {
    let mut out = BTreeMap::new();
    let Some(list) = flag(d, task, "file-checksums")? else { return Ok(out) };
    for entry in list.split_whitespace() {
        let (path, exists) = match entry.rsplit_once(':') {
            Some((p, e)) => (p, e == "True"),
            None => (entry, true),
        };
        let p = Path::new(path);
        seen(p, p.exists());
        if !exists {
            continue;
        }
        let mut files = Vec::new();
        if p.is_dir() {
            collect_files(p, &mut files);
        } else if path.contains('*') {
            if let Ok(g) = glob::glob(path) {
                files.extend(g.filter_map(Result::ok));
            }
        } else {
            files.push(p.to_path_buf());
        }
        files.sort();
        for f in files {
            if let Some(h) = hash_file(&f) {
                seen(&f, true);
                out.insert(norm.apply(&f.display().to_string()), h);
            }
        }
    }
    Ok(out)
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if [".git", ".svn", ".hg", "CVS", ".bzr", ".repo"].iter().any(|x| name == *x) {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The derivations of a recipe's tasks: the analysis they come from, each task's
/// header (kind, flags, files, fixed output) and its basehash.
pub struct RecipeDerivations {
    pub pn: String,
    pub deps: RecipeDeps,
    pub norm: Normalizer,
    pub tasks: Vec<TaskHeader>,
}

/// What a task's derivation holds besides its inputs.
pub struct TaskHeader {
    pub task: String,
    pub kind: TaskKind,
    pub files: BTreeMap<String, BlobDigest>,
    pub flags: BTreeMap<String, String>,
    pub fixed_output: BTreeMap<String, String>,
    pub basehash: Basehash,
}

impl RecipeDerivations {
    /// The full derivation of one task (values normalised).
    pub fn derivation(&self, task: &str) -> Option<Derivation> {
        let h = self.tasks.iter().find(|t| t.task == task)?;
        let inputs =
            self.deps.task_inputs(task).into_iter().map(|(k, v)| (k, v.map(|v| self.norm.apply(&v)))).collect();
        Some(Derivation {
            id: TaskId { recipe: self.pn.clone(), task: task.to_owned() },
            kind: h.kind.clone(),
            inputs,
            files: h.files.clone(),
            flags: h.flags.clone(),
            fixed_output: h.fixed_output.clone(),
            deps: Default::default(),
            unhashed: BTreeMap::new(),
            script: None,
        })
    }

    /// The derivation of one task with what it runs and sees: for a shell task its run
    /// file and everything that file holds or references unhashed, written from `view`,
    /// the recipe's datastore as the sandbox sees it ([`crate::runfile::sandbox_view`]).
    pub fn derivation_to_run(&self, task: &str, view: &Rc<DataStore>) -> Result<Option<Derivation>, DataError> {
        let Some(mut drv) = self.derivation(task) else { return Ok(None) };
        if drv.kind == TaskKind::Shell {
            let run = crate::runfile::run_file(view, task)?;
            drv.unhashed = crate::runfile::unhashed(view, &run, &self.deps, task)?;
            drv.script = Some(run.script);
        }
        Ok(Some(drv))
    }
}

/// Analyse every task of a finalised recipe datastore. Each value is normalised and
/// hashed once, however many tasks read it.
pub fn derive(
    d: &Rc<DataStore>,
    module_funcs: &HashMap<String, ModuleFunc>,
    seen: &mut dyn FnMut(&Path, bool),
) -> Result<RecipeDerivations, DataError> {
    let deps = vardeps::generate(d, module_funcs)?;
    let norm = Normalizer::new(d)?;
    let pn = d.get_str("PN")?.unwrap_or_default();
    let mut fixed_output = BTreeMap::new();
    for (name, value) in d.get_var_flags("SRC_URI", &[], false)?.unwrap_or_default() {
        if CHECKSUM_KINDS.iter().any(|k| name == *k || name.ends_with(&format!(".{k}"))) {
            fixed_output.insert(name, d.expand(&value.to_string(), None)?);
        }
    }
    let mut digests: HashMap<&str, Option<Digest>> = HashMap::new();
    for (k, kd) in &deps.keys {
        digests.insert(&**k, value_digest(kd.value.as_deref().map(|v| norm.apply(v)).as_deref()));
    }
    let mut tasks = Vec::new();
    for task in &deps.tasks {
        let mut flags = BTreeMap::new();
        for f in RUN_FLAGS {
            if let Some(v) = flag(d, task, f)? {
                flags.insert(f.to_owned(), norm.apply(&v));
            }
        }
        let kind = if flag_is_set(d, task, "noexec")? {
            TaskKind::Noexec
        } else if flag_is_set(d, task, "python")? {
            TaskKind::Python
        } else {
            TaskKind::Shell
        };
        let network = flag_to_boolean(d, task, "network")?;
        let files = file_checksums(d, task, &norm, seen)?;
        let fixed = if network { fixed_output.clone() } else { BTreeMap::new() };
        let mut names: Vec<&str> = vec![task.as_str()];
        names.extend(deps.taskdeps.get(task).into_iter().flatten().map(|s| &**s));
        names.sort_unstable();
        names.dedup();
        let basehash = basehash(BasehashInput {
            kind: &kind,
            task,
            inputs: names.iter().map(|n| (*n, digests.get(n).and_then(Option::as_ref))),
            files: &files,
            flags: &flags,
            fixed_output: &fixed,
        });
        tasks.push(TaskHeader { task: task.clone(), kind, files, flags, fixed_output: fixed, basehash });
    }
    d.forget_expansions();
    Ok(RecipeDerivations { pn, deps, norm, tasks })
}
