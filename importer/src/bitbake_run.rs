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
//! | `/rstore/pycache` | bytecode of the checkout's and the layers' modules, compiled by rstore (read-only) |
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
/// Where the bytecode of the checkout's and the layers' Python modules appears in the
/// sandbox (the driver's `sys.pycache_prefix`).
pub const PYCACHE_INSIDE: &str = "/rstore/pycache";
/// Compiles the Python modules of directories into a bytecode cache for the paths they
/// have in the sandbox (see [`BitbakeRun::bytecode`]).
const COMPILE_BYTECODE: &str = include_str!("../python/compile_bytecode.py");
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
    /// The bytecode cache on the host, filled by the first call of [`BitbakeRun::bytecode`].
    pycache: PathBuf,
    compiled: std::cell::OnceCell<bool>,
    /// Where the builds' preparations are kept (one directory each), and this build's,
    /// made by the first call of [`BitbakeRun::build_start`] and held with a shared lock.
    started: PathBuf,
    started_made: std::rc::Rc<std::cell::OnceCell<Option<(PathBuf, std::fs::File)>>>,
}

/// What rstore's preparation of a build (the cooker's work before the first task) left
/// for the tasks, on the host.
pub struct BuildStart {
    /// BitBake's code parser cache: `${TOPDIR}/cache` for tasks, through a throwaway layer
    /// (BitBake locks and may write beside it).
    pub codeparser: PathBuf,
    /// What BuildStarted's handlers wrote into TMPDIR, below every task's TMPDIR.
    pub tmpdir: PathBuf,
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
        let run = BitbakeRun {
            checkout,
            mounts,
            conf_dir: state_dir.join("conf"),
            mirrors,
            pycache: state_dir.join("pycache"),
            compiled: std::cell::OnceCell::new(),
            started: state_dir.join("build-start"),
            started_made: std::rc::Rc::default(),
        };
        run.write_conf(build_dir)?;
        Ok(run)
    }

    /// The directories (as tasks see them) whose modules the bytecode cache holds.
    pub fn bytecode_roots(&self) -> Vec<String> {
        std::iter::once(PathBuf::from(BITBAKE_INSIDE))
            .chain(self.mounts.iter().filter(|(_, i)| i != Path::new(TOPDIR_INSIDE)).map(|(_, i)| i.clone()))
            .map(|p| p.display().to_string())
            .collect()
    }

    /// The bytecode cache for tasks to mount read-only at [`PYCACHE_INSIDE`], brought up
    /// to date on the first call (in a build that runs tasks; `None` when it cannot be).
    ///
    /// The checkout and the layers are read-only in the sandbox, so without it every task
    /// compiles every module of BitBake and of the layers' libraries it imports again
    /// (about 0.5 s a task). rstore compiles them on the host, once, with `py_compile`
    /// (which reads sources and never runs them), for the paths the modules have inside,
    /// and skips what is up to date. Python checks each entry against its source's size
    /// and mtime when importing, so an edited module is compiled afresh by the task, never
    /// taken stale. Symbolic links are not followed: a layer's link to a host file must not
    /// bring that file's bytes into the sandbox.
    pub fn bytecode(&self) -> Option<&Path> {
        let ok = *self.compiled.get_or_init(|| {
            let mut dirs = vec![(self.checkout.join("lib"), PathBuf::from(BITBAKE_INSIDE).join("lib"))];
            for (host, inside) in &self.mounts {
                if inside == Path::new(TOPDIR_INSIDE) {
                    continue;
                }
                // A layer's `lib` (addpylib, BBPATH's lib/) and openembedded-core's meta/lib.
                let mut candidates = vec![PathBuf::from("lib")];
                if let Ok(entries) = std::fs::read_dir(host) {
                    let mut subdirs: Vec<PathBuf> =
                        entries.flatten().map(|e| PathBuf::from(e.file_name()).join("lib")).collect();
                    subdirs.sort();
                    candidates.extend(subdirs);
                }
                for rel in candidates {
                    let dir = host.join(&rel);
                    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                        dirs.push((dir, inside.join(rel)));
                    }
                }
            }
            compile_bytecode(&self.pycache, &dirs)
        });
        ok.then_some(self.pycache.as_path())
    }

    /// The build's preparation, done once on the first call (`None` when it failed: each
    /// task then does it for itself, as before).
    ///
    /// BitBake's cooker parses the configuration, fires BuildStarted and leaves its code
    /// parser cache for the workers once per build. A task of rstore's starts from an
    /// empty `TOPDIR` and `TMPDIR` layers, so without this each task would fire
    /// BuildStarted again (its handlers write the build's SPDX document: about 0.3 s) and
    /// analyse the source of every function of the layers' Python libraries again while
    /// parsing the configuration (`addpylib`: about 0.7 s of its 1 s). rstore does the
    /// cooker's part once, in a sandbox of its own laid out as the tasks' (no recipe is
    /// read), with `TMPDIR` a fresh host directory: what BuildStarted's handlers wrote there
    /// (BitBake's bookkeeping left out) is shown below every task's `TMPDIR`, and its
    /// `deploy/` is published into the build directory's. Tasks only read what it left.
    /// `host_tmpdir` is the build directory's `TMPDIR`.
    ///
    /// Each build prepares in a directory of its own under `build-start/`, which it holds
    /// with a shared lock while it runs; a build removes the others nobody holds, so two
    /// builds of one build directory at once never pull a layer from under each other.
    pub fn build_start(&self, host_tmpdir: &Path) -> Option<BuildStart> {
        let made = self.started_made.get_or_init(|| match self.prepare_build(host_tmpdir) {
            Ok(made) => Some(made),
            Err(e) => {
                tracing::warn!("preparing the build for BitBake's tasks failed, each task prepares for itself: {e}");
                None
            }
        });
        made.as_ref().map(|(dir, _)| BuildStart { codeparser: dir.join("cache"), tmpdir: dir.join("tmp") })
    }

    fn prepare_build(&self, host_tmpdir: &Path) -> Result<(PathBuf, std::fs::File), String> {
        use rstore_sandbox::{Mount, Request, Sink};
        let started = std::time::Instant::now();
        std::fs::create_dir_all(&self.started).map_err(|e| format!("creating {}: {e}", self.started.display()))?;
        remove_unheld_preparations(&self.started);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let fresh = self.started.join(format!("{nanos}-{}", std::process::id()));
        std::fs::create_dir(&fresh).map_err(|e| format!("creating {}: {e}", fresh.display()))?;
        let lock = std::fs::File::create(fresh.join("lock"))
            .map_err(|e| format!("creating a lock in {}: {e}", fresh.display()))?;
        flock(&lock, libc::LOCK_SH).map_err(|e| format!("locking {}: {e}", fresh.display()))?;
        let run_dir = fresh.join("run");
        for sub in ["cache", "tmp", "run"] {
            std::fs::create_dir_all(fresh.join(sub)).map_err(|e| format!("creating {}: {e}", fresh.display()))?;
        }
        let request = serde_json::json!({
            "mode": "prepare",
            "bitbake_lib": format!("{BITBAKE_INSIDE}/lib"),
            "topdir": TOPDIR_INSIDE,
            "postfiles": [format!("{TOPDIR_INSIDE}/conf/rstore.conf")],
            "pycache_prefix": self.bytecode().map(|_| PYCACHE_INSIDE),
            "pycache_roots": self.bytecode_roots(),
            "buildname": BUILDNAME,
            "date": DATE,
            "time": TIME,
        });
        for (name, text) in [("run_task.py", DRIVER.to_owned()), ("request.json", request.to_string())] {
            let path = run_dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        let log = fresh.join("log");
        let mut req = Request::new(
            "/usr/bin/env".to_owned(),
            vec!["python3".to_owned(), "/rstore/run/run_task.py".to_owned(), "/rstore/run/request.json".to_owned()],
        )
        .with_host_tools();
        req.cwd = Some(PathBuf::from(TOPDIR_INSIDE));
        req.stdout = Sink::File(log.clone());
        req.stderr = Sink::File(log.clone());
        req.mounts.push(Mount::Tmpfs { inside: PathBuf::from(TOPDIR_INSIDE) });
        req.mounts
            .push(Mount::Writable { host: fresh.join("tmp"), inside: PathBuf::from(crate::runfile::TMPDIR_INSIDE) });
        req.mounts.push(Mount::Writable {
            host: fresh.join("cache"),
            inside: PathBuf::from(format!("{TOPDIR_INSIDE}/cache")),
        });
        req.mounts.push(Mount::ReadOnly { host: run_dir.clone(), inside: PathBuf::from("/rstore/run") });
        for (host, inside) in self.read_only_mounts() {
            req.mounts.push(Mount::ReadOnly { host, inside });
        }
        let cancel = rstore_sandbox::CancelHandle::new().map_err(|e| e.to_string())?;
        let outcome = rstore_sandbox::run(&req, &cancel).map_err(|e| e.to_string())?;
        if !outcome.success() {
            return Err(format!("{:?}; see {}", outcome.termination, log.display()));
        }
        if !fresh.join("cache/bb_codeparser.dat").is_file() {
            return Err(format!("no bb_codeparser.dat was written; see {}", log.display()));
        }
        // BitBake's bookkeeping, as tasks' outputs leave it out (each task makes its own).
        let bookkeeping: Vec<PathBuf> = BOOKKEEPING.iter().map(PathBuf::from).collect();
        rstore_evaluator::execute::remove_excluded(&fresh.join("tmp"), &bookkeeping)?;
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(host_tmpdir).map_err(|e| format!("creating {}: {e}", host_tmpdir.display()))?;
        publish_copy(&fresh.join("tmp/deploy"), &host_tmpdir.join("deploy"))?;
        tracing::debug!("build prepared for BitBake's tasks in {:.2}s", started.elapsed().as_secs_f64());
        Ok((fresh, lock))
    }

    /// (host, inside) of what every sandbox that runs BitBake sees read-only: the checkout,
    /// the configuration written for the sandbox, the layers and, once compiled, the
    /// bytecode cache.
    pub fn read_only_mounts(&self) -> Vec<(PathBuf, PathBuf)> {
        let mut mounts = vec![
            (self.checkout.clone(), PathBuf::from(BITBAKE_INSIDE)),
            (self.conf_dir.clone(), PathBuf::from(format!("{TOPDIR_INSIDE}/conf"))),
        ];
        mounts.extend(self.mounts.iter().filter(|(_, inside)| inside != Path::new(TOPDIR_INSIDE)).cloned());
        if let Some(pycache) = self.bytecode() {
            mounts.push((pycache.to_path_buf(), PathBuf::from(PYCACHE_INSIDE)));
        }
        mounts
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

/// `flock(2)` on `file` (released when the file is closed).
fn flock(file: &std::fs::File, operation: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor `file` owns, with no pointers.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Remove the preparations under `dir` that no running build holds (each build holds its
/// own `lock` shared while it runs); what cannot be removed is left for a later build.
fn remove_unheld_preparations(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let unheld = match std::fs::File::open(path.join("lock")) {
            Ok(f) => flock(&f, libc::LOCK_EX | libc::LOCK_NB).is_ok(),
            // A preparation cut short before its lock existed, or another process's
            // just being made: only the first is old.
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > std::time::Duration::from_secs(3600))),
        };
        if unheld {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// BitBake's bookkeeping in TMPDIR: shared by all tasks or of the clock, never part of
/// a task's output.
pub const BOOKKEEPING: [&str; 7] =
    ["stamps", "hosttools", "buildstats", "qa.log", "log", "cache", "sstate-control/index-*"];
/// BUILDNAME, DATE and TIME as tasks see them: fixed, so that nothing a task writes
/// depends on when it ran.
pub const BUILDNAME: &str = "19700101000000";
pub const DATE: &str = "19700101";
pub const TIME: &str = "000000";

/// Copy the files under `from` into `to` (directories made, files replaced), for the
/// few files the build's preparation publishes (the build's SPDX document). Symbolic
/// links are copied as links; nothing outside `from` is read, and nothing is written
/// through a symbolic link already in `to` (a task's published output may hold one).
fn publish_copy(from: &Path, to: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(()) };
    match std::fs::symlink_metadata(to) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory: not publishing into it", to.display())),
        Err(_) => std::fs::create_dir(to).map_err(|e| format!("creating {}: {e}", to.display()))?,
    }
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", from.display()))?;
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src).map_err(|e| format!("reading {}: {e}", src.display()))?;
        if meta.is_dir() {
            publish_copy(&src, &dest)?;
            continue;
        }
        if std::fs::symlink_metadata(&dest).is_ok() {
            std::fs::remove_file(&dest).map_err(|e| format!("replacing {}: {e}", dest.display()))?;
        }
        if meta.is_symlink() {
            let target = std::fs::read_link(&src).map_err(|e| format!("reading {}: {e}", src.display()))?;
            std::os::unix::fs::symlink(target, &dest).map_err(|e| format!("creating {}: {e}", dest.display()))?;
        } else if meta.is_file() {
            std::fs::copy(&src, &dest).map_err(|e| format!("copying {}: {e}", src.display()))?;
        }
    }
    Ok(())
}

