//! Running one prepared task: its work directory as an overlay over the outputs of
//! the tasks it follows, its inputs mounted read-only, the script or built-in run in
//! the sandbox, and the result merged into a store tree.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rstore_sandbox::{CancelHandle, Limits, Mount, Network, RecordedMode, Request, Sink, WorkDir};
use rstore_store::{BlobDigest, Store, TaskIds, TreeDigest};
use serde::{Deserialize, Serialize};

use crate::builtin::{Bind, BuiltinRequest};
use crate::derivation::TaskId;
use crate::overlay;
use crate::realise::Executor;
use crate::variation::{ReversedView, Variation};

/// Where the rstore binary appears inside a sandbox that runs a built-in.
pub const RSTORE_INSIDE: &str = "/rstore/bin/rstore";
/// Where a shell task's script (or a built-in's request) appears inside.
pub const RUN_DIR_INSIDE: &str = "/rstore/run";

/// What a task does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Action {
    /// Only orders other tasks.
    Noexec,
    /// A shell script (a complete `sh` program).
    Shell { script: String },
    /// A built-in task.
    Builtin(BuiltinRequest),
}

/// A task ready to run: plain data, built on the thread that owns the metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prepared {
    pub id: TaskId,
    pub action: Action,
    /// The recipe's work directory inside the sandbox (an overlay).
    pub workdir: PathBuf,
    /// Directories emptied before the task runs (`[cleandirs]`).
    pub cleandirs: Vec<PathBuf>,
    /// Directories created before the task runs (`[dirs]`).
    pub dirs: Vec<PathBuf>,
    /// The current directory inside (the task's last `[dirs]`).
    pub cwd: PathBuf,
    /// Output trees of the tasks this one follows in the same recipe, topmost first:
    /// the layers below the work directory, part of this task's output.
    pub lowers: Vec<TreeDigest>,
    /// Trees visible below the lowers (topmost first) but not part of the output: what
    /// other recipes' tasks left in a directory tasks share (BitBake's TMPDIR).
    #[serde(default)]
    pub below: Vec<TreeDigest>,
    /// Top-level entries of the `below` trees left out (another recipe's `work/`).
    #[serde(default)]
    pub below_without: Vec<String>,
    /// Host directories below everything else in the work directory (read-only layers,
    /// not part of the output): what the build's preparation left for all its tasks.
    #[serde(default)]
    pub below_dirs: Vec<PathBuf>,
    /// Paths (relative to the work directory) whose changes are not part of the output:
    /// BitBake's stamps, logs shared by all tasks, and the like.
    #[serde(default)]
    pub output_excludes: Vec<PathBuf>,
    /// Empty scratch directories (tmpfs) inside the sandbox, gone with the task.
    #[serde(default)]
    pub scratch_dirs: Vec<PathBuf>,
    /// Host directories shown at an inside path through a throwaway writable layer: the
    /// task may write (lock files), the host directory never changes. (host, inside)
    #[serde(default)]
    pub scratch_overlays: Vec<(PathBuf, PathBuf)>,
    /// Files put beside the script in the run directory (`/rstore/run`), by name.
    #[serde(default)]
    pub run_files: BTreeMap<String, String>,
    /// Where the task's standard output and error go on the host, when its log is
    /// written by the task itself (BitBake's `${T}/log.do_X`) rather than captured.
    #[serde(default)]
    pub console_log: Option<PathBuf>,
    /// Output trees of other tasks, mounted read-only at the given inside path.
    pub inputs: Vec<(TreeDigest, PathBuf)>,
    /// Host paths mounted inside (host tools, downloads, local sources).
    pub binds: Vec<Bind>,
    pub env: BTreeMap<String, String>,
    pub network: bool,
    pub source_date_epoch: u64,
    pub parallelism: Option<u32>,
    pub time_limit: Option<Duration>,
    /// Conditions changed for a reproducibility check (default: none).
    #[serde(default)]
    pub variation: Variation,
    /// A fetch task run by BitBake's fetcher: it writes DL_DIR through a layer of its
    /// own, and only the recipe's verified downloads reach DL_DIR (see [`crate::admit`]).
    #[serde(default)]
    pub downloads: Option<crate::admit::Admission>,
}

