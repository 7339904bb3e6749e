//! The pure half: a [`Request`] and the [`HostFacts`] become the concrete setup, a [`Spec`].
//!
//! Nothing here touches the system. The spec lists, in order, every directory, file, link and
//! mount of the new root, the id maps, the landlock rules, the capabilities kept, the rlimits,
//! the CPU set and the final environment; [`crate::run_spec`] carries it out. Its `Display`
//! form is what `rstore sandbox run --dry-run` prints and what the snapshot tests pin down.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::PlanError;
use crate::host::{CgroupSupport, HostFacts};
use crate::layout;
use crate::request::{Mount, Network, RecordedMode, Request, Sink, Stdin, WorkDir};

/// Number of ids mapped into the sandbox when the host allows a range (covers `nobody`).
pub const MAPPED_IDS: u32 = 65536;
/// First host id of the range a root caller's tasks run as, when `/etc/subuid` and
/// `/etc/subgid` give root no range of [`MAPPED_IDS`] ids: 0x50000000, inside the span
/// systemd leaves to containers (0x80000–0x6FFFFFFF), far from any user's id.
pub const ROOT_TASK_IDS_START: u32 = 0x5000_0000;
/// The smallest `kernel.pid_max` the kernel accepts.
const PID_MAX_MIN: u32 = 301;
/// Default `RLIMIT_NOFILE` of a task.
const DEFAULT_OPEN_FILES: u64 = 65536;

/// The concrete setup of one sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Spec {
    /// `argv`, starting with the program as given.
    pub argv: Vec<String>,
    /// Directories searched for a program name without `/` (the final `PATH`).
    pub search_path: Vec<String>,
    /// The complete environment, sorted by name.
    pub env: Vec<(String, String)>,
    /// Current directory inside.
    pub cwd: PathBuf,
    /// Host name inside.
    pub hostname: String,
    /// Network namespace.
    pub network: Network,
    /// How ids are mapped into the user namespace.
    pub ids: IdMapping,
    /// uid of the command inside.
    pub uid: u32,
    /// gid of the command inside.
    pub gid: u32,
    /// The root, built in this order on an empty tmpfs that is made read-only at the end.
    pub steps: Vec<Step>,
    /// The landlock ruleset (or why there is none).
    pub landlock: Landlock,
    /// Capabilities the command keeps (all others are dropped, also from the bounding set).
    pub capabilities: Vec<Capability>,
    /// rlimits set before exec (soft = hard).
    pub rlimits: Vec<(Rlimit, u64)>,
    /// CPU affinity of the command.
    pub cpus: Vec<u32>,
    /// The system-call filter (see [`crate::seccomp`]).
    pub syscall_filter: SyscallFilter,
    /// Personality flags of the command ([`crate::Conditions`]); 0 for every build task.
    #[serde(default)]
    pub personality: u32,
    /// Whether the task gets a time namespace of its own (monotonic and boot clocks start
    /// near zero instead of showing the host's uptime).
    pub time_namespace: bool,
    /// `kernel.pid_max` of the task's pid namespace, when it stands in for a pids cgroup.
    pub pid_max: Option<u32>,
    /// cgroup v2 limits, when a subtree is delegated.
    pub cgroup: Option<CgroupLimits>,
    /// Wall-clock limit.
    pub time_limit: Option<Duration>,
    /// Bytes kept per log file before the task is killed.
    pub log_limit: Option<u64>,
    /// Standard output of the command.
    pub stdout: Sink,
    /// Standard error of the command.
    pub stderr: Sink,
    /// Standard input of the command.
    pub stdin: Stdin,
    /// How each guarantee is enforced on this host.
    pub enforcement: Enforcement,
    /// Guarantees weaker than asked for on this host; logged as warnings on every run.
    pub degradations: Vec<Degradation>,
}

/// One step of building the root. Paths are absolute inside the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// A directory on the root tmpfs.
    Dir { path: PathBuf, mode: u32 },
    /// A file written on the root tmpfs.
    File { path: PathBuf, mode: u32, contents: String },
    /// A symbolic link.
    Symlink { target: PathBuf, path: PathBuf },
    /// A fresh tmpfs.
    Tmpfs { path: PathBuf, mode: u32, size: Option<u64> },
    /// A bind of a host file or directory (recursive, `nosuid,nodev`, read-only unless
    /// `writable`). An `optional` bind whose source is missing is skipped.
    Bind { host: PathBuf, path: PathBuf, writable: bool, optional: bool },
    /// A host device node bound at the same path (`nosuid,noexec`).
    Device { path: PathBuf },
    /// A read-only regular file of [`layout::pinned_random_bytes`] (pinned randomness).
    PinnedRandom { path: PathBuf },
    /// The clock shim, [`layout::CLOCK_SHIM`] (a shifted clock).
    ClockShim { path: PathBuf },
    /// An overlay mount, writable through `upper` (with `work`, overlayfs's scratch) or
    /// read-only without. `modes` are shown with their modes through a tmpfs layer of
    /// copies (at most `modes_size` bytes) right above their lower directory.
    Overlay {
        lower: Vec<PathBuf>,
        upper: Option<PathBuf>,
        work: Option<PathBuf>,
        modes: Vec<RecordedMode>,
        modes_size: Option<u64>,
        path: PathBuf,
    },
    /// `proc` of the task's pid namespace.
    Proc { path: PathBuf },
    /// The mount at `path` made read-only, after the steps before it filled it.
    ReadOnly { path: PathBuf },
}

