//! Running the layers' own tasks with the user's BitBake (DESIGN.md, "Running the
//! layers' own tasks").
//!
//! A task of a layer that is not rstore's own runs in the sandbox as BitBake's worker
//! would run it: `python3 run_task.py` (`importer/python/run_task.py`, rstore's code)
//! imports the user's BitBake library, parses the configuration and the recipe with it,
//! and calls `bb.build.exec_task`. The sandbox shows the task a build directory at
//! fixed paths, the same on every machine:
//!
//! | inside | what |
//! |---|---|
//! | `/rstore/bitbake` | the BitBake checkout (read-only) |
//! | `/rstore/layers/NAME` | `COREBASE` (as `openembedded-core`) and every layer outside it, by its directory's name (read-only) |
//! | `/rstore/build` | TOPDIR: scratch, with `conf/` written by rstore (read-only) |
//! | `/rstore/tmp` | TMPDIR: an overlay of what the task's predecessors left |
//! | `/rstore/downloads` | DL_DIR (writable for `do_fetch` only) |
//!
//! `conf/` holds the build directory's own `bblayers.conf`, `local.conf`, `site.conf`
//! and `auto.conf` with the host paths of the mounted directories replaced by their
//! inside paths, and `rstore.conf`, read last: TMPDIR, DL_DIR and SSTATE_DIR at their
//! inside paths, no signature handler or hash server of BitBake's own (rstore computes
//! the hashes), no build statistics (they record the clock).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;

use crate::datastore::{DataError, DataStore};

/// Where the BitBake checkout appears in the sandbox.
pub const BITBAKE_INSIDE: &str = "/rstore/bitbake";
/// TOPDIR in the sandbox.
pub const TOPDIR_INSIDE: &str = "/rstore/build";
/// Where the layers appear in the sandbox.
pub const LAYERS_INSIDE: &str = "/rstore/layers";
/// SSTATE_DIR in the sandbox (scratch: rstore's store keeps the outputs).
pub const SSTATE_DIR_INSIDE: &str = "/rstore/sstate-cache";
/// The driver, as rstore ships it.
pub const DRIVER: &str = include_str!("../python/run_task.py");
/// The configuration files of a build directory rstore carries into the sandbox.
const CONF_FILES: [&str; 4] = ["bblayers.conf", "local.conf", "site.conf", "auto.conf"];

/// Setting up BitBake-run tasks failed.
#[derive(Debug, thiserror::Error)]
pub enum BitbakeRunError {
    #[error("{} is not a BitBake checkout (no lib/bb/__init__.py)", .0.display())]
    NotACheckout(PathBuf),
    #[error("writing {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Data(#[from] DataError),
}

/// How tasks of one build directory run with BitBake.
#[derive(Debug, Clone)]
pub struct BitbakeRun {
    /// The BitBake checkout on the host.
    pub checkout: PathBuf,
    /// (host, inside) of each directory mounted at a fixed path, longest host path first.
    pub mounts: Vec<(PathBuf, PathBuf)>,
    /// The configuration directory written for the sandbox, on the host.
    pub conf_dir: PathBuf,
    /// Host directories named by `file://` mirrors, bound read-only at their own paths.
    pub mirrors: Vec<PathBuf>,
}

