//! Conditions a reproducibility check varies, and how a run applies them: the clock
//! (the sandbox's clock shim), randomness and the kernel version (the sandbox), the CPU count (the
//! task's CPUs) and the order of directory entries (disorderfs over every directory the
//! task reads from earlier tasks and its inputs).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// One condition of a build, as `rstore build --check` names causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    Time,
    Randomness,
    CpuCount,
    FileOrder,
    Kernel,
    Umask,
    Locale,
    Timezone,
    Environment,
    BuildPath,
    Hostname,
    User,
    /// Nothing alone explains the difference.
    Unknown,
}

impl Condition {
    /// What a check varies: what the sandbox cannot pin for every machine.
    pub const VARIED: [Condition; 5] =
        [Condition::Time, Condition::Randomness, Condition::CpuCount, Condition::FileOrder, Condition::Kernel];

    /// What the sandbox pins on every machine, and how; never reported as a cause.
    pub const PINNED: [(Condition, &'static str); 7] = [
        (Condition::Umask, "umask 022"),
        (Condition::Locale, "LC_ALL=C"),
        (Condition::Timezone, "TZ=UTC"),
        (Condition::Environment, "only the task's own variables, in sorted order"),
        (Condition::BuildPath, "the same paths inside on every machine (/rstore/…, the work directory)"),
        (Condition::Hostname, "host name rstore"),
        (Condition::User, "root (uid 0) inside, a passwd of root and nobody"),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Condition::Time => "time",
            Condition::Randomness => "randomness",
            Condition::CpuCount => "cpu-count",
            Condition::FileOrder => "file-order",
            Condition::Kernel => "kernel",
            Condition::Umask => "umask",
            Condition::Locale => "locale",
            Condition::Timezone => "timezone",
            Condition::Environment => "environment",
            Condition::BuildPath => "build-path",
            Condition::Hostname => "hostname",
            Condition::User => "user",
            Condition::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The wall clock of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// The host's clock (every build).
    #[default]
    Host,
    /// The host's clock shifted 398 days ahead, ticking (reprotest shifts by +398 days).
    Shifted,
    /// Starting at a fixed moment, ticking: the pinned clock of cause-finding runs.
    Fixed,
    /// Starting at another fixed moment, 398 days and some hours later.
    FixedLater,
}

/// 2030-01-01T00:00:00Z, where the pinned clock starts.
const FIXED_START: i64 = 1_893_456_000;
/// 398 days: reprotest's shift.
const SHIFT_SECONDS: i64 = 398 * 86_400;

impl Clock {
    /// Nanoseconds to add to the host's wall clock for a task starting now (`None`: the
    /// host's clock).
    pub fn offset_ns(self) -> Option<i64> {
        let now = || {
            let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
        };
        let start_at = |secs: i64| secs.saturating_mul(1_000_000_000).saturating_sub(now());
        match self {
            Clock::Host => None,
            Clock::Shifted => Some(SHIFT_SECONDS * 1_000_000_000),
            Clock::Fixed => Some(start_at(FIXED_START)),
            Clock::FixedLater => Some(start_at(FIXED_START + SHIFT_SECONDS + 4 * 3600 + 5 * 60 + 6)),
        }
    }
}

/// How one run sees each varied condition. The default is what every build sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variation {
    #[serde(default)]
    pub clock: Clock,
    /// Randomness pinned (see [`rstore_sandbox::Conditions::pinned_randomness`]).
    #[serde(default)]
    pub pinned_randomness: bool,
    /// CPUs the task sees instead of the build's.
    #[serde(default)]
    pub cpus: Option<u32>,
    /// Directory entries listed in reverse (disorderfs).
    #[serde(default)]
    pub reversed_file_order: bool,
    /// `uname` reports a 2.6 kernel.
    #[serde(default)]
    pub old_kernel: bool,
}

impl Variation {
    /// The sandbox's part of this variation.
    pub fn sandbox_conditions(&self) -> rstore_sandbox::Conditions {
        rstore_sandbox::Conditions {
            clock_offset_ns: self.clock.offset_ns(),
            pinned_randomness: self.pinned_randomness,
            old_kernel: self.old_kernel,
        }
    }
}

/// What this machine lets a check vary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Availability {
    /// The disorderfs program, when installed and rstore may mount FUSE file systems.
    pub disorderfs: Option<PathBuf>,
    /// CPUs a task sees in a build.
    pub cpus: u32,
    /// Why disorderfs cannot be used, when it cannot.
    pub disorderfs_missing: Option<String>,
}

impl Availability {
    /// What this machine offers, for tasks that see `cpus` CPUs in a build.
    pub fn probe(cpus: u32) -> Availability {
        let host_cpus = rstore_sandbox::HostFacts::current().cpus.len() as u32;
        let cpus = cpus.min(host_cpus).max(1);
        let (disorderfs, disorderfs_missing) = match find_program("disorderfs") {
            None => (None, Some("disorderfs is not installed (Debian: apt install disorderfs)".to_owned())),
            Some(_) if !Path::new("/dev/fuse").exists() => (None, Some("this machine has no /dev/fuse".to_owned())),
            Some(_) if !rustix::process::geteuid().is_root() && find_program("fusermount3").is_none() => {
                (None, Some("mounting FUSE needs root or fusermount3 (Debian: apt install fuse3)".to_owned()))
            }
            Some(path) => (Some(path), None),
        };
        Availability { disorderfs, cpus, disorderfs_missing }
    }