impl Step {
    /// The inside path this step creates.
    pub fn path(&self) -> &Path {
        match self {
            Step::Dir { path, .. }
            | Step::File { path, .. }
            | Step::Symlink { path, .. }
            | Step::Tmpfs { path, .. }
            | Step::Bind { path, .. }
            | Step::Device { path }
            | Step::PinnedRandom { path }
            | Step::ClockShim { path }
            | Step::Overlay { path, .. }
            | Step::Proc { path }
            | Step::ReadOnly { path } => path,
        }
    }
}

/// User and group id mapping of the task's user namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdMapping {
    /// Who writes the maps.
    pub method: MapMethod,
    /// uid ranges.
    pub uids: Vec<IdRange>,
    /// gid ranges.
    pub gids: Vec<IdRange>,
}

impl IdMapping {
    /// The uid and gid ranges of a root caller's tasks, which are ids of their own on the
    /// host (see [`shifted_ids`]); `None` when the task's root is the caller.
    pub fn task_range(&self) -> Option<(IdRange, IdRange)> {
        let (uids, gids) = (*self.uids.first()?, *self.gids.first()?);
        (self.method == MapMethod::Direct && uids.outside != 0).then_some((uids, gids))
    }
}

/// Who writes the id maps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapMethod {
    /// The caller has `CAP_SETUID`/`CAP_SETGID` (host root) and writes them itself.
    Direct,
    /// The setuid helpers `newuidmap`/`newgidmap`, with the caller's `/etc/subuid` ranges.
    Helpers { newuidmap: PathBuf, newgidmap: PathBuf },
    /// An unprivileged caller without helpers or subordinate ids: only its own id is mapped
    /// (to 0), `setgroups` is denied, and `chown` to any other id fails.
    SingleId,
}

/// `count` ids starting at `inside` map to `outside` on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IdRange {
    /// First id inside.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// Number of ids.
    pub count: u32,
}

/// The landlock part of the spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Landlock {
    /// Enforced with this ABI: every filesystem access right the ABI knows is handled.
    Enforced {
        abi: u32,
        rules: Vec<(PathBuf, Access)>,
        /// Abstract unix sockets and signals confined to the sandbox (ABI 6).
        scoped: bool,
    },
    /// The kernel has no landlock: mount isolation alone confines the task.
    Unavailable,
}

/// The system-call filter of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum SyscallFilter {
    /// These calls fail (with `ioctl(TIOCSTI)` and `ioctl(TIOCLINUX)`), and
    /// `socket(AF_UNIX)` when `unix_sockets_denied` (see [`crate::seccomp::program`]).
    Enforced {
        denied: Vec<crate::seccomp::Denied>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unix_sockets_denied: bool,
    },
    /// rstore does not know this architecture's system-call numbers.
    Unavailable,
}

/// Access granted to a path beneath by landlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read files, list directories, execute.
    Read,
    /// Everything.
    ReadWrite,
    /// Read, write, truncate and device ioctls on one device node.
    Device,
}

/// Capabilities a uid-0 task keeps: enough to own, chmod and chown files as a packager
/// does, nothing that mounts, traces, loads, configures the network or raises limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum Capability {
    Chown,
    DacOverride,
    DacReadSearch,
    Fowner,
    Fsetid,
    Kill,
    Setgid,
    Setuid,
    Setfcap,
    NetBindService,
    Mknod,
}

impl Capability {
    /// All capabilities a uid-0 task keeps.
    pub const KEPT: [Capability; 11] = [
        Capability::Chown,
        Capability::DacOverride,
        Capability::DacReadSearch,
        Capability::Fowner,
        Capability::Fsetid,
        Capability::Kill,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::NetBindService,
        Capability::Mknod,
    ];

    /// The kernel's number for this capability.
    pub fn number(self) -> u32 {
        match self {
            Capability::Chown => 0,
            Capability::DacOverride => 1,
            Capability::DacReadSearch => 2,
            Capability::Fowner => 3,
            Capability::Fsetid => 4,
            Capability::Kill => 5,
            Capability::Setgid => 6,
            Capability::Setuid => 7,
            Capability::NetBindService => 10,
            Capability::Mknod => 27,
            Capability::Setfcap => 31,
        }
    }
}

/// An rlimit the sandbox sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum Rlimit {
    Core,
    Nofile,
    Fsize,
    As,
    Nproc,
}

/// Limits applied through the task's cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CgroupLimits {
    /// Where the cgroups go is recorded in [`HostFacts`]; `memory.max` (v1:
    /// `memory.limit_in_bytes`) in bytes.
    pub memory_max: Option<u64>,
    /// `pids.max`.
    pub pids_max: Option<u32>,
    /// `cpuset.cpus`, where we can use the cpuset controller too.
    pub cpus: Option<Vec<u32>>,
}