impl BitbakeRun {
    /// Set up for the build directory `build_dir` whose configuration is `config`:
    /// the layers to mount, and `conf/` for the sandbox written under `state_dir`.
    pub fn new(
        checkout: PathBuf,
        config: &Rc<DataStore>,
        build_dir: &Path,
        state_dir: &Path,
    ) -> Result<BitbakeRun, BitbakeRunError> {
        if !checkout.join("lib/bb/__init__.py").is_file() {
            return Err(BitbakeRunError::NotACheckout(checkout));
        }
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Some(core) = config.get_str("COREBASE")?.filter(|c| c.starts_with('/')) {
            roots.push(PathBuf::from(core.trim_end_matches('/')));
        }
        for layer in config.get_str("BBLAYERS")?.unwrap_or_default().split_whitespace() {
            let layer = PathBuf::from(layer.trim_end_matches('/'));
            if !roots.iter().any(|r| layer.starts_with(r)) {
                roots.push(layer);
            }
        }
        // COREBASE is openembedded-core (or a tree that holds it) whatever its checkout is
        // called; other layers go by their directory's name, as layers are named.
        let corebase = config.get_str("COREBASE")?.map(|c| PathBuf::from(c.trim_end_matches('/')));
        let mut mounts: Vec<(PathBuf, PathBuf)> = Vec::new();
        for root in roots {
            let name = if Some(&root) == corebase.as_ref() {
                "openembedded-core".to_owned()
            } else {
                root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "layer".into())
            };
            let mut inside = Path::new(LAYERS_INSIDE).join(&name);
            let mut n = 2;
            while mounts.iter().any(|(_, i)| *i == inside) {
                inside = Path::new(LAYERS_INSIDE).join(format!("{name}-{n}"));
                n += 1;
            }
            mounts.push((root, inside));
        }
        mounts.push((build_dir.to_path_buf(), PathBuf::from(TOPDIR_INSIDE)));
        mounts.sort_by_key(|(host, _)| std::cmp::Reverse(host.as_os_str().len()));
        let mut mirrors = Vec::new();
        for var in ["PREMIRRORS", "MIRRORS", "SOURCE_MIRROR_URL", "SSTATE_MIRRORS"] {
            for word in config.get_str(var)?.unwrap_or_default().split_whitespace() {
                if let Some(path) = word.strip_prefix("file://").filter(|p| p.starts_with('/')) {
                    let dir = PathBuf::from(path.trim_end_matches('/'));
                    if dir.is_dir() && !mirrors.contains(&dir) {
                        mirrors.push(dir);
                    }
                }
            }
        }
        let run = BitbakeRun { checkout, mounts, conf_dir: state_dir.join("conf"), mirrors };
        run.write_conf(build_dir)?;
        Ok(run)
    }

    /// `path` (a host path) as tasks see it, when it lies in a mounted directory.
    pub fn inside(&self, path: &Path) -> Option<PathBuf> {
        self.mounts.iter().find_map(|(host, inside)| path.strip_prefix(host).ok().map(|rest| inside.join(rest)))
    }

    /// A text with the host paths of the mounted directories as tasks see them.
    fn translate(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (host, inside) in &self.mounts {
            out = out.replace(&*host.to_string_lossy(), &inside.to_string_lossy());
        }
        out
    }

    fn write_conf(&self, build_dir: &Path) -> Result<(), BitbakeRunError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BitbakeRunError::Io { path, source }
        };
        std::fs::create_dir_all(&self.conf_dir).map_err(io(&self.conf_dir))?;
        for name in CONF_FILES {
            let from = build_dir.join("conf").join(name);
            let to = self.conf_dir.join(name);
            match std::fs::read_to_string(&from) {
                Ok(text) => std::fs::write(&to, self.translate(&text)).map_err(io(&to))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&to);
                }
                Err(e) => return Err(BitbakeRunError::Io { path: from, source: e }),
            }
        }
        let settings = format!(
            "# Read last by BitBake in rstore's task sandbox (the build directory's own\n\
             # configuration comes first): where things are inside, and rstore's part of\n\
             # the job (hashes, stamps, sstate) left to rstore.\n\
             TMPDIR = \"{tmp}\"\n\
             DL_DIR = \"{dl}\"\n\
             SSTATE_DIR = \"{sstate}\"\n\
             BB_SIGNATURE_HANDLER = \"noop\"\n\
             BB_HASHSERVE = \"\"\n\
             USER_CLASSES:remove = \"buildstats\"\n",
            tmp = crate::runfile::TMPDIR_INSIDE,
            dl = crate::runfile::DL_DIR_INSIDE,
            sstate = SSTATE_DIR_INSIDE,
        );
        let path = self.conf_dir.join("rstore.conf");
        std::fs::write(&path, settings).map_err(io(&path))?;
        Ok(())
    }
}

/// One entry of BB_TASKDEPDATA (BitBake's `bb.TaskData`), as the driver takes it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDepEntry {
    pub tid: String,
    pub pn: String,
    pub taskname: String,
    pub fn_: String,
    pub deps: Vec<String>,
    pub provides: Vec<String>,
    pub taskhash: String,
    pub unihash: String,
    pub hashfn: String,
    pub taskhash_deps: Vec<String>,
}

/// What the driver is asked to run.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRequest {
    pub bitbake_lib: String,
    pub topdir: String,
    pub postfiles: Vec<String>,
    #[serde(rename = "fn")]
    pub fn_: String,
    pub task: String,
    pub taskhash: String,
    pub unihash: String,
    pub taskdepdata: Vec<BTreeMap<&'static str, serde_json::Value>>,
    pub appends: Vec<String>,
    pub layername: Option<String>,
    pub buildname: String,
    pub date: String,
    pub time: String,
    pub build_started: bool,
}

impl TaskDepEntry {
    /// As the driver reads it (a JSON object with BitBake's field names).
    pub fn to_json(&self) -> BTreeMap<&'static str, serde_json::Value> {
        use serde_json::json;
        BTreeMap::from([
            ("tid", json!(self.tid)),
            ("pn", json!(self.pn)),
            ("taskname", json!(self.taskname)),
            ("fn", json!(self.fn_)),
            ("deps", json!(self.deps)),
            ("provides", json!(self.provides)),
            ("taskhash", json!(self.taskhash)),
            ("unihash", json!(self.unihash)),
            ("hashfn", json!(self.hashfn)),
            ("taskhash_deps", json!(self.taskhash_deps)),
        ])
    }
}
