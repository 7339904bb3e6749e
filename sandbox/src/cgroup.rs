//! cgroup v2 limits for one task, where a subtree is delegated to us.
//!
//! A task gets a child cgroup `rstore-<pid>-<n>` of our own cgroup with `memory.max`,
//! `memory.swap.max = 0` and `pids.max`. That needs the `memory` and `pids` controllers
//! enabled in our cgroup's `cgroup.subtree_control` and write access to it (our cgroup is
//! the root of a delegated subtree, or the machine's root cgroup). Anything else (a
//! cgroup v1 or hybrid host, no delegation) is reported by [`probe`], and the planner falls
//! back to rlimits and the pid namespace's `pid_max`, loudly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::host::CgroupSupport;

/// Checks whether we can create child cgroups with memory and pids limits.
pub fn probe() -> CgroupSupport {
    match delegated_parent() {
        Ok(parent) => {
            let enabled = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            let cpuset = enabled.split_whitespace().any(|c| c == "cpuset");
            CgroupSupport::Delegated { parent, cpuset }
        }
        Err(why) => CgroupSupport::Unavailable { reason: why.to_string() },
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

fn delegated_parent() -> Result<PathBuf, NotDelegated> {
    let read =
        |path: &'static str| std::fs::read_to_string(path).map_err(|source| NotDelegated::Unreadable { path, source });
    let own = read("/proc/self/cgroup")?;
    let relative = own.lines().find_map(|line| line.strip_prefix("0::")).ok_or(NotDelegated::NoV2)?.trim().to_owned();
    let mountinfo = read("/proc/self/mountinfo")?;
    let mount = mountinfo
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split(' ').next()? == "cgroup2").then(|| left.split(' ').nth(4).map(PathBuf::from))?
        })
        .ok_or(NotDelegated::NoMount)?;
    let dir = mount.join(relative.trim_start_matches('/'));
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

/// One task's cgroup; removed (after killing whatever is left in it) on drop.
#[derive(Debug)]
pub struct TaskCgroup {
    dir: PathBuf,
}

/// Which cgroup limit stopped a task, read from the cgroup's event counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// `memory.events` `oom_kill` > 0.
    pub oom_killed: bool,
    /// `pids.events` `max` > 0 (a fork failed at the limit).
    pub pids_max_hit: bool,
}

impl TaskCgroup {
    /// Creates a child of `parent` with the given limits.
    pub fn create(
        parent: &Path,
        memory: Option<u64>,
        pids: Option<u32>,
        cpus: Option<&[u32]>,
    ) -> Result<TaskCgroup, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("rstore-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = parent.join(name);
        let cgroup_err = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Cgroup { path, source }
        };
        std::fs::create_dir(&dir).map_err(cgroup_err(&dir))?;
        let cgroup = TaskCgroup { dir };
        if let Some(bytes) = memory {
            cgroup.write("memory.max", &bytes.to_string())?;
            // Swap would let a task exceed its limit silently; not every kernel has it.
            let _ = cgroup.write("memory.swap.max", "0");
        }
        if let Some(count) = pids {
            cgroup.write("pids.max", &count.to_string())?;
        }
        if let Some(cpus) = cpus {
            // A cpuset the task cannot widen, unlike its affinity mask.
            let list: Vec<String> = cpus.iter().map(u32::to_string).collect();
            cgroup.write("cpuset.cpus", &list.join(","))?;
        }
        Ok(cgroup)
    }

    /// `cgroup.procs` of this cgroup: a helper process writes `0` there to join.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn write(&self, file: &str, value: &str) -> Result<(), Error> {
        let path = self.dir.join(file);
        std::fs::write(&path, value).map_err(|source| Error::Cgroup { path, source })
    }

    /// Reads the event counters (call after the task ended).
    pub fn events(&self) -> Events {
        let counter = |file: &str, key: &str| -> u64 {
            std::fs::read_to_string(self.dir.join(file))
                .unwrap_or_default()
                .lines()
                .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
                .unwrap_or(0)
        };
        Events {
            oom_killed: counter("memory.events", "oom_kill ") > 0,
            pids_max_hit: counter("pids.events", "max ") > 0,
        }
    }
}

impl Drop for TaskCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        for _ in 0..100 {
            match std::fs::remove_dir(&self.dir) {
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                _ => return,
            }
        }
        tracing::warn!(cgroup = %self.dir.display(), "could not remove a task's cgroup");
    }
}
