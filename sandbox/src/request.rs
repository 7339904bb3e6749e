//! What a caller asks for: one command, as plain, sorted, serialisable data.
//!
//! A [`Request`] names host paths only as sources of mounts and of log files; everything the
//! task sees is at a fixed path inside (see [`crate::layout`]). Turning a request into the
//! concrete setup is [`crate::plan()`], a pure function.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::layout;

/// One command to run in a fresh sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The program: a path inside the sandbox, or a bare name looked up in the request's `PATH`.
    pub program: String,
    /// Arguments after the program name (`argv[1..]`).
    pub args: Vec<String>,
    /// The complete environment besides the fixed variables of [`crate::layout::fixed_env`];
    /// nothing is inherited from the host. Without `PATH`, [`layout::DEFAULT_PATH`] is used.
    pub env: BTreeMap<String, String>,
    /// The task's work directory, always mounted writable at [`layout::WORK_DIR`].
    pub work_dir: WorkDir,
    /// Current directory inside; default [`layout::WORK_DIR`].
    pub cwd: Option<PathBuf>,
    /// Inputs, host tools, extra writable dirs, overlays and links, at fixed inside paths.
    pub mounts: Vec<Mount>,
    /// Network access. [`Network::Loopback`] (the default) gives a private loopback only.
    pub network: Network,
    /// User id of the command inside (0 by default, so `chown` works for packaging).
    pub uid: u32,
    /// Group id of the command inside.
    pub gid: u32,
    /// Host name (and NIS domain name) seen inside.
    pub hostname: String,
    /// Exported as `SOURCE_DATE_EPOCH` when set.
    pub source_date_epoch: Option<u64>,
    /// CPUs the task may use (its CPU affinity, what `nproc` reports); `None` = all the
    /// host lets this process use.
    pub parallelism: Option<u32>,
    /// Where in the allowed CPUs the task's `parallelism` CPUs start (wrapping around), so
    /// that tasks running at once get different CPUs; 0 = the first.
    #[serde(default)]
    pub first_cpu: u32,
    /// Time, memory and process limits.
    pub limits: Limits,
    /// Where the command's standard output goes.
    pub stdout: Sink,
    /// Where the command's standard error goes. Naming the same file as `stdout` interleaves
    /// both in one log, in the order they were written.
    pub stderr: Sink,
    /// Standard input: `/dev/null` for tasks, the caller's for interactive debugging.
    #[serde(default)]
    pub stdin: Stdin,
    /// Conditions a reproducibility check changes; the defaults are every task's.
    #[serde(default)]
    pub conditions: Conditions,
}

/// What `rstore build --check` changes about the world a task sees, beyond what a request
/// already says (the CPUs a task sees are [`Request::parallelism`]). The defaults are what every task sees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    /// Nanoseconds added to the wall clock every dynamically linked program reads
    /// (`clock_gettime`, `gettimeofday`, `time`): a small shim loaded through
    /// `/etc/ld.so.preload`, which leaves the environment alone. `None`: the host's clock.
    /// Statically linked programs and file times kept by the kernel see the host's clock.
    #[serde(default)]
    pub clock_offset_ns: Option<i64>,
    /// Randomness made a fixed function of nothing: address-space randomisation off,
    /// `getrandom` failing with `ENOSYS` (so libc, Python and Rust read `/dev/urandom`),
    /// and `/dev/random` and `/dev/urandom` regular files of
    /// [`layout::PINNED_RANDOM_BYTES`] fixed bytes.
    #[serde(default)]
    pub pinned_randomness: bool,
    /// `uname` reports a 2.6 kernel (`setarch --uname-2.6`, personality `UNAME26`).
    #[serde(default)]
    pub old_kernel: bool,
}

/// Where the command's standard input comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stdin {
    /// `/dev/null` (every task: builds must not read a terminal).
    #[default]
    Null,
    /// The caller's standard input (an interactive shell; it has no job control, as the
    /// command runs in its own session).
    Inherit,
}

/// The task's work directory (writable, at [`layout::WORK_DIR`] inside).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkDir {
    /// A host directory, bound read-write.
    Host(PathBuf),
    /// An overlay: read-only `lower` dirs (first is topmost) with a fresh writable `upper`
    /// dir; `work` is overlayfs's scratch dir on the same filesystem as `upper`.
    Overlay { lower: Vec<PathBuf>, upper: PathBuf, work: PathBuf },
    /// A fresh empty tmpfs, gone when the task ends.
    Tmpfs,
}

/// One thing mounted or created at an absolute path inside the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mount {
    /// A host file or directory, read-only (recursively), no setuid, no devices.
    ReadOnly { host: PathBuf, inside: PathBuf },
    /// A host directory (or single file) the task may write to.
    Writable { host: PathBuf, inside: PathBuf },
    /// An overlay of read-only `lower` dirs (first is topmost) and a writable `upper` dir.
    /// The task sees the entries of `modes` with those modes.
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        inside: PathBuf,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        modes: Vec<RecordedMode>,
    },
    /// Read-only `lower` dirs (first is topmost) seen as one; the task sees the entries
    /// of `modes` with those modes.
    Layers { lower: Vec<PathBuf>, inside: PathBuf, modes: Vec<RecordedMode> },
    /// A fresh empty tmpfs.
    Tmpfs { inside: PathBuf },
    /// A read-only tmpfs holding these files (plain name → contents, mode 0644): small
    /// generated inputs such as a task's scripts. Unlike a bind of a host directory, it
    /// shows no host path in the task's `/proc/self/mountinfo`.
    Files { inside: PathBuf, files: std::collections::BTreeMap<String, String> },
    /// A symbolic link `inside -> target`.
    Symlink { target: PathBuf, inside: PathBuf },
}