impl Prepared {
    /// A task that runs `action` with nothing else set: no work directory, layers,
    /// mounts, environment or network. Callers fill in the rest with struct update.
    pub fn new(id: TaskId, action: Action) -> Prepared {
        Prepared {
            id,
            action,
            workdir: PathBuf::new(),
            cleandirs: Vec::new(),
            dirs: Vec::new(),
            cwd: PathBuf::new(),
            lowers: Vec::new(),
            below: Vec::new(),
            below_without: Vec::new(),
            below_dirs: Vec::new(),
            output_excludes: Vec::new(),
            scratch_dirs: Vec::new(),
            scratch_overlays: Vec::new(),
            run_files: BTreeMap::new(),
            console_log: None,
            inputs: Vec::new(),
            binds: Vec::new(),
            env: BTreeMap::new(),
            network: false,
            source_date_epoch: 0,
            parallelism: None,
            time_limit: None,
            variation: Variation::default(),
            downloads: None,
        }
    }

    /// A task that runs nothing (`[noexec]`): its output is its lowers, merged.
    pub fn noexec(id: TaskId) -> Prepared {
        Prepared::new(id, Action::Noexec)
    }
}

/// A task that ran to success.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The output tree (the task's outhash).
    pub root: TreeDigest,
    /// The task's log, stored as a blob.
    pub log: Option<BlobDigest>,
    pub duration: Duration,
}

/// A task that failed: what to tell the user.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    #[error("{task} failed ({how}); log: {}\n{tail}", log.display())]
    Failed { task: TaskId, how: String, log: PathBuf, tail: String },
    #[error("{task}: could not run: {reason}")]
    Setup { task: TaskId, reason: String },
    #[error("{task}: cancelled")]
    Cancelled { task: TaskId },
}

/// The last lines of a log file. Only a regular file is read: a task may write the
/// directory of its log (BitBake's `${T}`), so a symlink or FIFO there is left alone.
pub fn log_tail(path: &Path, lines: usize) -> String {
    use rustix::fs::OFlags;
    let Ok(mut f) =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK, 0.into())
            .map(std::fs::File::from)
    else {
        return String::new();
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The host ids of this process's tasks (see [`rstore_sandbox::shifted_ids`]).
pub fn task_ids() -> TaskIds {
    match rstore_sandbox::shifted_ids(rstore_sandbox::HostFacts::current()) {
        Some((uid, gid)) => TaskIds { uid, gid },
        None => TaskIds::IDENTITY,
    }
}

/// Runs tasks in the sandbox and stores their output trees.
pub struct SandboxExecutor {
    pub store: std::sync::Arc<Store>,
    /// Scratch space for overlay upper/work dirs (same filesystem as the store is best).
    pub scratch: PathBuf,
    /// The rstore executable (mounted for built-ins).
    pub rstore: PathBuf,
    pub cancel: CancelHandle,
    /// Limits of every task.
    pub limits: TaskLimits,
}

/// Limits every task runs under (`RSTORE_TASK_*` in `local.conf` or the environment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLimits {
    /// CPUs a task sees (`nproc`), the same on every machine with at least that many.
    pub cpus: u32,
    /// Memory of the whole task (cgroup), where the host delegates one.
    pub memory_bytes: Option<u64>,
    /// Processes and threads alive at once.
    pub processes: Option<u32>,
    /// Size of each tmpfs (`/tmp`, `/dev/shm`, `HOME`).
    pub tmpfs_bytes: Option<u64>,
    /// Bytes of console output kept; a task printing more is killed.
    pub log_bytes: Option<u64>,
    /// Bytes a task may add to its output (its upper directory).
    pub output_bytes: Option<u64>,
}

impl TaskLimits {
    /// The defaults: 4 CPUs, 4096 processes, 4 GiB per tmpfs, 256 MiB of log, 64 GiB
    /// of output, no memory limit.
    pub const DEFAULT: TaskLimits = TaskLimits {
        cpus: 4,
        memory_bytes: None,
        processes: Some(4096),
        tmpfs_bytes: Some(4 << 30),
        log_bytes: Some(256 << 20),
        output_bytes: Some(64 << 30),
    };
}

impl TaskLimits {
    /// The sandbox's limits of a task run under these, with `time` as its time limit.
    fn sandbox(&self, time: Option<Duration>) -> Limits {
        Limits {
            time,
            memory_bytes: self.memory_bytes,
            processes: self.processes,
            tmpfs_bytes: self.tmpfs_bytes,
            log_bytes: self.log_bytes,
            ..Limits::default()
        }
    }
}

