//! cgroup limits for one task: a child cgroup `rstore-<pid>-<n>` of our own cgroup.
//!
//! - **cgroup v2**, where a subtree is delegated to us: one child with `memory.max`,
//!   `memory.swap.max = 0`, `pids.max` and (when the controller is enabled too)
//!   `cpuset.cpus`. That needs the `memory` and `pids` controllers enabled in our
//!   cgroup's `cgroup.subtree_control` and write access to it (our cgroup is the root of
//!   a delegated subtree, or the machine's root cgroup).
//! - **cgroup v1** (a v1 or hybrid host, where the controllers belong to v1), when we
//!   may write our own cgroups of the `memory` and `pids` hierarchies (root can): one
//!   child per hierarchy a limit needs, with `memory.limit_in_bytes` (and
//!   `memory.memsw.limit_in_bytes` where swap is accounted), `pids.max`, and in the
//!   `cpuset` hierarchy `cpuset.cpus` with the parent's `cpuset.mems`.
//!
//! Anything else is reported by [`probe`], and the planner falls back to rlimits and the
//! pid namespace's `pid_max`, loudly. A cpuset is what keeps a task to its CPUs: it
//! cannot widen it, unlike its affinity mask.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::host::CgroupSupport;
use crate::plan::CgroupLimits;

/// Checks whether we can create child cgroups with memory and pids limits: on cgroup v2
/// first, else on the v1 hierarchies.
pub fn probe() -> CgroupSupport {
    let support = probe_parents();
    match &support {
        CgroupSupport::Delegated { parent, .. } => remove_stale(parent),
        CgroupSupport::V1 { memory, pids, cpuset } => {
            for parent in [Some(memory), Some(pids), cpuset.as_ref()].into_iter().flatten() {
                remove_stale(parent);
            }
        }
        CgroupSupport::Unavailable { .. } => {}
    }
    support
}

/// Removes the empty task cgroups an rstore process killed outright left in `parent`
/// (`rstore-<pid>-<n>` of a pid that is gone). One still in use is not empty, and stays.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("rstore-")?.split_once('-')?.0.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

fn probe_parents() -> CgroupSupport {
    let not_v2 = match delegated_parent() {
        Ok(parent) => {
            let enabled = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            let cpuset = enabled.split_whitespace().any(|c| c == "cpuset");
            return CgroupSupport::Delegated { parent, cpuset };
        }
        Err(why) => why,
    };
    match v1_parent("memory").and_then(|memory| Ok((memory, v1_parent("pids")?))) {
        Ok((memory, pids)) => {
            // A cpuset child needs the parent's memory nodes; without them, no cpuset.
            let cpuset = v1_parent("cpuset").ok().filter(|dir| {
                std::fs::read_to_string(dir.join("cpuset.mems")).is_ok_and(|mems| !mems.trim().is_empty())
            });
            CgroupSupport::V1 { memory, pids, cpuset }
        }
        Err(not_v1) => CgroupSupport::Unavailable { reason: format!("{not_v2}; {not_v1}") },
    }
}

/// Why no cgroup subtree is delegated to us.
#[derive(Debug, thiserror::Error)]
enum NotDelegated {
    #[error("cannot read {path}: {source}")]
    Unreadable { path: &'static str, source: std::io::Error },
    #[error("this process is in no cgroup v2 hierarchy")]
    NoV2,
    #[error("no cgroup2 filesystem is mounted")]
    NoMount,
    #[error(
        "the {needed} controller is not enabled for children of {} (enabled: [{enabled}], available: [{available}]); \
         on a cgroup v1 or hybrid host the controllers belong to v1",
        dir.display()
    )]
    Controller { needed: &'static str, dir: PathBuf, enabled: String, available: String },
    #[error("{} is not writable (not delegated to this user)", .0.display())]
    NotWritable(PathBuf),
}

