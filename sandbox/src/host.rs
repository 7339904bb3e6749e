//! What the host offers the sandbox: probed once per process, passed to the pure planner.
//!
//! Everything [`crate::plan()`] needs to know about the machine lives in [`HostFacts`], so the
//! plan is a pure function of (request, facts) and tests can feed it any machine.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::cgroup;

/// Facts about the host that shape a sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// Real uid of the calling process on the host.
    pub uid: u32,
    /// Real gid of the calling process on the host.
    pub gid: u32,
    /// The caller's subordinate uid range from `/etc/subuid`, if any.
    pub subuid: Option<SubIdRange>,
    /// The caller's subordinate gid range from `/etc/subgid`, if any.
    pub subgid: Option<SubIdRange>,
    /// `newuidmap` and `newgidmap`, when both are installed.
    pub id_helpers: Option<(PathBuf, PathBuf)>,
    /// The kernel's landlock ABI version; `None` when the kernel has no landlock (or it is
    /// disabled at boot).
    pub landlock_abi: Option<u32>,
    /// Whether we can give tasks cgroups with memory and pids limits (v2 delegated, or v1).
    pub cgroup: CgroupSupport,
    /// CPUs this process may run on (its affinity mask), ascending.
    pub cpus: Vec<u32>,
    /// This process's hard `RLIMIT_NOFILE` (nobody in a user namespace can raise it).
    pub nofile_hard: u64,
    /// Whether `kernel.pid_max` is per pid namespace (Linux 6.14 and later), which caps the
    /// number of processes of a task where no pids cgroup is available.
    pub pid_max_per_namespace: bool,
    /// Whether the kernel has time namespaces (Linux 5.6 and later).
    #[serde(default)]
    pub time_namespace: bool,
}

/// A range of subordinate ids (`/etc/subuid` line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubIdRange {
    /// First subordinate id on the host.
    pub start: u32,
    /// Number of ids.
    pub count: u32,
}

/// cgroup availability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CgroupSupport {
    /// Tasks get a child cgroup of `parent` with `memory.max` and `pids.max` (and
    /// `cpuset.cpus` when `cpuset`: the controller is enabled for children too).
    Delegated {
        parent: PathBuf,
        #[serde(default)]
        cpuset: bool,
    },
    /// cgroup v1 (a v1 or hybrid host): our own cgroups in the `memory` and `pids`
    /// hierarchies, where we may create children, and in the `cpuset` hierarchy when
    /// that is writable too. Tasks get a child in each hierarchy a limit needs.
    V1 { memory: PathBuf, pids: PathBuf, cpuset: Option<PathBuf> },
    /// No usable cgroup: why, in words.
    Unavailable { reason: String },
}

impl CgroupSupport {
    /// Whether tasks can be kept to a cpuset they cannot widen.
    pub fn cpuset(&self) -> bool {
        match self {
            CgroupSupport::Delegated { cpuset, .. } => *cpuset,
            CgroupSupport::V1 { cpuset, .. } => cpuset.is_some(),
            CgroupSupport::Unavailable { .. } => false,
        }
    }
}

impl HostFacts {
    /// The facts of this machine and process, probed on first use and then cached.
    pub fn current() -> &'static HostFacts {
        static FACTS: OnceLock<HostFacts> = OnceLock::new();
        FACTS.get_or_init(HostFacts::probe)
    }

    /// Probes the machine now. Never fails: what cannot be read is reported as missing.
    pub fn probe() -> HostFacts {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let name = user_name(uid);
        let helpers = match (find_tool("newuidmap"), find_tool("newgidmap")) {
            (Some(u), Some(g)) => Some((u, g)),
            _ => None,
        };
        HostFacts {
            uid,
            gid,
            subuid: sub_ids(Path::new("/etc/subuid"), uid, name.as_deref()),
            subgid: sub_ids(Path::new("/etc/subgid"), uid, name.as_deref()),
            id_helpers: helpers,
            landlock_abi: landlock_abi(),
            cgroup: cgroup::probe(),
            cpus: affinity(),
            nofile_hard: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum.unwrap_or(u64::MAX),
            pid_max_per_namespace: kernel_at_least(6, 14),
            time_namespace: Path::new("/proc/self/ns/time").exists(),
        }
    }
}

/// The kernel's landlock ABI version, or `None` without landlock.
pub fn landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the syscall only
    // returns the ABI version (or an error); it reads and writes no memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(ret).ok().filter(|abi| *abi > 0)
}

fn affinity() -> Vec<u32> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU as u32).filter(|cpu| set.is_set(*cpu as usize)).collect(),
        Err(_) => vec![0],
    }
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let found_major = parts.next().and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let found_minor = parts.next().and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    (found_major, found_minor) >= (major, minor)
}

fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].iter().map(|dir| Path::new(dir).join(name)).find(|path| path.is_file())
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// Parses `/etc/subuid`-style text for the first range of `uid` (by number or name).
pub fn parse_sub_ids(text: &str, uid: u32, name: Option<&str>) -> Option<SubIdRange> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let start = fields.next()?.parse::<u32>().ok()?;
        let count = fields.next()?.parse::<u32>().ok()?;
        let matches = owner.parse::<u32>().ok() == Some(uid) || Some(owner) == name;
        (matches && count > 0).then_some(SubIdRange { start, count })
    })
}

fn sub_ids(path: &Path, uid: u32, name: Option<&str>) -> Option<SubIdRange> {
    parse_sub_ids(&std::fs::read_to_string(path).ok()?, uid, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_ids_match_by_name_or_number() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(parse_sub_ids(text, 1000, Some("alice")), Some(SubIdRange { start: 100000, count: 65536 }));
        assert_eq!(parse_sub_ids(text, 1001, Some("carol")), Some(SubIdRange { start: 200000, count: 1000 }));
        assert_eq!(parse_sub_ids(text, 1002, Some("bob")), None, "empty ranges are ignored");
    }

    #[test]
    fn probe_reports_this_machine() {
        let facts = HostFacts::probe();
        assert!(!facts.cpus.is_empty());
        assert_eq!(facts.uid, rustix::process::getuid().as_raw());
    }
}