    /// The CPU count of runs that vary it: 1, or 2 where tasks see only one.
    pub fn other_cpu_count(&self) -> Option<u32> {
        let host_cpus = rstore_sandbox::HostFacts::current().cpus.len() as u32;
        if self.cpus > 1 {
            Some(1)
        } else if host_cpus > 1 {
            Some(2)
        } else {
            None
        }
    }

    /// Whether this machine can vary `condition`, and if not, why.
    pub fn can_vary(&self, condition: Condition) -> Result<(), String> {
        match condition {
            Condition::FileOrder if self.disorderfs.is_none() => {
                Err(self.disorderfs_missing.clone().unwrap_or_else(|| "disorderfs is unavailable".to_owned()))
            }
            Condition::CpuCount if self.other_cpu_count().is_none() => Err("this machine has a single CPU".to_owned()),
            c if Condition::VARIED.contains(&c) => Ok(()),
            c => Err(format!("{c} is pinned by the sandbox")),
        }
    }

    /// Every varied condition at once (the check's first run): a clock 398 days ahead,
    /// fresh randomness, another CPU count, directories listed in reverse, a 2.6 kernel.
    pub fn everything(&self) -> Variation {
        Variation {
            clock: Clock::Shifted,
            pinned_randomness: false,
            cpus: self.other_cpu_count(),
            reversed_file_order: self.disorderfs.is_some(),
            old_kernel: true,
        }
    }

    /// Every condition pinned as far as this machine can: the reference of cause-finding.
    pub fn pinned(&self) -> Variation {
        Variation { clock: Clock::Fixed, pinned_randomness: true, ..Variation::default() }
    }

    /// [`Self::pinned`] with `condition` alone varied.
    pub fn pinned_but(&self, condition: Condition) -> Variation {
        let mut v = self.pinned();
        match condition {
            Condition::Time => v.clock = Clock::FixedLater,
            Condition::Randomness => v.pinned_randomness = false,
            Condition::CpuCount => v.cpus = self.other_cpu_count(),
            Condition::FileOrder => v.reversed_file_order = true,
            Condition::Kernel => v.old_kernel = true,
            _ => {}
        }
        v
    }
}

/// `name` in the `PATH`, if there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// A directory shown through disorderfs (entries listed in reverse order), unmounted
/// when dropped.
pub struct ReversedView {
    mountpoint: PathBuf,
}

impl ReversedView {
    /// Mounts `dir` read-only, listed in reverse, at the new directory `mountpoint`.
    pub fn mount(disorderfs: &Path, dir: &Path, mountpoint: &Path) -> Result<ReversedView, String> {
        std::fs::create_dir(mountpoint).map_err(|e| format!("creating {}: {e}", mountpoint.display()))?;
        let mut options = String::from("ro");
        if rustix::process::geteuid().is_root() {
            // The task's ids are not the mounting user's.
            options.push_str(",allow_other");
        }
        let out = Command::new(disorderfs)
            .args(["--multi-user=no", "--reverse-dirents=yes", "--shuffle-dirents=no", "-o", &options])
            .arg(dir)
            .arg(mountpoint)
            .output()
            .map_err(|e| format!("running {}: {e}", disorderfs.display()))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(mountpoint);
            return Err(format!(
                "disorderfs could not mount {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(ReversedView { mountpoint: mountpoint.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for ReversedView {
    fn drop(&mut self) {
        let detached = rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::DETACH).is_ok()
            || Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&self.mountpoint)
                .status()
                .is_ok_and(|s| s.success());
        if !detached {
            tracing::warn!("could not unmount {}", self.mountpoint.display());
        }
        let _ = std::fs::remove_dir(&self.mountpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_but_varies_exactly_one_condition() {
        let a = Availability { disorderfs: Some("/usr/bin/disorderfs".into()), cpus: 4, disorderfs_missing: None };
        let base = a.pinned();
        for c in Condition::VARIED {
            let v = a.pinned_but(c);
            let changed = [
                v.clock != base.clock,
                v.pinned_randomness != base.pinned_randomness,
                v.cpus != base.cpus,
                v.reversed_file_order != base.reversed_file_order,
                v.old_kernel != base.old_kernel,
            ];
            assert_eq!(changed.iter().filter(|x| **x).count(), 1, "{c}");
        }
    }

    #[test]
    fn condition_names_are_the_vocabulary() {
        for c in Condition::VARIED.into_iter().chain(Condition::PINNED.map(|(c, _)| c)).chain([Condition::Unknown]) {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::Value::String(c.name().to_owned()));
        }
    }
}