/// Why the cgroup v1 hierarchy of a controller cannot hold our tasks' cgroups.
#[derive(Debug, thiserror::Error)]
enum NotV1 {
    #[error("cannot read {path}: {source}")]
    Unreadable { path: &'static str, source: std::io::Error },
    #[error("no cgroup v1 hierarchy has the {0} controller")]
    NoHierarchy(&'static str),
    #[error("the cgroup v1 {0} hierarchy is not mounted here, or our cgroup is outside its mount")]
    NotMounted(&'static str),
    #[error("{} is not writable (cgroup v1 {controller} hierarchy)", dir.display())]
    NotWritable { controller: &'static str, dir: PathBuf },
}

/// One line of `/proc/self/mountinfo`, as far as finding cgroup hierarchies needs it.
struct MountLine<'a> {
    /// The mount's root within its filesystem (field 4).
    root: &'a str,
    /// Where it is mounted (field 5).
    point: &'a str,
    fstype: &'a str,
    /// Superblock options (for cgroup v1: the controllers).
    options: &'a str,
}

/// The mounts listed in `mountinfo` (lines it cannot read are skipped).
fn cgroup_mounts(mountinfo: &str) -> impl Iterator<Item = MountLine<'_>> {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut left = left.split(' ').skip(3);
        let mut right = right.split(' ');
        let (root, point) = (left.next()?, left.next()?);
        let (fstype, options) = (right.next()?, right.nth(1).unwrap_or(""));
        Some(MountLine { root, point, fstype, options })
    })
}

/// Our own cgroup in the v1 hierarchy of `controller`, when we may create children there.
fn v1_parent(controller: &'static str) -> Result<PathBuf, NotV1> {
    let read = |path: &'static str| std::fs::read_to_string(path).map_err(|source| NotV1::Unreadable { path, source });
    let own = read("/proc/self/cgroup")?;
    // `ID:controller,controller:/path`
    let relative = own
        .lines()
        .find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers.split(',').any(|c| c == controller).then_some(path)
        })
        .ok_or(NotV1::NoHierarchy(controller))?;
    let mountinfo = read("/proc/self/mountinfo")?;
    let dir = cgroup_mounts(&mountinfo)
        .find_map(|m| {
            if m.fstype != "cgroup" || !m.options.split(',').any(|o| o == controller) {
                return None;
            }
            let below = match relative.strip_prefix(m.root) {
                _ if m.root == "/" => relative,
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => return None,
            };
            let below = below.trim_start_matches('/');
            Some(if below.is_empty() { PathBuf::from(m.point) } else { Path::new(m.point).join(below) })
        })
        .ok_or(NotV1::NotMounted(controller))?;
    if rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_err() {
        return Err(NotV1::NotWritable { controller, dir });
    }
    Ok(dir)
}

fn delegated_parent() -> Result<PathBuf, NotDelegated> {
    let read =
        |path: &'static str| std::fs::read_to_string(path).map_err(|source| NotDelegated::Unreadable { path, source });
    let own = read("/proc/self/cgroup")?;
    let relative = own.lines().find_map(|line| line.strip_prefix("0::")).ok_or(NotDelegated::NoV2)?.trim().to_owned();
    let mountinfo = read("/proc/self/mountinfo")?;
    let mount = cgroup_mounts(&mountinfo)
        .find_map(|m| (m.fstype == "cgroup2").then_some(m.point))
        .ok_or(NotDelegated::NoMount)?;
    let dir = Path::new(mount).join(relative.trim_start_matches('/'));
    let controllers = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    for needed in ["memory", "pids"] {
        if !controllers.split_whitespace().any(|c| c == needed) {
            let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            return Err(NotDelegated::Controller {
                needed,
                dir,
                enabled: controllers.trim().to_owned(),
                available: available.trim().to_owned(),
            });
        }
    }
    if rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_err() {
        return Err(NotDelegated::NotWritable(dir));
    }
    Ok(dir)
}

/// One task's cgroups (one on v2, one per hierarchy a limit needs on v1); removed, after
/// killing whatever is left in them, on drop.
#[derive(Debug)]
pub struct TaskCgroup {
    dirs: Vec<PathBuf>,
    /// cgroup v2: `cgroup.kill` ends what is left in one write.
    v2: bool,
}

/// Which cgroup limit stopped a task, read from the cgroup's event counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// `oom_kill` > 0 in `memory.events` (v2) or `memory.oom_control` (v1).
    pub oom_killed: bool,
    /// `pids.events` `max` > 0 (a fork failed at the limit).
    pub pids_max_hit: bool,
}