impl Mount {
    /// The absolute path inside the sandbox this mount appears at.
    pub fn inside(&self) -> &Path {
        match self {
            Mount::ReadOnly { inside, .. }
            | Mount::Writable { inside, .. }
            | Mount::Overlay { inside, .. }
            | Mount::Layers { inside, .. }
            | Mount::Tmpfs { inside }
            | Mount::Files { inside, .. }
            | Mount::Symlink { inside, .. } => inside,
        }
    }
}

/// An entry of an overlay's lower directory that the task sees with a mode its file or
/// directory on the host lacks: store checkouts never carry setuid, setgid or
/// world-write bits on the host, and the sandbox restores them inside (copies with the
/// recorded mode, on a tmpfs layer stacked right above that lower directory).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordedMode {
    /// Which lower directory (index into the overlay's `lower`).
    pub lower: usize,
    /// Relative to that directory: plain names, no `.` or `..`.
    pub path: PathBuf,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
}

/// Network access of a task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// A private network namespace with only `lo` up: nothing of the host is reachable.
    #[default]
    Loopback,
    /// The host's network (fetch tasks). Host abstract unix sockets stay unreachable where
    /// landlock scoping (ABI 6) is available, and the host's `/etc/resolv.conf` is bound.
    Host,
}

/// Resource limits of one task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock limit; the whole process tree is killed when it passes.
    pub time: Option<Duration>,
    /// Memory limit in bytes (cgroup `memory.max`; where no cgroup v2 is delegated, a
    /// per-process address-space limit, see [`crate::Enforcement`]). Also caps each tmpfs.
    pub memory_bytes: Option<u64>,
    /// Maximum number of processes and threads alive at once.
    pub processes: Option<u32>,
    /// Maximum number of open files per process (`RLIMIT_NOFILE`); default 65536, capped by
    /// the caller's own hard limit.
    pub open_files: Option<u64>,
    /// Largest file a process may write (`RLIMIT_FSIZE`).
    pub file_size_bytes: Option<u64>,
    /// Size of each tmpfs (`/tmp`, `/dev/shm`, `HOME`, tmpfs mounts); default the memory
    /// limit, else the kernel's default (half the RAM).
    #[serde(default)]
    pub tmpfs_bytes: Option<u64>,
    /// Bytes of standard output and error kept per log file; a task writing more is killed
    /// ([`crate::LimitHit::Log`]).
    #[serde(default)]
    pub log_bytes: Option<u64>,
}

/// Where an output stream of the command goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sink {
    /// Discarded.
    #[default]
    Null,
    /// The caller's own stream (for interactive debugging).
    Inherit,
    /// The caller's standard error (keeps the caller's stdout for results).
    CallerStderr,
    /// A host file, created or truncated; written by the caller, never opened by the task.
    File(PathBuf),
}

impl Request {
    /// A request for `program args…` with defaults: a fresh tmpfs work dir, no mounts,
    /// loopback-only network, uid/gid 0, hostname [`layout::HOSTNAME`], no limits, output
    /// discarded.
    pub fn new(program: impl Into<String>, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Request {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            work_dir: WorkDir::Tmpfs,
            cwd: None,
            mounts: Vec::new(),
            network: Network::Loopback,
            uid: 0,
            gid: 0,
            hostname: layout::HOSTNAME.to_owned(),
            source_date_epoch: None,
            parallelism: None,
            first_cpu: 0,
            limits: Limits::default(),
            stdout: Sink::Null,
            stderr: Sink::Null,
            stdin: Stdin::Null,
            conditions: Conditions::default(),
        }
    }

    /// Adds a read-only bind of `host` at `inside`.
    pub fn ro(mut self, host: impl Into<PathBuf>, inside: impl Into<PathBuf>) -> Self {
        self.mounts.push(Mount::ReadOnly { host: host.into(), inside: inside.into() });
        self
    }

    /// Adds a writable bind of `host` (a directory or a single file) at `inside`.
    pub fn rw(mut self, host: impl Into<PathBuf>, inside: impl Into<PathBuf>) -> Self {
        self.mounts.push(Mount::Writable { host: host.into(), inside: inside.into() });
        self
    }

    /// Sets one environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Adds the host tools a layer would expose, read-only: see [`host_tools`].
    pub fn with_host_tools(mut self) -> Self {
        self.mounts.extend(host_tools());
        self
    }
}

/// The host's base system tools, read-only at the same paths: `/usr`, and `/bin`, `/sbin`,
/// `/lib`, `/lib32`, `/lib64`, `/libx32` as the same symlinks when the host has merged
/// `/usr` (bound read-only otherwise), and `/etc/alternatives`, through which Debian's
/// `awk`, `which` and others resolve. Paths the host lacks are left out.
pub fn host_tools() -> Vec<Mount> {
    let mut mounts = vec![Mount::ReadOnly { host: "/usr".into(), inside: "/usr".into() }];
    if Path::new("/etc/alternatives").is_dir() {
        mounts.push(Mount::ReadOnly { host: "/etc/alternatives".into(), inside: "/etc/alternatives".into() });
    }
    for name in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
        let path = Path::new(name);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(path) {
                    mounts.push(Mount::Symlink { target, inside: path.into() });
                }
            }
            Ok(meta) if meta.is_dir() => mounts.push(Mount::ReadOnly { host: path.into(), inside: path.into() }),
            _ => {}
        }
    }
    mounts
}