/// How each guarantee is enforced on this host: reported with every outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Enforcement {
    /// The landlock ABI in force, `None` without landlock.
    pub landlock_abi: Option<u32>,
    /// How the memory limit is enforced.
    pub memory: Mechanism,
    /// How the process limit is enforced.
    pub processes: Mechanism,
    /// `direct`, `helpers` or `single-id`.
    pub id_mapping: String,
    /// Whether a system-call filter is in force.
    #[serde(default)]
    pub syscall_filter: bool,
    /// How the task is kept to its CPUs: its cgroup's cpuset, or only an affinity mask.
    #[serde(default)]
    pub cpus: Mechanism,
}

/// The mechanism behind one limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// No limit was asked for.
    #[default]
    NotRequested,
    /// The task's cgroup (v2 `memory.max`, `pids.max`, or their v1 counterparts): the
    /// whole task.
    Cgroup,
    /// `RLIMIT_AS`: per process, not for the whole task.
    AddressSpaceRlimit,
    /// `kernel.pid_max` of the task's pid namespace: the whole task, at least 300.
    PidNamespaceMax,
    /// `RLIMIT_NPROC` in the task's user namespace.
    ProcessRlimit,
    /// The CPU affinity mask, which the task could widen again.
    AffinityMask,
    /// Asked for but not enforceable here.
    Unenforced,
}

/// A guarantee weaker than asked for on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Degradation {
    /// No landlock: only the mount namespace confines file access.
    NoLandlock,
    /// Landlock older than ABI 6: host abstract unix sockets reachable with host network.
    NoLandlockScopes { abi: u32 },
    /// No usable cgroup (v2 or v1): limits fall back to rlimits and `pid_max`.
    NoCgroup { reason: String },
    /// The process limit was raised to the kernel's minimum `pid_max`.
    ProcessLimitRaised { requested: u32, effective: u32 },
    /// The process limit cannot be enforced here.
    ProcessLimitUnenforced { requested: u32 },
    /// Only one id is mapped: `chown` to other ids fails inside.
    SingleIdMapping,
    /// No system-call filter on this architecture.
    NoSyscallFilter,
    /// The kernel has no time namespaces: tasks see the host's uptime.
    NoTimeNamespace,
    /// No cpuset controller we can use: the task's CPUs are an affinity mask only.
    NoCpuset,
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Degradation::NoLandlock => write!(
                f,
                "the kernel has no landlock: tasks are confined by their mount namespace only (no defence in depth)"
            ),
            Degradation::NoLandlockScopes { abi } => {
                write!(
                    f,
                    "landlock ABI {abi} < 6 cannot keep tasks with host network from the host's abstract unix sockets: they get no unix sockets (socket(AF_UNIX) fails)"
                )
            }
            Degradation::NoCgroup { reason } => write!(
                f,
                "no usable cgroup ({reason}): memory is limited per process (RLIMIT_AS), processes by the pid namespace's pid_max"
            ),
            Degradation::ProcessLimitRaised { requested, effective } => write!(
                f,
                "process limit {requested} raised to {effective}: without a pids cgroup the kernel's pid_max cannot go lower"
            ),
            Degradation::ProcessLimitUnenforced { requested } => write!(
                f,
                "process limit {requested} not enforced: no pids cgroup, no per-namespace pid_max (Linux < 6.14), and RLIMIT_NPROC does not apply to host root"
            ),
            Degradation::NoSyscallFilter => {
                write!(f, "no system-call filter: rstore knows no system-call table for this architecture")
            }
            Degradation::NoCpuset => write!(
                f,
                "no cpuset controller to use (cgroup v2 without cpuset delegated, or no writable v1 cpuset hierarchy): tasks are kept to their CPUs by an affinity mask they could widen"
            ),
            Degradation::NoTimeNamespace => {
                write!(f, "the kernel has no time namespaces: tasks see the host's monotonic clock and uptime")
            }
            Degradation::SingleIdMapping => write!(
                f,
                "no newuidmap/newgidmap with /etc/subuid and /etc/subgid ranges for this user: only one id is mapped, chown to other ids fails inside"
            ),
        }
    }
}