/// Compile the modules of each `(host, inside)` directory into `pycache` with the
/// `python3` tasks run (the first on the sandbox's `PATH`; bytecode is only used by an
/// interpreter of the same version); false (with a warning) when that fails.
fn compile_bytecode(pycache: &Path, dirs: &[(PathBuf, PathBuf)]) -> bool {
    let started = std::time::Instant::now();
    let python = ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join("python3"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let mut cmd = std::process::Command::new(python);
    cmd.arg("-c").arg(COMPILE_BYTECODE).arg(pycache);
    for (host, inside) in dirs {
        cmd.arg(host).arg(inside);
    }
    cmd.env_remove("SOURCE_DATE_EPOCH").stdin(std::process::Stdio::null());
    match cmd.output() {
        Ok(out) if out.status.success() => {
            tracing::debug!(
                "bytecode of {} directories up to date in {:.2}s: {}",
                dirs.len(),
                started.elapsed().as_secs_f64(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
            true
        }
        Ok(out) => {
            tracing::warn!(
                "compiling BitBake's Python modules for the task sandbox failed ({}); tasks compile them \
                 each time: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            tracing::warn!("cannot run python3 to compile BitBake's modules for the task sandbox: {e}");
            false
        }
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
    /// Where rstore's compiled bytecode of the checkout and the layers is, if anywhere,
    /// and the directories whose modules it holds.
    pub pycache_prefix: Option<String>,
    pub pycache_roots: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `python3 [ARGS] -c SCRIPT` with the driver's functions loaded.
    fn python(args: &[&str], script: &str) -> std::process::Output {
        let driver = DRIVER.split("\ndef main():").next().unwrap();
        std::process::Command::new("/usr/bin/python3")
            .args(args)
            .arg("-c")
            .arg(format!("{driver}\n{script}"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap()
    }

    #[test]
    fn only_preparations_no_build_holds_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let (held, unheld, fresh) = (tmp.path().join("1-1"), tmp.path().join("2-2"), tmp.path().join("3-3"));
        for d in [&held, &unheld, &fresh] {
            std::fs::create_dir(d).unwrap();
        }
        let lock = std::fs::File::create(held.join("lock")).unwrap();
        flock(&lock, libc::LOCK_SH).unwrap();
        std::fs::File::create(unheld.join("lock")).unwrap();
        // `fresh` has no lock yet: another build is making it right now.
        remove_unheld_preparations(tmp.path());
        assert!(held.is_dir(), "a running build's preparation was removed");
        assert!(!unheld.exists(), "a finished build's preparation was kept");
        assert!(fresh.is_dir(), "a preparation being made was removed");
        drop(lock);
        // A process another test forks at this moment holds a copy of the descriptor
        // until it execs: give it a moment.
        for _ in 0..50 {
            remove_unheld_preparations(tmp.path());
            if !held.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!held.exists(), "a preparation no build holds any more was kept");
    }

    #[test]
    fn publishing_the_build_start_never_writes_through_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("from");
        std::fs::create_dir_all(from.join("spdx/3.0.1")).unwrap();
        std::fs::write(from.join("spdx/3.0.1/bitbake.spdx.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("spdx/link")).unwrap();
        let to = tmp.path().join("deploy");
        publish_copy(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("spdx/3.0.1/bitbake.spdx.json")).unwrap(), "{}");
        assert_eq!(std::fs::read_link(to.join("spdx/link")).unwrap(), Path::new("/etc/passwd"));
        // A published directory replaced by a link (a task's output may hold one).
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::remove_dir_all(to.join("spdx")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, to.join("spdx")).unwrap();
        let err = publish_copy(&from, &to).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none(), "wrote through the link");
    }

    #[test]
    fn bytecode_is_compiled_for_the_inside_paths_and_used_by_the_driver() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("checkout/lib");
        std::fs::create_dir_all(host.join("pkg")).unwrap();
        std::fs::write(host.join("pkg/__init__.py"), "").unwrap();
        std::fs::write(host.join("pkg/mod.py"), "VALUE = 42\n").unwrap();
        std::fs::write(tmp.path().join("secret.py"), "SECRET = 1\n").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.py"), host.join("pkg/link.py")).unwrap();
        std::fs::write(host.join("pkg/broken.py"), "def (:\n").unwrap();
        let pycache = tmp.path().join("pycache");
        // Inside = host here, so the driver can import the modules from where they are.
        let dirs = [(host.clone(), host.clone())];
        assert!(compile_bytecode(&pycache, &dirs));
        let tag = String::from_utf8(python(&[], "print(sys.implementation.cache_tag)").stdout).unwrap();
        let cached = |name: &str| {
            let rel = host.join(format!("pkg/{name}.{}.pyc", tag.trim()));
            pycache.join(rel.strip_prefix("/").unwrap())
        };
        assert!(cached("mod").is_file());
        assert!(!cached("link").exists(), "a symlinked module must not be compiled on the host");
        assert!(!cached("broken").exists());
        let stamp = std::fs::metadata(cached("mod")).unwrap().modified().unwrap();
        assert!(compile_bytecode(&pycache, &dirs), "a second run keeps what is up to date");
        assert_eq!(std::fs::metadata(cached("mod")).unwrap().modified().unwrap(), stamp);

        // The driver finds the module's bytecode in the cache (python -v says where from),
        // and the standard library's where it always is.
        let script = format!(
            "use_bytecode_cache({:?}, [{:?}])\nsys.path.insert(0, {:?})\nimport pkg.mod\nprint(pkg.mod.VALUE)",
            pycache.display().to_string(),
            tmp.path().join("checkout").display().to_string(),
            host.display().to_string()
        );
        let out = python(&["-v"], &script);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
        let verbose = String::from_utf8_lossy(&out.stderr);
        let from = format!("code object from '{}'", cached("mod").display());
        assert!(verbose.contains(&from), "pkg.mod was not loaded from the cache:\n{verbose}");
    }
}