impl Default for TaskLimits {
    fn default() -> Self {
        TaskLimits::DEFAULT
    }
}

impl Executor for SandboxExecutor {
    fn execute(&self, task: &Prepared, log: &Path) -> Result<Executed, TaskFailure> {
        execute(task, self, log)
    }
}

/// Run a prepared task and store its output tree. `log` is the host path of its log.
fn execute(p: &Prepared, host: &SandboxExecutor, log: &Path) -> Result<Executed, TaskFailure> {
    let setup = |reason: String| TaskFailure::Setup { task: p.id.clone(), reason };
    let started = std::time::Instant::now();
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent).map_err(|e| setup(format!("creating {}: {e}", parent.display())))?;
    }
    if let Action::Noexec = p.action {
        // Orders tasks only: the output is the merged lowers.
        let root = match overlay::merge_lowers(&host.store, &p.lowers).map_err(|e| setup(e.to_string()))? {
            Some(r) => r,
            None => overlay::merge(
                &host.store,
                &[],
                &empty_dir(&host.scratch).map_err(|e| setup(e.to_string()))?,
                TaskIds::IDENTITY,
            )
            .map_err(|e| setup(e.to_string()))?,
        };
        host.store.commit_tree(&root).map_err(|e| setup(format!("storing the output: {}", with_causes(&e))))?;
        return Ok(Executed { root, log: None, duration: started.elapsed() });
    }
    let ids = task_ids();
    let run = tempfile::Builder::new()
        .prefix("task-")
        .tempdir_in(&host.scratch)
        .map_err(|e| setup(format!("creating a scratch dir in {}: {e}", host.scratch.display())))?;
    let upper = run.path().join("upper");
    let work = run.path().join("work");
    let empty = run.path().join("empty");
    for d in [&upper, &work, &empty] {
        std::fs::create_dir_all(d).map_err(|e| setup(format!("creating {}: {e}", d.display())))?;
    }
    // What other recipes' tasks left, as one tree under the recipe's own layers.
    let below = if p.below.is_empty() {
        None
    } else {
        let skip: Vec<&str> = p.below_without.iter().map(String::as_str).collect();
        let mut trees = Vec::with_capacity(p.below.len());
        for t in &p.below {
            trees.push(
                overlay::without(&host.store, t, &skip).map_err(|e| setup(format!("below: {}", with_causes(&e))))?,
            );
        }
        overlay::merge_lowers(&host.store, &trees).map_err(|e| setup(format!("below: {}", with_causes(&e))))?
    };
    // Checkouts hold no setuid, setgid or world-write bit: the sandbox shows those
    // entries with their recorded modes.
    let checkout = |digest: &TreeDigest| {
        host.store
            .checkout_for_overlay(digest, ids)
            .map_err(|e| setup(format!("checking out {digest}: {}", with_causes(&e))))
    };
    let recorded = |lower: usize, checkout: &rstore_store::ExactCheckout| -> Vec<RecordedMode> {
        let modes = checkout.withheld.iter();
        modes.map(|w| RecordedMode { lower, path: w.path.clone(), mode: w.mode }).collect()
    };
    let mut lower_dirs = Vec::new();
    let mut modes = Vec::new();
    for digest in p.lowers.iter().chain(below.iter()) {
        let lower = checkout(digest)?;
        modes.extend(recorded(lower_dirs.len(), &lower));
        lower_dirs.push(lower.dir);
    }
    lower_dirs.extend(p.below_dirs.iter().cloned());
    if lower_dirs.is_empty() {
        lower_dirs.push(empty.clone());
    }
    let mut input_dirs = Vec::with_capacity(p.inputs.len());
    for (digest, inside) in &p.inputs {
        let input = checkout(digest)?;
        let modes = recorded(0, &input);
        input_dirs.push(((input.dir, modes), inside.clone()));
    }
    // A check listing directories in reverse sees every layer and input through
    // disorderfs (unmounted when `_views` goes).
    let mut _views = Vec::new();
    if p.variation.reversed_file_order {
        let disorderfs = crate::variation::find_program("disorderfs")
            .ok_or_else(|| setup("listing directories in reverse needs disorderfs, which is not installed".into()))?;
        let dirs = lower_dirs.iter_mut().chain(input_dirs.iter_mut().map(|((dir, _), _)| dir));
        for (i, dir) in dirs.enumerate() {
            let view =
                ReversedView::mount(&disorderfs, dir, &run.path().join(format!("reversed-{i}"))).map_err(setup)?;
            *dir = view.path().to_owned();
            _views.push(view);
        }
    }
    // A small prologue creates the task's directories and enters the last one, then
    // hands over to the task (a shell script, or rstore running a built-in).
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let mut prologue = String::from("set -e\n");
    for c in &p.cleandirs {
        prologue.push_str(&format!("rm -rf {q}\nmkdir -p {q}\n", q = quote(c)));
    }
    for d in &p.dirs {
        prologue.push_str(&format!("mkdir -p {}\n", quote(d)));
    }
    prologue.push_str(&format!("cd {}\n", quote(&p.cwd)));
    // The run directory is a tmpfs the sandbox fills: no host path of it for the task
    // to see (in /proc/self/mountinfo) and put into an output.
    let mut files = BTreeMap::new();
    match &p.action {
        Action::Shell { script } => {
            files.insert("script.sh".to_owned(), script.clone());
            prologue.push_str(&format!("exec /bin/sh {RUN_DIR_INSIDE}/script.sh\n"));
        }
        Action::Builtin(req) => {
            files.insert("request.json".to_owned(), serde_json::to_string(req).map_err(|e| setup(e.to_string()))?);
            prologue.push_str(&format!("exec {RSTORE_INSIDE} __builtin {RUN_DIR_INSIDE}/request.json\n"));
        }
        Action::Noexec => unreachable!("handled above"),
    }
    for (name, text) in &p.run_files {
        if name.contains('/') || name.starts_with('.') {
            return Err(setup(format!("{name:?} is not a plain file name for the run directory")));
        }
        files.insert(name.clone(), text.clone());
    }
    files.insert("prologue.sh".to_owned(), prologue);
    let (program, args) = ("/bin/sh".to_owned(), vec![format!("{RUN_DIR_INSIDE}/prologue.sh")]);
    let mut req = Request::new(program, args);
    req.env = p.env.clone();
    req.work_dir = WorkDir::Tmpfs;
    req.cwd = Some(p.workdir.clone());
    req.network = if p.network { Network::Host } else { Network::Loopback };
    req.source_date_epoch = Some(p.source_date_epoch);
    req.parallelism = Some(match p.variation.cpus {
        Some(cpus) => cpus.max(1),
        None => p.parallelism.unwrap_or(host.limits.cpus).min(host.limits.cpus).max(1),
    });
    // Tasks running at once get different CPUs when each sees fewer than the host has.
    static NEXT_CPU: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let cpus = req.parallelism.unwrap_or(1);
    req.first_cpu = NEXT_CPU.fetch_add(cpus, std::sync::atomic::Ordering::Relaxed);
    req.conditions = p.variation.sandbox_conditions();
    req.limits = host.limits.sandbox(p.time_limit);
    let console = p.console_log.clone().unwrap_or_else(|| log.to_path_buf());
    req.stdout = Sink::File(console.clone());
    req.stderr = Sink::File(console.clone());
    req = req.with_host_tools();
    req.mounts.push(Mount::Overlay { lower: lower_dirs, upper: upper.clone(), work, inside: p.workdir.clone(), modes });
    req.mounts.push(Mount::Files { inside: RUN_DIR_INSIDE.into(), files });
    if matches!(p.action, Action::Builtin(_)) {
        req.mounts.push(Mount::ReadOnly { host: host.rstore.to_path_buf(), inside: RSTORE_INSIDE.into() });
    }
    for ((dir, modes), inside) in input_dirs {
        req.mounts.push(match modes.is_empty() {
            true => Mount::ReadOnly { host: dir, inside },
            false => Mount::Layers { lower: vec![dir], inside, modes },
        });
    }
    for dir in &p.scratch_dirs {
        req.mounts.push(Mount::Tmpfs { inside: dir.clone() });
    }
    for (i, (host_dir, inside)) in p.scratch_overlays.iter().enumerate() {
        let (up, wk) = (run.path().join(format!("scratch-upper-{i}")), run.path().join(format!("scratch-work-{i}")));
        for d in [&up, &wk] {
            std::fs::create_dir_all(d).map_err(|e| setup(format!("creating {}: {e}", d.display())))?;
        }
        req.mounts.push(Mount::Overlay {
            lower: vec![host_dir.clone()],
            upper: up,
            work: wk,
            inside: inside.clone(),
            modes: Vec::new(),
        });
    }
    let downloads_upper = run.path().join("downloads-upper");
    if let Some(a) = &p.downloads {
        let work = run.path().join("downloads-work");
        for d in [&downloads_upper, &work] {
            std::fs::create_dir_all(d).map_err(|e| setup(format!("creating {}: {e}", d.display())))?;
        }
        req.mounts.push(Mount::Overlay {
            lower: vec![a.downloads.clone()],
            upper: downloads_upper.clone(),
            work,
            inside: a.inside.clone(),
            modes: Vec::new(),
        });
    }
    for b in &p.binds {
        req.mounts.push(if b.writable {
            Mount::Writable { host: b.host.clone(), inside: b.inside.clone() }
        } else {
            Mount::ReadOnly { host: b.host.clone(), inside: b.inside.clone() }
        });
    }
    let outcome = rstore_sandbox::run(&req, &host.cancel).map_err(|e| setup(with_causes(&e)))?;
    // The task's own log when it wrote one, else what it printed.
    // A regular file only: the task may have written its log's directory.
    let log = if log.symlink_metadata().is_ok_and(|m| m.is_file()) { log } else { console.as_path() };
    let log_digest = host.store.add_blob_file(log).ok();
    match outcome.termination {
        _ if outcome.success() => {}
        rstore_sandbox::Termination::Cancelled => return Err(TaskFailure::Cancelled { task: p.id.clone() }),
        t => {
            let limit = match outcome.limit_hit {
                Some(rstore_sandbox::LimitHit::Log) => " after printing more than RSTORE_TASK_LOG_SIZE allows",
                Some(rstore_sandbox::LimitHit::Memory) => " at the memory limit (RSTORE_TASK_MEMORY)",
                Some(rstore_sandbox::LimitHit::Processes) => " at the process limit (RSTORE_TASK_PROCESSES)",
                _ => "",
            };
            return Err(TaskFailure::Failed {
                task: p.id.clone(),
                how: format!("{}{limit}", describe(&t)),
                log: log.to_path_buf(),
                tail: log_tail(log, 20),
            });
        }
    }
    if let Some(a) = &p.downloads {
        let verify = |clone: &crate::admit::ExpectedClone, layers: &[PathBuf], out: &Path| {
            verify_clone(host, run.path(), clone, layers, out)
        };
        let done = crate::admit::admit(a, &downloads_upper, &verify).map_err(|e| TaskFailure::Failed {
            task: p.id.clone(),
            how: format!("its download was refused: {e}"),
            log: log.to_path_buf(),
            tail: log_tail(log, 20),
        })?;
        if !done.discarded.is_empty() {
            let names: Vec<String> = done.discarded.iter().map(|d| d.display().to_string()).collect();
            tracing::debug!("{}: discarded from DL_DIR (not the recipe's downloads): {}", p.id, names.join(" "));
        }
    }
    remove_excluded(&upper, &p.output_excludes).map_err(setup)?;
    if let Some(limit) = host.limits.output_bytes {
        let added = tree_bytes(&upper, limit).map_err(|e| setup(format!("measuring the output: {e}")))?;
        if added > limit {
            return Err(TaskFailure::Failed {
                task: p.id.clone(),
                how: format!("its output exceeds the output limit of {limit} bytes (RSTORE_TASK_OUTPUT_SIZE)"),
                log: log.to_path_buf(),
                tail: log_tail(log, 20),
            });
        }
    }
    let root = overlay::merge(&host.store, &p.lowers, &upper, ids)
        .map_err(|e| setup(format!("storing the output: {}", with_causes(&e))))?;
    Ok(Executed { root, log: log_digest, duration: started.elapsed() })
}