/// Turns a request into the concrete setup for this host. Pure.
pub fn plan(request: &Request, host: &HostFacts) -> Result<Spec, PlanError> {
    if request.program.is_empty() {
        return Err(PlanError::EmptyProgram);
    }
    for arg in std::iter::once(&request.program).chain(&request.args) {
        if arg.contains('\0') {
            return Err(PlanError::NulByte { what: format!("argument {arg:?}") });
        }
    }
    let env = environment(request)?;
    let search_path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.split(':').filter(|d| !d.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();

    let cwd = match &request.cwd {
        Some(cwd) => checked_inside(cwd)?,
        None => PathBuf::from(layout::WORK_DIR),
    };
    if request.hostname.is_empty() || request.hostname.len() > 64 || request.hostname.contains(['\0', '/']) {
        return Err(PlanError::BadHostname { hostname: request.hostname.clone() });
    }

    let ids = id_mapping(request, host)?;
    let mut degradations = Vec::new();
    if ids.method == MapMethod::SingleId {
        degradations.push(Degradation::SingleIdMapping);
    }

    let tmpfs_size = request.limits.tmpfs_bytes.or(request.limits.memory_bytes);
    let mut steps = steps(request, tmpfs_size)?;
    if let Some(offset) = request.conditions.clock_offset_ns {
        let at = steps.iter().position(|s| s.path() == Path::new("/etc/hosts")).map_or(steps.len(), |i| i + 1);
        steps.splice(
            at..at,
            [
                Step::ClockShim { path: PathBuf::from(layout::CLOCK_SHIM_PATH) },
                Step::File {
                    path: PathBuf::from(layout::CLOCK_OFFSET_PATH),
                    mode: 0o644,
                    contents: format!("{offset}\n"),
                },
                Step::File {
                    path: PathBuf::from("/etc/ld.so.preload"),
                    mode: 0o644,
                    contents: format!("{}\n", layout::CLOCK_SHIM_PATH),
                },
            ],
        );
    }

    let landlock = match host.landlock_abi {
        Some(abi) => {
            let scoped = abi >= 6;
            if !scoped {
                degradations.push(Degradation::NoLandlockScopes { abi });
            }
            Landlock::Enforced { abi, rules: landlock_rules(&steps), scoped }
        }
        None => {
            degradations.push(Degradation::NoLandlock);
            Landlock::Unavailable
        }
    };

    let denied = if request.conditions.pinned_randomness {
        crate::seccomp::denied_with_pinned_randomness()
    } else {
        crate::seccomp::denied()
    };
    // On the host's network without landlock's scoping, abstract unix sockets of the
    // host would be reachable: no unix sockets at all (a fetch needs none).
    let unix_sockets_denied =
        request.network == Network::Host && !matches!(landlock, Landlock::Enforced { scoped: true, .. });
    let syscall_filter = match crate::seccomp::program(&denied, unix_sockets_denied) {
        Some(_) => SyscallFilter::Enforced { denied, unix_sockets_denied },
        None => {
            degradations.push(Degradation::NoSyscallFilter);
            SyscallFilter::Unavailable
        }
    };
    if !host.time_namespace {
        degradations.push(Degradation::NoTimeNamespace);
    }

    let capabilities = if request.uid == 0 { Capability::KEPT.to_vec() } else { Vec::new() };

    let mut rlimits = vec![
        (Rlimit::Core, 0),
        (Rlimit::Nofile, request.limits.open_files.unwrap_or(DEFAULT_OPEN_FILES).min(host.nofile_hard)),
    ];
    if let Some(size) = request.limits.file_size_bytes {
        rlimits.push((Rlimit::Fsize, size));
    }

    let cpus: Vec<u32> = match request.parallelism {
        Some(0) => return Err(PlanError::ZeroParallelism),
        Some(n) => {
            let skip = request.first_cpu as usize % host.cpus.len().max(1);
            let mut cpus: Vec<u32> =
                host.cpus.iter().copied().cycle().skip(skip).take((n as usize).min(host.cpus.len())).collect();
            cpus.sort_unstable();
            cpus
        }
        None => host.cpus.clone(),
    };
    // A cpuset, where there is one, keeps the task to its CPUs even without other limits.
    let wants_cgroup = request.limits.memory_bytes.is_some()
        || request.limits.processes.is_some()
        || (host.cgroup.cpuset() && request.parallelism.is_some());
    let mut pid_max = None;
    let (cgroup, memory, processes) = match (&host.cgroup, wants_cgroup) {
        (_, false) => (None, Mechanism::NotRequested, Mechanism::NotRequested),
        (CgroupSupport::Unavailable { reason }, true) => {
            degradations.push(Degradation::NoCgroup { reason: reason.clone() });
            let memory = match request.limits.memory_bytes {
                Some(bytes) => {
                    rlimits.push((Rlimit::As, bytes));
                    Mechanism::AddressSpaceRlimit
                }
                None => Mechanism::NotRequested,
            };
            let processes = match request.limits.processes {
                None => Mechanism::NotRequested,
                Some(count) if host.pid_max_per_namespace => {
                    // pid 1 is the sandbox's init; pids run from 1 to pid_max - 1.
                    let wanted = count.saturating_add(2);
                    let effective = wanted.max(PID_MAX_MIN);
                    if effective != wanted {
                        degradations
                            .push(Degradation::ProcessLimitRaised { requested: count, effective: effective - 2 });
                    }
                    pid_max = Some(effective);
                    Mechanism::PidNamespaceMax
                }
                Some(count) if maps_to_host_root(&ids, request.uid) => {
                    degradations.push(Degradation::ProcessLimitUnenforced { requested: count });
                    Mechanism::Unenforced
                }
                Some(count) => {
                    rlimits.push((Rlimit::Nproc, u64::from(count)));
                    Mechanism::ProcessRlimit
                }
            };
            (None, memory, processes)
        }
        (support, true) => (
            Some(CgroupLimits {
                memory_max: request.limits.memory_bytes,
                // The helper and the namespace's init live in the cgroup too.
                pids_max: request.limits.processes.map(|n| n.saturating_add(2)),
                cpus: (support.cpuset() && request.parallelism.is_some()).then(|| cpus.clone()),
            }),
            mechanism(request.limits.memory_bytes.is_some(), Mechanism::Cgroup),
            mechanism(request.limits.processes.is_some(), Mechanism::Cgroup),
        ),
    };
    rlimits.sort();
    let cpus_mechanism = match (&cgroup, request.parallelism) {
        (_, None) => Mechanism::NotRequested,
        (Some(CgroupLimits { cpus: Some(_), .. }), Some(_)) => Mechanism::Cgroup,
        (_, Some(_)) => {
            degradations.push(Degradation::NoCpuset);
            Mechanism::AffinityMask
        }
    };

    Ok(Spec {
        argv: std::iter::once(request.program.clone()).chain(request.args.iter().cloned()).collect(),
        search_path,
        env,
        cwd,
        hostname: request.hostname.clone(),
        network: request.network,
        enforcement: Enforcement {
            landlock_abi: host.landlock_abi,
            memory,
            processes,
            id_mapping: match ids.method {
                MapMethod::Direct => "direct",
                MapMethod::Helpers { .. } => "helpers",
                MapMethod::SingleId => "single-id",
            }
            .to_owned(),
            syscall_filter: matches!(syscall_filter, SyscallFilter::Enforced { .. }),
            cpus: cpus_mechanism,
        },
        ids,
        uid: request.uid,
        gid: request.gid,
        steps,
        landlock,
        capabilities,
        rlimits,
        cpus,
        syscall_filter,
        personality: personality(&request.conditions),
        time_namespace: host.time_namespace,
        pid_max,
        cgroup,
        time_limit: request.limits.time,
        log_limit: request.limits.log_bytes,
        stdout: request.stdout.clone(),
        stderr: request.stderr.clone(),
        stdin: request.stdin,
        degradations,
    })
}

fn mechanism(requested: bool, mechanism: Mechanism) -> Mechanism {
    if requested { mechanism } else { Mechanism::NotRequested }
}

fn maps_to_host_root(ids: &IdMapping, uid: u32) -> bool {
    ids.uids.iter().any(|r| uid >= r.inside && uid - r.inside < r.count && r.outside + (uid - r.inside) == 0)
}

fn environment(request: &Request) -> Result<Vec<(String, String)>, PlanError> {
    let fixed = layout::fixed_env(request.source_date_epoch);
    for (key, value) in &request.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return Err(PlanError::BadVariable { name: key.clone() });
        }
        if let Some((_, fixed_value)) = fixed.iter().find(|(k, _)| k == key)
            && fixed_value != value
        {
            return Err(PlanError::ReservedVariable {
                name: key.clone(),
                fixed: fixed_value.clone(),
                given: value.clone(),
            });
        }
        if key == "SOURCE_DATE_EPOCH" && request.source_date_epoch.is_none() {
            return Err(PlanError::ReservedVariable {
                name: key.clone(),
                fixed: "(the request's source_date_epoch)".to_owned(),
                given: value.clone(),
            });
        }
    }
    let mut env: Vec<(String, String)> = request.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (key, value) in fixed {
        if !request.env.contains_key(key) {
            env.push((key.to_owned(), value));
        }
    }
    if !request.env.contains_key("PATH") {
        env.push(("PATH".to_owned(), layout::DEFAULT_PATH.to_owned()));
    }
    env.sort();
    Ok(env)
}