impl TaskCgroup {
    /// Creates the task's cgroups with these limits; `None` without cgroup support.
    pub fn create(support: &CgroupSupport, limits: &CgroupLimits) -> Result<Option<TaskCgroup>, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("rstore-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        match support {
            CgroupSupport::Unavailable { .. } => Ok(None),
            CgroupSupport::Delegated { parent, .. } => {
                let mut cgroup = TaskCgroup { dirs: Vec::new(), v2: true };
                let dir = cgroup.make(parent, &name)?;
                if let Some(bytes) = limits.memory_max {
                    write(&dir, "memory.max", &bytes.to_string())?;
                    // Swap would let a task exceed its limit silently; not every kernel has it.
                    let _ = write(&dir, "memory.swap.max", "0");
                }
                if let Some(count) = limits.pids_max {
                    write(&dir, "pids.max", &count.to_string())?;
                }
                if let Some(cpus) = &limits.cpus {
                    write(&dir, "cpuset.cpus", &cpu_list(cpus))?;
                }
                Ok(Some(cgroup))
            }
            CgroupSupport::V1 { memory, pids, cpuset } => {
                let mut cgroup = TaskCgroup { dirs: Vec::new(), v2: false };
                if let Some(bytes) = limits.memory_max {
                    let dir = cgroup.make(memory, &name)?;
                    write(&dir, "memory.limit_in_bytes", &bytes.to_string())?;
                    // Memory plus swap, where the kernel accounts swap at all.
                    let _ = write(&dir, "memory.memsw.limit_in_bytes", &bytes.to_string());
                }
                if let Some(count) = limits.pids_max {
                    let dir = cgroup.make(pids, &name)?;
                    write(&dir, "pids.max", &count.to_string())?;
                }
                if let (Some(cpus), Some(parent)) = (&limits.cpus, cpuset) {
                    let dir = cgroup.make(parent, &name)?;
                    // A v1 cpuset starts with no CPUs and no memory nodes: it needs both.
                    let mems = parent.join("cpuset.mems");
                    let mems = std::fs::read_to_string(&mems).map_err(|source| Error::Cgroup { path: mems, source })?;
                    write(&dir, "cpuset.mems", mems.trim())?;
                    write(&dir, "cpuset.cpus", &cpu_list(cpus))?;
                }
                Ok(Some(cgroup))
            }
        }
    }

    /// Creates `parent/name` and remembers it for removal (made once: v1 hierarchies may
    /// be mounted together).
    fn make(&mut self, parent: &Path, name: &str) -> Result<PathBuf, Error> {
        let dir = parent.join(name);
        if self.dirs.contains(&dir) {
            return Ok(dir);
        }
        std::fs::create_dir(&dir).map_err(|source| Error::Cgroup { path: dir.clone(), source })?;
        self.dirs.push(dir.clone());
        Ok(dir)
    }

    /// The `cgroup.procs` files: a helper process writes `0` to each to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|dir| dir.join("cgroup.procs")).collect()
    }

    /// Reads the event counters (call after the task ended).
    pub fn events(&self) -> Events {
        let counter = |file: &str, key: &str| -> u64 {
            self.dirs
                .iter()
                .filter_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
                .filter_map(|text| text.lines().find_map(|line| line.strip_prefix(key)?.trim().parse::<u64>().ok()))
                .sum()
        };
        Events {
            oom_killed: counter("memory.events", "oom_kill ") + counter("memory.oom_control", "oom_kill ") > 0,
            pids_max_hit: counter("pids.events", "max ") > 0,
        }
    }
}

/// `cpuset.cpus` syntax: `0,2,3`.
fn cpu_list(cpus: &[u32]) -> String {
    cpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|source| Error::Cgroup { path, source })
}

/// Kills every process still in a v1 cgroup (v1 has no `cgroup.kill`).
fn kill_members(dir: &Path) {
    let members = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in members.lines().filter_map(|line| line.trim().parse::<i32>().ok()) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for TaskCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            if self.v2 {
                let _ = std::fs::write(dir.join("cgroup.kill"), "1");
            }
            // Busy while its last processes exit: try again for a while.
            let removed = (0..100).any(|_| match std::fs::remove_dir(dir) {
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {
                    if !self.v2 {
                        kill_members(dir);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    false
                }
                _ => true,
            });
            if !removed {
                tracing::warn!(cgroup = %dir.display(), "could not remove a task's cgroup");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_root_point_type_and_options() {
        let mountinfo = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory\n\
                         31 25 0:27 /docker/x /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                         unreadable\n";
        let mounts: Vec<_> = cgroup_mounts(mountinfo).map(|m| (m.root, m.point, m.fstype, m.options)).collect();
        assert_eq!(
            mounts,
            [
                ("/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory"),
                ("/docker/x", "/sys/fs/cgroup/unified", "cgroup2", "rw")
            ]
        );
    }

    #[test]
    fn cgroups_of_processes_that_are_gone_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let gone = parent.path().join("rstore-4294967295-0");
        let alive = parent.path().join(format!("rstore-{}-0", std::process::id()));
        let other = parent.path().join("rstore-build");
        for dir in [&gone, &alive, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        remove_stale(parent.path());
        assert!(!gone.exists());
        assert!(alive.exists() && other.exists());
    }
}