/// Checks a git clone a fetch task left (seen through `layers`) in a sandbox, and copies
/// it into `out` without replace refs or hooks: every object must match its name (`git
/// fsck`), the recipe's revisions must be there, and nothing but files and directories.
fn verify_clone(
    host: &SandboxExecutor,
    scratch: &Path,
    clone: &crate::admit::ExpectedClone,
    layers: &[PathBuf],
    out: &Path,
) -> Result<(), String> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut script = String::from(
        "set -e\nexport GIT_NO_REPLACE_OBJECTS=1 GIT_CONFIG_NOSYSTEM=1\n\
         g() { git -c safe.directory='*' -c core.useReplaceRefs=false -C /clone \"$@\"; }\n\
         odd=$(find /clone ! -type f ! -type d | head -n 3)\n\
         [ -z \"$odd\" ] || { echo \"it holds something other than files and directories: $odd\"; exit 1; }\n\
         g fsck --no-dangling --no-progress > /tmp/fsck 2>&1 || { echo 'git fsck finds it damaged:'; head -n 5 /tmp/fsck; exit 1; }\n",
    );
    for rev in &clone.revisions {
        script.push_str(&format!(
            "g cat-file -e {} 2>/dev/null || {{ echo {}; exit 1; }}\n",
            quote(&format!("{rev}^{{commit}}")),
            quote(&format!("it lacks the revision {rev}"))
        ));
    }
    script.push_str(
        "cp -a /clone/. /out/\nrm -rf /out/refs/replace /out/hooks\n\
         [ ! -f /out/packed-refs ] || sed -i '/ refs\\/replace\\//d' /out/packed-refs\n",
    );
    let log = scratch.join(format!("clone-check-{}.log", clone.name.display().to_string().replace('/', "-")));
    let mut req = Request::new("/bin/sh", ["-c", script.as_str()]).with_host_tools();
    req.work_dir = WorkDir::Tmpfs;
    req.stdout = Sink::File(log.clone());
    req.stderr = Sink::File(log.clone());
    req.limits = host.limits.sandbox(None);
    req.mounts.push(Mount::Layers { lower: layers.to_vec(), inside: "/clone".into(), modes: Vec::new() });
    req.mounts.push(Mount::Writable { host: out.to_owned(), inside: "/out".into() });
    let outcome = rstore_sandbox::run(&req, &host.cancel).map_err(|e| format!("checking it: {}", with_causes(&e)))?;
    if outcome.success() {
        return Ok(());
    }
    let said = log_tail(&log, 6);
    Err(if said.trim().is_empty() { format!("checking it: {}", describe(&outcome.termination)) } else { said })
}