/// The host ids of a root caller's tasks: `(uid, gid)` of inside id 0, inside id `n`
/// being that plus `n`. `None` for any other caller, whose tasks' id 0 is the caller.
pub fn shifted_ids(host: &HostFacts) -> Option<(u32, u32)> {
    if host.uid != 0 {
        return None;
    }
    let (uids, gids) = id_mapping(&Request::new("true", [""; 0]), host).ok()?.task_range()?;
    Some((uids.outside, gids.outside))
}

fn id_mapping(request: &Request, host: &HostFacts) -> Result<IdMapping, PlanError> {
    let mapping = if host.uid == 0 {
        // Never host root: the tasks of a root caller run as a range of their own, so a
        // file a task creates or chowns belongs to that range on the host, whatever id
        // it has inside.
        let start = |range: Option<crate::host::SubIdRange>| {
            range.filter(|r| r.count >= MAPPED_IDS && r.start > 0).map_or(ROOT_TASK_IDS_START, |r| r.start)
        };
        IdMapping {
            method: MapMethod::Direct,
            uids: vec![IdRange { inside: 0, outside: start(host.subuid), count: MAPPED_IDS }],
            gids: vec![IdRange { inside: 0, outside: start(host.subgid), count: MAPPED_IDS }],
        }
    } else if let (Some((newuidmap, newgidmap)), Some(subuid), Some(subgid)) =
        (&host.id_helpers, host.subuid, host.subgid)
    {
        let range = |own: u32, sub: crate::host::SubIdRange| {
            vec![
                IdRange { inside: 0, outside: own, count: 1 },
                IdRange { inside: 1, outside: sub.start, count: sub.count.min(MAPPED_IDS - 1) },
            ]
        };
        IdMapping {
            method: MapMethod::Helpers { newuidmap: newuidmap.clone(), newgidmap: newgidmap.clone() },
            uids: range(host.uid, subuid),
            gids: range(host.gid, subgid),
        }
    } else {
        IdMapping {
            method: MapMethod::SingleId,
            uids: vec![IdRange { inside: 0, outside: host.uid, count: 1 }],
            gids: vec![IdRange { inside: 0, outside: host.gid, count: 1 }],
        }
    };
    let mapped = |ranges: &[IdRange], id: u32| ranges.iter().any(|r| id >= r.inside && id - r.inside < r.count);
    if !mapped(&mapping.uids, request.uid) || !mapped(&mapping.gids, request.gid) {
        return Err(PlanError::UnmappedId { uid: request.uid, gid: request.gid });
    }
    Ok(mapping)
}

/// An inside path: absolute, no `.` or `..`, no trailing slash; returned normalised.
fn checked_inside(path: &Path) -> Result<PathBuf, PlanError> {
    let bad = || PlanError::BadInsidePath { path: path.to_owned() };
    if !path.is_absolute() || path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(bad());
    }
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(name) => out.push(name),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// The personality flags `conditions` ask for.
fn personality(conditions: &crate::Conditions) -> u32 {
    let mut flags = 0;
    if conditions.old_kernel {
        flags |= layout::PERSONALITY_UNAME26;
    }
    if conditions.pinned_randomness {
        flags |= layout::PERSONALITY_ADDR_NO_RANDOMIZE;
    }
    flags
}

fn checked_host(path: &Path) -> Result<PathBuf, PlanError> {
    if !path.is_absolute() || path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(PlanError::BadHostPath { path: path.to_owned() });
    }
    Ok(path.to_owned())
}

fn steps(request: &Request, tmpfs_size: Option<u64>) -> Result<Vec<Step>, PlanError> {
    let p = PathBuf::from;
    // Room for the fixed streams of pinned randomness.
    let dev_size = match request.conditions.pinned_randomness {
        true => 64 * 1024 + 2 * layout::PINNED_RANDOM_BYTES as u64,
        false => 64 * 1024,
    };
    let mut steps = vec![
        Step::Dir { path: p("/build"), mode: 0o755 },
        Step::Dir { path: p("/etc"), mode: 0o755 },
        Step::File { path: p("/etc/passwd"), mode: 0o644, contents: layout::passwd(request.uid, request.gid) },
        Step::File { path: p("/etc/group"), mode: 0o644, contents: layout::group(request.gid) },
        Step::File { path: p("/etc/hosts"), mode: 0o644, contents: layout::hosts(&request.hostname) },
    ];
    let work = p(layout::WORK_DIR);
    steps.push(match &request.work_dir {
        WorkDir::Host(host) => Step::Bind { host: checked_host(host)?, path: work, writable: true, optional: false },
        WorkDir::Overlay { lower, upper, work: scratch } => {
            overlay(lower, Some((upper, scratch)), &[], tmpfs_size, work)?
        }
        WorkDir::Tmpfs => Step::Tmpfs { path: work, mode: 0o755, size: tmpfs_size },
    });
    steps.extend([
        Step::Tmpfs { path: p(layout::HOME), mode: 0o755, size: tmpfs_size },
        Step::Tmpfs { path: p("/tmp"), mode: 0o1777, size: tmpfs_size },
        Step::Tmpfs { path: p("/dev"), mode: 0o755, size: Some(dev_size) },
    ]);
    for name in layout::DEVICES {
        let path = Path::new("/dev").join(name);
        steps.push(match name {
            "random" | "urandom" if request.conditions.pinned_randomness => Step::PinnedRandom { path },
            _ => Step::Device { path },
        });
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Step::Symlink { target: p(target), path: Path::new("/dev").join(link) });
    }
    steps.push(Step::Tmpfs { path: p("/dev/shm"), mode: 0o1777, size: tmpfs_size });
    steps.push(Step::Proc { path: p("/proc") });

    // The request's mounts, parents before children.
    let mut mounts: Vec<(PathBuf, &Mount)> = Vec::new();
    for mount in &request.mounts {
        let inside = checked_inside(mount.inside())?;
        let reserved = layout::RESERVED.iter().any(|r| Path::new(r) == inside)
            || inside.starts_with("/proc")
            || inside.starts_with("/dev")
            || ["/etc/passwd", "/etc/group", "/etc/hosts", "/build"].iter().any(|r| Path::new(r) == inside);
        if reserved {
            return Err(PlanError::ReservedPath { path: inside });
        }
        if mounts.iter().any(|(seen, _)| *seen == inside) {
            return Err(PlanError::DuplicatePath { path: inside });
        }
        mounts.push((inside, mount));
    }
    mounts.sort_by(|(a, _), (b, _)| a.components().count().cmp(&b.components().count()).then_with(|| a.cmp(b)));
    for (inside, mount) in mounts {
        if let Mount::Files { files, .. } = mount {
            steps.extend(files_steps(files, inside)?);
            continue;
        }
        steps.push(match mount {
            Mount::ReadOnly { host, .. } => {
                Step::Bind { host: checked_host(host)?, path: inside, writable: false, optional: false }
            }
            Mount::Writable { host, .. } => {
                Step::Bind { host: checked_host(host)?, path: inside, writable: true, optional: false }
            }
            Mount::Overlay { lower, upper, work, modes, .. } => {
                overlay(lower, Some((upper, work)), modes, tmpfs_size, inside)?
            }
            // One directory seen as it is: a read-only bind (overlayfs wants two lower
            // directories without an upper one).
            Mount::Layers { lower, modes, .. } if lower.len() == 1 && modes.is_empty() => {
                Step::Bind { host: checked_host(&lower[0])?, path: inside, writable: false, optional: false }
            }
            Mount::Layers { lower, modes, .. } => overlay(lower, None, modes, tmpfs_size, inside)?,
            Mount::Tmpfs { .. } => Step::Tmpfs { path: inside, mode: 0o755, size: tmpfs_size },
            Mount::Files { .. } => unreachable!("planned above"),
            Mount::Symlink { target, .. } => {
                if target.as_os_str().is_empty() || target.as_os_str().as_encoded_bytes().contains(&0) {
                    return Err(PlanError::BadInsidePath { path: target.clone() });
                }
                Step::Symlink { target: target.clone(), path: inside }
            }
        });
    }
    if request.network == Network::Host {
        steps.push(Step::Bind {
            host: p("/etc/resolv.conf"),
            path: p("/etc/resolv.conf"),
            writable: false,
            optional: true,
        });
    }
    Ok(steps)
}