/// Bytes of the regular files under `dir` (not following symlinks), counting stops
/// once past `stop`.
fn tree_bytes(dir: &Path, stop: u64) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
                if total > stop {
                    return Ok(total);
                }
            }
        }
    }
    Ok(total)
}

/// Remove from `dir` (a task's upper directory) the paths `excludes` names, relative to
/// it; a `*` in a path's last component matches any run of characters. The error names
/// the path that could not be removed.
pub fn remove_excluded(dir: &Path, excludes: &[PathBuf]) -> Result<(), String> {
    let mut excluded_paths = Vec::new();
    for excluded in excludes {
        let name = excluded.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match name.split_once('*') {
            Some((prefix, suffix)) => {
                let parent = dir.join(excluded.parent().unwrap_or(Path::new("")));
                for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                    let n = entry.file_name().to_string_lossy().into_owned();
                    if n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix) {
                        excluded_paths.push(entry.path());
                    }
                }
            }
            None => excluded_paths.push(dir.join(excluded)),
        }
    }
    for path in excluded_paths {
        let excluded = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => rstore_store::remove_tree_forcibly(&path).map_err(|e| e.to_string()),
            Ok(_) => std::fs::remove_file(&path).map_err(|e| e.to_string()),
            Err(_) => Ok(()),
        };
        removed.map_err(|e| format!("leaving {} out of the output: {e}", excluded.display()))?;
    }
    Ok(())
}

/// An error and its causes on one line ("what failed: why"): the sandbox's setup
/// errors keep the OS error in their source.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn describe(t: &rstore_sandbox::Termination) -> String {
    match t {
        rstore_sandbox::Termination::Exited { code } => format!("exit status {code}"),
        rstore_sandbox::Termination::Signaled { signal } => format!("killed by signal {signal}"),
        rstore_sandbox::Termination::TimedOut { after } => format!("timed out after {after:?}"),
        rstore_sandbox::Termination::Cancelled => "cancelled".into(),
    }
}

fn empty_dir(scratch: &Path) -> std::io::Result<PathBuf> {
    let d = scratch.join("empty");
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::log_tail;

    /// The tail of a task's log is read from a regular file only: a symlink the task
    /// left at the log's name is not followed into a host file.
    #[test]
    fn log_tail_reads_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "host secret\n").unwrap();
        let link = dir.path().join("log.do_compile");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        assert_eq!(log_tail(&link, 20), "");
        let log = dir.path().join("log.do_install");
        std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
        assert_eq!(log_tail(&log, 2), "two\nthree");
    }
}