/// A tmpfs just large enough for `files`, the files, then the tmpfs made read-only.
fn files_steps(files: &std::collections::BTreeMap<String, String>, inside: PathBuf) -> Result<Vec<Step>, PlanError> {
    // tmpfs counts whole pages; 64 KiB covers the largest page size Linux has.
    const PAGE: u64 = 64 << 10;
    let size = files.values().map(|c| (c.len() as u64).div_ceil(PAGE).max(1) * PAGE).sum::<u64>() + PAGE;
    let mut steps = vec![Step::Tmpfs { path: inside.clone(), mode: 0o755, size: Some(size) }];
    for (name, contents) in files {
        let path = inside.join(name);
        let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']);
        if !plain {
            return Err(PlanError::BadInsidePath { path });
        }
        steps.push(Step::File { path, mode: 0o644, contents: contents.clone() });
    }
    steps.push(Step::ReadOnly { path: inside });
    Ok(steps)
}

fn overlay(
    lower: &[PathBuf],
    upper: Option<(&PathBuf, &PathBuf)>,
    modes: &[RecordedMode],
    modes_size: Option<u64>,
    path: PathBuf,
) -> Result<Step, PlanError> {
    if lower.is_empty() {
        return Err(PlanError::EmptyOverlay { path });
    }
    for dir in lower {
        checked_host(dir)?;
        if dir.as_os_str().as_encoded_bytes().iter().any(|b| matches!(b, b':' | b',')) {
            return Err(PlanError::BadHostPath { path: dir.clone() });
        }
    }
    let mut modes = modes.to_vec();
    for m in &modes {
        let plain = !m.path.as_os_str().is_empty()
            && !m.path.as_os_str().as_encoded_bytes().contains(&0)
            && m.path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || m.lower >= lower.len() || m.mode > 0o7777 {
            return Err(PlanError::BadRecordedMode { overlay: path, path: m.path.clone() });
        }
    }
    // Parents before children, per lower directory.
    modes.sort();
    modes.dedup_by(|a, b| a.lower == b.lower && a.path == b.path);
    let (upper, work) = match upper {
        Some((upper, work)) => (Some(checked_host(upper)?), Some(checked_host(work)?)),
        None => (None, None),
    };
    Ok(Step::Overlay { lower: lower.to_vec(), upper, work, modes, modes_size, path })
}

fn landlock_rules(steps: &[Step]) -> Vec<(PathBuf, Access)> {
    let mut rules = vec![(PathBuf::from("/"), Access::Read)];
    for step in steps {
        let access = match step {
            Step::Bind { writable: true, .. } | Step::Overlay { upper: Some(_), .. } => Access::ReadWrite,
            Step::Tmpfs { path, .. } if path != Path::new("/dev") => Access::ReadWrite,
            Step::Device { .. } => Access::Device,
            _ => continue,
        };
        rules.push((step.path().to_owned(), access));
    }
    rules
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "argv: {:?}", self.argv)?;
        writeln!(f, "search path: {:?}", self.search_path)?;
        writeln!(f, "cwd: {}", self.cwd.display())?;
        writeln!(f, "env:")?;
        for (key, value) in &self.env {
            writeln!(f, "  {key}={value}")?;
        }
        writeln!(
            f,
            "namespaces: user mount pid ipc uts cgroup{}",
            match self.network {
                Network::Loopback => " net (loopback only)",
                Network::Host => " (host network)",
            }
        )?;
        writeln!(f, "hostname: {} (domain {})", self.hostname, layout::DOMAINNAME)?;
        writeln!(f, "ids: {} as {}:{}", self.enforcement.id_mapping, self.uid, self.gid)?;
        for (what, ranges) in [("uid", &self.ids.uids), ("gid", &self.ids.gids)] {
            for r in ranges {
                writeln!(f, "  {what} {}..+{} -> host {}", r.inside, r.count, r.outside)?;
            }
        }
        writeln!(f, "root (tmpfs, read-only once built):")?;
        for step in &self.steps {
            match step {
                Step::Dir { path, mode } => writeln!(f, "  dir     {} {mode:04o}", path.display())?,
                Step::File { path, mode, contents } if contents.len() <= 200 => {
                    writeln!(f, "  file    {} {mode:04o} {:?}", path.display(), contents)?
                }
                Step::File { path, mode, contents } => {
                    writeln!(f, "  file    {} {mode:04o} ({} bytes)", path.display(), contents.len())?
                }
                Step::Symlink { target, path } => writeln!(f, "  symlink {} -> {}", path.display(), target.display())?,
                Step::Tmpfs { path, mode, size } => match size {
                    Some(size) => writeln!(f, "  tmpfs   {} {mode:04o} size={size}", path.display())?,
                    None => writeln!(f, "  tmpfs   {} {mode:04o}", path.display())?,
                },
                Step::Bind { host, path, writable, optional } => writeln!(
                    f,
                    "  bind    {} <- {} {}{}",
                    path.display(),
                    host.display(),
                    if *writable { "rw" } else { "ro" },
                    if *optional { " (if present)" } else { "" }
                )?,
                Step::Device { path } => writeln!(f, "  device  {}", path.display())?,
                Step::PinnedRandom { path } => writeln!(f, "  fixed   {} (pinned randomness)", path.display())?,
                Step::ClockShim { path } => writeln!(f, "  shim    {} (shifted clock)", path.display())?,
                Step::Overlay { lower, upper, work, modes, path, .. } => {
                    write!(f, "  overlay {} <- lower {:?}", path.display(), lower)?;
                    match (upper, work) {
                        (Some(upper), Some(work)) => write!(f, " upper {} work {}", upper.display(), work.display())?,
                        _ => write!(f, " read-only")?,
                    }
                    for m in modes {
                        write!(f, " [{}: {} {:04o}]", m.lower, m.path.display(), m.mode)?;
                    }
                    writeln!(f)?
                }
                Step::Proc { path } => writeln!(f, "  proc    {}", path.display())?,
                Step::ReadOnly { path } => writeln!(f, "  ro      {}", path.display())?,
            }
        }
        match &self.landlock {
            Landlock::Enforced { abi, rules, scoped } => {
                writeln!(
                    f,
                    "landlock: ABI {abi}{}",
                    if *scoped { ", abstract unix sockets and signals scoped" } else { "" }
                )?;
                for (path, access) in rules {
                    writeln!(f, "  {access:?} {}", path.display())?;
                }
            }
            Landlock::Unavailable => writeln!(f, "landlock: unavailable")?,
        }
        writeln!(f, "no_new_privs: yes; umask {:03o}", layout::UMASK)?;
        writeln!(f, "capabilities: {:?}", self.capabilities)?;
        writeln!(f, "rlimits: {:?}", self.rlimits)?;
        writeln!(f, "cpus: {:?}", self.cpus)?;
        match &self.syscall_filter {
            SyscallFilter::Enforced { denied, unix_sockets_denied } => {
                let names: Vec<&str> = denied.iter().map(|d| d.name).collect();
                let unix = if *unix_sockets_denied { ", socket(AF_UNIX)" } else { "" };
                writeln!(f, "seccomp: deny {} and ioctl TIOCSTI, TIOCLINUX{unix}", names.join(" "))?
            }
            SyscallFilter::Unavailable => writeln!(f, "seccomp: unavailable")?,
        }
        writeln!(f, "time namespace: {}", if self.time_namespace { "yes" } else { "no" })?;
        if let Some(pid_max) = self.pid_max {
            writeln!(f, "pid_max: {pid_max}")?;
        }
        if let Some(cgroup) = &self.cgroup {
            writeln!(
                f,
                "cgroup: memory.max={:?} pids.max={:?} cpuset.cpus={:?}",
                cgroup.memory_max, cgroup.pids_max, cgroup.cpus
            )?;
        }
        writeln!(f, "time limit: {:?}", self.time_limit)?;
        if let Some(bytes) = self.log_limit {
            writeln!(f, "log limit: {bytes} bytes per file")?;
        }
        writeln!(f, "stdin: {:?}; stdout: {:?}; stderr: {:?}", self.stdin, self.stdout, self.stderr)?;
        writeln!(f, "enforcement: memory {:?}, processes {:?}", self.enforcement.memory, self.enforcement.processes)?;
        for degradation in &self.degradations {
            writeln!(f, "WARNING: {degradation}")?;
        }
        Ok(())
    }
}
