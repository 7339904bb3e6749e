//! The code that runs in the sandbox's own processes, after `fork`.
//!
//! Three processes, each single-threaded:
//!
//! 1. **helper** (forked from the caller): joins the task's cgroup, unshares the user, mount,
//!    pid, ipc, uts, cgroup (and net) namespaces, waits for the caller to write its id maps,
//!    forks *init*, tells the caller init's pid, and waits for it.
//! 2. **init** (pid 1 of the new pid namespace): builds the root from nothing (see
//!    [`crate::layout`]), pivots into it, fixes sysctls, forks *command*, reaps every orphan,
//!    and reports the command's wait status. When it exits the kernel kills every process
//!    left in the namespace: no daemon survives its task.
//! 3. **command**: default signal actions, new session, stdio, ids, capabilities, rlimits, CPU affinity, umask,
//!    `no_new_privs`, landlock, then `execve`.
//!
//! The helper is forked with glibc's `fork`, which leaves `malloc` usable in the child; the
//! others are forked from single-threaded processes. No code here takes a lock another
//! thread of the caller could hold (no logging, no `std::env`, no stdio); failures are sent
//! to the caller as an [`ErrorRecord`] over a pipe and the process `_exit`s.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::fs::{Mode, OFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags};

use crate::plan::{Access, Landlock, MapMethod, Rlimit, Spec, Step};
use crate::request::{Network, RecordedMode};
use crate::sys;

/// A setup stage, sent to the caller with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stage {
    JoinCgroup = 1,
    Unshare,
    WaitForIdMap,
    ForkInit,
    ReportPid,
    PrivateMounts,
    OpenSource,
    RootTmpfs,
    MountStep,
    Hostname,
    Loopback,
    PivotRoot,
    Sysctl,
    ReadOnlyRoot,
    ForkCommand,
    Stdio,
    Chdir,
    Ids,
    Capabilities,
    Rlimits,
    Affinity,
    NoNewPrivs,
    Landlock,
    Exec,
    TimeNamespace,
    Keyring,
    Seccomp,
    Personality,
}

impl Stage {
    fn from_u32(value: u32) -> Option<Stage> {
        use Stage::*;
        [
            JoinCgroup,
            Unshare,
            WaitForIdMap,
            ForkInit,
            ReportPid,
            PrivateMounts,
            OpenSource,
            RootTmpfs,
            MountStep,
            Hostname,
            Loopback,
            PivotRoot,
            Sysctl,
            ReadOnlyRoot,
            ForkCommand,
            Stdio,
            Chdir,
            Ids,
            Capabilities,
            Rlimits,
            Affinity,
            NoNewPrivs,
            Landlock,
            Exec,
            TimeNamespace,
            Keyring,
            Seccomp,
            Personality,
        ]
        .into_iter()
        .find(|s| *s as u32 == value)
    }
}

/// A failure inside the sandbox's processes, as sent to the caller.
#[derive(Debug)]
pub struct ErrorRecord {
    /// What was being done.
    pub stage: Stage,
    /// The spec step involved ([`Stage::OpenSource`], [`Stage::MountStep`]).
    pub step: u32,
    /// The OS error.
    pub errno: i32,
    /// Extra words (the landlock error, the sysctl).
    pub detail: String,
}

const RECORD_SIZE: usize = 4 * 4 + DETAIL_MAX;
const DETAIL_MAX: usize = 240;

impl ErrorRecord {
    fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        let detail = self.detail.as_bytes();
        let len = detail.len().min(DETAIL_MAX);
        out[0..4].copy_from_slice(&(self.stage as u32).to_ne_bytes());
        out[4..8].copy_from_slice(&self.step.to_ne_bytes());
        out[8..12].copy_from_slice(&self.errno.to_ne_bytes());
        out[12..16].copy_from_slice(&(len as u32).to_ne_bytes());
        out[16..16 + len].copy_from_slice(&detail[..len]);
        out
    }

    /// Decodes a record read from the error pipe.
    pub fn decode(bytes: &[u8]) -> Option<ErrorRecord> {
        if bytes.len() < 16 {
            return None;
        }
        let word = |i: usize| u32::from_ne_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let len = (word(12) as usize).min(bytes.len() - 16);
        Some(ErrorRecord {
            stage: Stage::from_u32(word(0))?,
            step: word(4),
            errno: word(8) as i32,
            detail: String::from_utf8_lossy(&bytes[16..16 + len]).into_owned(),
        })
    }

    /// Size of an encoded record.
    pub const SIZE: usize = RECORD_SIZE;
}

struct Fail(ErrorRecord);

impl Fail {
    fn at(stage: Stage) -> impl Fn(rustix::io::Errno) -> Fail {
        move |errno| Fail(ErrorRecord { stage, step: 0, errno: errno.raw_os_error(), detail: String::new() })
    }
    fn io(stage: Stage) -> impl Fn(io::Error) -> Fail {
        move |err| Fail(ErrorRecord { stage, step: 0, errno: err.raw_os_error().unwrap_or(0), detail: String::new() })
    }
    fn step(stage: Stage, step: usize) -> impl Fn(rustix::io::Errno) -> Fail {
        move |errno| Fail(ErrorRecord { stage, step: step as u32, errno: errno.raw_os_error(), detail: String::new() })
    }
}

/// Where a standard stream of the command comes from.
pub enum ChildStdio {
    /// `/dev/null` inside.
    Null,
    /// This descriptor (a pipe to the caller, or a copy of the caller's own stream).
    Fd(OwnedFd),
}

/// Everything the sandbox's processes need, prepared by the caller before `fork`.
pub struct Prepared<'a> {
    pub spec: &'a Spec,
    /// The helper's end of the socket to the caller.
    pub sync: OwnedFd,
    /// Write end of the error pipe (close-on-exec).
    pub error: OwnedFd,
    /// Write end of the status pipe (init writes the command's wait status).
    pub status: OwnedFd,
    pub stdin: ChildStdio,
    pub stdout: ChildStdio,
    pub stderr: ChildStdio,
    /// `cgroup.procs` of each of the task's cgroups (v1: one per hierarchy).
    pub cgroup_procs: Vec<CString>,
    /// Inside paths of the steps, relative to the new root.
    pub step_paths: Vec<CString>,
    /// Host paths of bind sources (empty for other steps).
    pub step_sources: Vec<CString>,
    /// `argv` and `envp` of the command.
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// Paths to try `execve` on, in order.
    pub candidates: Vec<CString>,
    pub cwd: CString,
    /// Contents of `/dev/random` and `/dev/urandom` when randomness is pinned.
    pub pinned_random: Vec<u8>,
    /// The system-call filter, built before `fork`.
    pub filter: Option<Vec<crate::seccomp::Instruction>>,
}

/// The helper process: never returns.
pub fn helper(p: &Prepared<'_>) -> ! {
    let code = match helper_inner(p) {
        Ok(code) => code,
        Err(fail) => {
            report(p, &fail.0);
            1
        }
    };
    sys::exit_now(code)
}

fn report(p: &Prepared<'_>, record: &ErrorRecord) {
    let _ = rustix::io::write(&p.error, &record.encode());
}

fn helper_inner(p: &Prepared<'_>) -> Result<i32, Fail> {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let mut keep = vec![p.sync.as_raw_fd(), p.error.as_raw_fd(), p.status.as_raw_fd()];
    for stdio in [&p.stdin, &p.stdout, &p.stderr] {
        if let ChildStdio::Fd(fd) = stdio {
            keep.push(fd.as_raw_fd());
        }
    }
    sys::close_all_except(&mut keep);

    for procs in &p.cgroup_procs {
        let fd = rustix::fs::open(procs.as_c_str(), OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(Fail::at(Stage::JoinCgroup))?;
        rustix::io::write(&fd, b"0").map_err(Fail::at(Stage::JoinCgroup))?;
    }

    use rustix::thread::UnshareFlags as U;
    let mut flags = U::NEWUSER | U::NEWNS | U::NEWPID | U::NEWIPC | U::NEWUTS | U::NEWCGROUP;
    if p.spec.network == Network::Loopback {
        flags |= U::NEWNET;
    }
    if p.spec.time_namespace {
        flags |= U::NEWTIME;
    }
    // SAFETY: this process is single-threaded (freshly forked) and does not unshare its
    // file table, so no thread can observe a changed descriptor table.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(Fail::at(Stage::Unshare))?;

    // The caller writes our id maps now.
    rustix::io::write(&p.sync, b"U").map_err(Fail::at(Stage::WaitForIdMap))?;
    let mut byte = [0u8; 1];
    match rustix::io::read(&p.sync, &mut byte) {
        Ok(1) if byte[0] == b'M' => {}
        Ok(_) => return Ok(1), // the caller gave up (it reports why)
        Err(errno) => return Err(Fail::at(Stage::WaitForIdMap)(errno)),
    }
    if p.spec.time_namespace {
        start_clocks_near_zero()?;
    }

    // SAFETY: this process is single-threaded (a freshly forked helper); the child runs
    // init_process, which ends in execve or _exit.
    let init = unsafe { sys::fork() }.map_err(Fail::io(Stage::ForkInit))?;
    if init == 0 {
        init_process(p)
    }
    rustix::io::write(&p.sync, &init.to_ne_bytes()).map_err(Fail::at(Stage::ReportPid))?;
    // Keep init unreaped (its pid cannot be reused) until the caller holds a pidfd for it.
    let _ = rustix::io::read(&p.sync, &mut byte);
    let reaped = sys::wait4(init).map_err(Fail::io(Stage::ForkInit))?;
    Ok(if libc::WIFEXITED(reaped.status) {
        libc::WEXITSTATUS(reaped.status)
    } else {
        128 + libc::WTERMSIG(reaped.status)
    })
}

/// Offsets of the new time namespace (set before any process enters it): the monotonic
/// and boot clocks start within a second of zero, so nothing of the host's uptime shows.
fn start_clocks_near_zero() -> Result<(), Fail> {
    use rustix::time::{ClockId, clock_gettime};
    let monotonic = clock_gettime(ClockId::Monotonic).tv_sec;
    let boottime = clock_gettime(ClockId::Boottime).tv_sec;
    // Formatted without allocating: two lines of at most 40 bytes each.
    let mut text = [0u8; 96];
    let mut len = 0;
    for (name, secs) in [(&b"monotonic -"[..], monotonic), (&b"boottime -"[..], boottime)] {
        for part in [name, itoa(secs as u64, &mut [0u8; 20]), &b" 0\n"[..]] {
            text[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
    }
    let fd = rustix::fs::open(c"/proc/self/timens_offsets", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(Fail::at(Stage::TimeNamespace))?;
    rustix::io::write(&fd, &text[..len]).map_err(Fail::at(Stage::TimeNamespace))?;
    Ok(())
}

/// Decimal digits of `value` in `buf`, without allocating.
fn itoa(mut value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buf[at..];
        }
    }
}

/// Pid 1 of the task: never returns.
fn init_process(p: &Prepared<'_>) -> ! {
    match init_inner(p) {
        Ok(()) => sys::exit_now(0),
        Err(fail) => {
            report(p, &fail.0);
            sys::exit_now(1)
        }
    }
}

fn init_inner(p: &Prepared<'_>) -> Result<(), Fail> {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    rustix::process::umask(Mode::empty());
    build_root(p)?;

    // SAFETY: single-threaded (the sandbox's init); the child ends in execve or _exit.
    let command = unsafe { sys::fork() }.map_err(Fail::io(Stage::ForkCommand))?;
    if command == 0 {
        command_process(p)
    }
    // Init keeps only the status pipe: the error pipe must reach EOF once the command execs.
    sys::close_raw(p.error.as_raw_fd());
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a pointer to a live local.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == command {
            let _ = rustix::io::write(&p.status, &status.to_ne_bytes());
            return Ok(());
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Ok(());
        }
    }
}

fn build_root(p: &Prepared<'_>) -> Result<(), Fail> {
    use rustix::mount::{MountPropagationFlags, mount_change};
    mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        .map_err(Fail::at(Stage::PrivateMounts))?;

    // 1. Detached copies of every host source, opened while the host tree is still visible
    //    and with the caller's host ids (which may reach into directories the task's ids
    //    cannot, as a store under root's home).
    let mut sources: Vec<Option<Source>> = Vec::with_capacity(p.spec.steps.len());
    for (index, step) in p.spec.steps.iter().enumerate() {
        sources.push(open_source(p, index, step)?);
    }
    if p.spec.ids.method == MapMethod::Direct {
        // The caller's host ids (root) are not mapped in the namespace: become its root,
        // the first id of the task's range on the host, before creating anything. (New
        // ids make a process undumpable, which hands its /proc files to host root:
        // undone.)
        let (uid, gid) = (rustix::process::Uid::ROOT, rustix::process::Gid::ROOT);
        sys::clear_groups().map_err(Fail::io(Stage::Ids))?;
        rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(Fail::at(Stage::Ids))?;
        rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(Fail::at(Stage::Ids))?;
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::Dumpable)
            .map_err(Fail::at(Stage::Ids))?;
        // New ids also clear the parent-death signal: set again, so the task still dies
        // with the helper (and the helper with the caller).
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
            .map_err(Fail::at(Stage::Ids))?;
    }

    // 2. The new root: an empty tmpfs, attached over /tmp of our private mount namespace.
    let root = new_fs(
        c"tmpfs",
        &[(c"mode", c"0755"), (c"size", c"4m")],
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV,
    )
    .map_err(Fail::at(Stage::RootTmpfs))?;
    rustix::mount::move_mount(&root, c"", rustix::fs::CWD, c"/tmp", MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .map_err(Fail::at(Stage::RootTmpfs))?;

    // 3. Every step, in order, beneath the new root (never following a symlink).
    for (index, step) in p.spec.steps.iter().enumerate() {
        apply_step(p, &root, index, step, sources[index].take()).map_err(Fail::step(Stage::MountStep, index))?;
    }

    rustix::system::sethostname(p.spec.hostname.as_bytes()).map_err(Fail::at(Stage::Hostname))?;
    rustix::system::setdomainname(crate::layout::DOMAINNAME.as_bytes()).map_err(Fail::at(Stage::Hostname))?;
    if p.spec.network == Network::Loopback {
        sys::loopback_up().map_err(Fail::io(Stage::Loopback))?;
    }

    // 4. Into the new root; the host's tree is detached from this namespace.
    rustix::process::fchdir(&root).map_err(Fail::at(Stage::PivotRoot))?;
    rustix::process::pivot_root(c".", c".").map_err(Fail::at(Stage::PivotRoot))?;
    rustix::mount::unmount(c".", rustix::mount::UnmountFlags::DETACH).map_err(Fail::at(Stage::PivotRoot))?;
    rustix::process::chdir(c"/").map_err(Fail::at(Stage::PivotRoot))?;

    // 5. Namespaced sysctls, then /proc/sys and the root read-only.
    write_sysctl(c"/proc/sys/user/max_user_namespaces", "0")?;
    if let Some(pid_max) = p.spec.pid_max {
        write_sysctl(c"/proc/sys/kernel/pid_max", &pid_max.to_string())?;
    }
    let sysctl = rustix::mount::open_tree(
        rustix::fs::CWD,
        c"/proc/sys",
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(Fail::at(Stage::ReadOnlyRoot))?;
    sys::mount_setattr(
        Some(sysctl.as_fd()),
        c"",
        false,
        sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC,
    )
    .map_err(Fail::io(Stage::ReadOnlyRoot))?;
    rustix::mount::move_mount(&sysctl, c"", rustix::fs::CWD, c"/proc/sys", MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .map_err(Fail::at(Stage::ReadOnlyRoot))?;
    sys::mount_setattr(None, c"/", false, sys::MOUNT_ATTR_RDONLY).map_err(Fail::io(Stage::ReadOnlyRoot))?;
    Ok(())
}

fn write_sysctl(path: &CStr, value: &str) -> Result<(), Fail> {
    let fail = |errno: rustix::io::Errno| {
        Fail(ErrorRecord {
            stage: Stage::Sysctl,
            step: 0,
            errno: errno.raw_os_error(),
            detail: format!("{} = {value}", path.to_string_lossy()),
        })
    };
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()).map_err(fail)?;
    rustix::io::write(&fd, value.as_bytes()).map_err(fail)?;
    Ok(())
}

/// The host side of a step, opened before the root is built.
enum Source {
    /// A detached mount; `bool` = it is a directory.
    Mount(OwnedFd, bool),
    /// An overlay's directories, mounted once the ids are the task's (the overlay copies
    /// files up with its creator's ids); no upper and work directories when read-only.
    Overlay { lower: Vec<OwnedFd>, upper: Option<(OwnedFd, OwnedFd)> },
}

/// Opens the host side of a step: a detached mount, or an overlay's directories.
fn open_source(p: &Prepared<'_>, index: usize, step: &Step) -> Result<Option<Source>, Fail> {
    let fail = Fail::step(Stage::OpenSource, index);
    let clone = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    match step {
        Step::Bind { writable, optional, .. } => {
            let source = &p.step_sources[index];
            let tree =
                match rustix::mount::open_tree(rustix::fs::CWD, source.as_c_str(), clone | OpenTreeFlags::AT_RECURSIVE)
                {
                    Ok(tree) => tree,
                    Err(rustix::io::Errno::NOENT) if *optional => return Ok(None),
                    Err(errno) => return Err(fail(errno)),
                };
            let mut attrs = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
            if !writable {
                attrs |= sys::MOUNT_ATTR_RDONLY;
            }
            sys::mount_setattr(Some(tree.as_fd()), c"", true, attrs).map_err(Fail::io(Stage::OpenSource)).map_err(
                |mut f| {
                    f.0.step = index as u32;
                    f
                },
            )?;
            let is_dir = rustix::fs::fstat(&tree).map_err(&fail)?.st_mode & libc::S_IFMT == libc::S_IFDIR;
            Ok(Some(Source::Mount(tree, is_dir)))
        }
        Step::Device { .. } => {
            let tree =
                rustix::mount::open_tree(rustix::fs::CWD, p.step_sources[index].as_c_str(), clone).map_err(&fail)?;
            sys::mount_setattr(Some(tree.as_fd()), c"", false, sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC)
                .map_err(|err| {
                    Fail(ErrorRecord {
                        stage: Stage::OpenSource,
                        step: index as u32,
                        errno: err.raw_os_error().unwrap_or(0),
                        detail: String::new(),
                    })
                })?;
            Ok(Some(Source::Mount(tree, false)))
        }
        Step::Overlay { lower, upper, work, .. } => {
            // Opened now, mounted by `overlay` once the ids are the task's.
            let open_dir = |dir: &std::path::Path| {
                rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(&fail)
            };
            let lower = lower.iter().map(|d| open_dir(d.as_path())).collect::<Result<Vec<_>, _>>()?;
            let upper = match (upper, work) {
                (Some(upper), Some(work)) => Some((open_dir(upper)?, open_dir(work)?)),
                _ => None,
            };
            Ok(Some(Source::Overlay { lower, upper }))
        }
        _ => Ok(None),
    }
}

/// An overlay of directories opened earlier, each lower directory preceded by its layer
/// of recorded modes when it has one. fsconfig takes at most 256 bytes per value, and
/// store checkout paths are long: each directory is named by its descriptor
/// (`/proc/self/fd/N`, resolved by overlayfs while the mount is created). Read-only
/// without an upper directory.
fn overlay(
    lower: &[OwnedFd],
    layers: &[(usize, OwnedFd)],
    upper: Option<&(OwnedFd, OwnedFd)>,
) -> rustix::io::Result<OwnedFd> {
    let by_fd = |fd: &OwnedFd| format!("/proc/self/fd/{}", fd.as_raw_fd());
    let invalid = |_| rustix::io::Errno::INVAL;
    let mut dirs = Vec::with_capacity(lower.len() + layers.len());
    for (i, dir) in lower.iter().enumerate() {
        dirs.extend(layers.iter().filter(|(of, _)| *of == i).map(|(_, layer)| by_fd(layer)));
        dirs.push(by_fd(dir));
    }
    let lower = CString::new(dirs.join(":")).map_err(invalid)?;
    let fs = rustix::mount::fsopen(c"overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    rustix::mount::fsconfig_set_string(&fs, c"lowerdir", lower.as_c_str())?;
    let mut attrs = MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV;
    match upper {
        Some((upper, work)) => {
            let upper = CString::new(by_fd(upper)).map_err(invalid)?;
            let work = CString::new(by_fd(work)).map_err(invalid)?;
            rustix::mount::fsconfig_set_string(&fs, c"upperdir", upper.as_c_str())?;
            rustix::mount::fsconfig_set_string(&fs, c"workdir", work.as_c_str())?;
        }
        None => attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY,
    }
    rustix::mount::fsconfig_set_flag(&fs, c"userxattr")?;
    rustix::mount::fsconfig_create(&fs)?;
    rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
}

/// Where layers of recorded modes are attached while their overlay is created (overlayfs
/// takes layers from this mount namespace only); removed right after.
const MODES_MOUNTPOINT: &CStr = c".rstore-recorded-modes";

/// Mounts an overlay whose lower directories may have entries shown with recorded modes
/// (see [`crate::request::RecordedMode`]): one tmpfs layer of copies per such lower
/// directory, attached beneath the new root only while the overlay is created.
fn overlay_with_modes(
    root: &OwnedFd,
    lower: &[OwnedFd],
    upper: Option<&(OwnedFd, OwnedFd)>,
    modes: &[RecordedMode],
    size: Option<u64>,
) -> rustix::io::Result<OwnedFd> {
    if modes.is_empty() {
        return overlay(lower, &[], upper);
    }
    let mut layers = Vec::new();
    let mut names = Vec::new();
    let result = (|| {
        for (i, dir) in lower.iter().enumerate() {
            let of_dir: Vec<&RecordedMode> = modes.iter().filter(|m| m.lower == i).collect();
            if of_dir.is_empty() {
                continue;
            }
            let layer = crate::mode_layer::build(dir, &of_dir, size)?;
            let name = CString::new(format!("{}-{i}", MODES_MOUNTPOINT.to_string_lossy())).expect("no NUL");
            rustix::fs::mkdirat(root, name.as_c_str(), Mode::from_raw_mode(0o700))?;
            names.push(name);
            let name = names.last().expect("pushed");
            rustix::mount::move_mount(&layer, c"", root, name.as_c_str(), MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)?;
            layers.push((i, layer));
        }
        overlay(lower, &layers, upper)
    })();
    // The overlay holds its own references to its layers: detach them from the root.
    for (_, layer) in &layers {
        let path = format!("/proc/self/fd/{}", layer.as_raw_fd());
        let _ = rustix::mount::unmount(path.as_str(), rustix::mount::UnmountFlags::DETACH);
    }
    for name in &names {
        let _ = rustix::fs::unlinkat(root, name.as_c_str(), rustix::fs::AtFlags::REMOVEDIR);
    }
    result
}

pub(crate) fn new_fs(fstype: &CStr, options: &[(&CStr, &CStr)], attrs: MountAttrFlags) -> rustix::io::Result<OwnedFd> {
    let fs = rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    for (key, value) in options {
        rustix::mount::fsconfig_set_string(&fs, *key, *value)?;
    }
    rustix::mount::fsconfig_create(&fs)?;
    rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
}

fn apply_step(
    p: &Prepared<'_>,
    root: &OwnedFd,
    index: usize,
    step: &Step,
    source: Option<Source>,
) -> rustix::io::Result<()> {
    let rel = p.step_paths[index].as_c_str();
    let (parent, name) = open_parent(root.as_fd(), rel)?;
    let dir_mode = Mode::from_raw_mode(0o755);
    let mount_on = |mnt: &OwnedFd, is_dir: bool| -> rustix::io::Result<()> {
        if is_dir {
            match rustix::fs::mkdirat(&parent, name, dir_mode) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(errno) => return Err(errno),
            }
        } else {
            match rustix::fs::openat(
                &parent,
                name,
                OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            ) {
                Ok(_) | Err(rustix::io::Errno::EXIST) => {}
                Err(errno) => return Err(errno),
            }
        }
        let target =
            rustix::fs::openat(&parent, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        rustix::mount::move_mount(
            mnt,
            c"",
            &target,
            c"",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    match step {
        Step::Dir { mode, .. } => match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(*mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(errno) => Err(errno),
        },
        Step::File { .. } | Step::PinnedRandom { .. } | Step::ClockShim { .. } => {
            let (mode, contents) = match step {
                Step::File { mode, contents, .. } => (*mode, contents.as_bytes()),
                Step::ClockShim { .. } => (0o555, crate::layout::CLOCK_SHIM),
                _ => (0o444, p.pinned_random.as_slice()),
            };
            let fd = rustix::fs::openat(
                &parent,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode),
            )?;
            sys::write_all(&fd, contents)
        }
        Step::Symlink { target, .. } => rustix::fs::symlinkat(target.as_os_str(), &parent, name),
        Step::Tmpfs { mode, size, .. } => {
            let mode = CString::new(format!("{mode:o}")).map_err(|_| rustix::io::Errno::INVAL)?;
            let size = size.map(|s| CString::new(s.to_string()).expect("digits"));
            let mut options = vec![(c"mode", mode.as_c_str())];
            if let Some(size) = &size {
                options.push((c"size", size.as_c_str()));
            }
            let mnt = new_fs(c"tmpfs", &options, MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV)?;
            mount_on(&mnt, true)
        }
        Step::ReadOnly { .. } => sys::mount_setattr(Some(parent.as_fd()), name, false, sys::MOUNT_ATTR_RDONLY)
            .map_err(|e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::INVAL)),
        Step::Proc { .. } => {
            let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID
                | MountAttrFlags::MOUNT_ATTR_NODEV
                | MountAttrFlags::MOUNT_ATTR_NOEXEC;
            let mnt = new_fs(c"proc", &[], attrs)?;
            mount_on(&mnt, true)
        }
        Step::Bind { .. } | Step::Device { .. } | Step::Overlay { .. } => match source {
            Some(Source::Mount(mnt, is_dir)) => mount_on(&mnt, is_dir),
            Some(Source::Overlay { lower, upper }) => {
                let (modes, size) = match step {
                    Step::Overlay { modes, modes_size, .. } => (modes.as_slice(), *modes_size),
                    _ => (&[][..], None),
                };
                mount_on(&overlay_with_modes(root, &lower, upper.as_ref(), modes, size)?, true)
            }
            None => Ok(()), // an optional bind whose source is missing
        },
    }
}

/// Opens the parent directory of `rel` beneath `root`, creating missing directories and
/// refusing symlinks, so nothing planted in an input can redirect a mount.
fn open_parent<'p>(root: BorrowedFd<'_>, rel: &'p CStr) -> rustix::io::Result<(OwnedFd, &'p CStr)> {
    let bytes = rel.to_bytes_with_nul();
    let mut dir = rustix::fs::openat(root, c".", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut start = 0;
    while let Some(slash) = bytes[start..].iter().position(|b| *b == b'/') {
        let component = CString::new(&bytes[start..start + slash]).map_err(|_| rustix::io::Errno::INVAL)?;
        match rustix::fs::mkdirat(&dir, component.as_c_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(errno) => return Err(errno),
        }
        dir = rustix::fs::openat(
            &dir,
            component.as_c_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        start += slash + 1;
    }
    let name = CStr::from_bytes_with_nul(&bytes[start..]).map_err(|_| rustix::io::Errno::INVAL)?;
    Ok((dir, name))
}

/// The command: never returns.
fn command_process(p: &Prepared<'_>) -> ! {
    let fail = command_inner(p);
    report(p, &fail.0);
    sys::exit_now(127)
}

fn command_inner(p: &Prepared<'_>) -> Fail {
    match command_setup(p) {
        Ok(()) => exec(p),
        Err(fail) => fail,
    }
}

fn command_setup(p: &Prepared<'_>) -> Result<(), Fail> {
    let spec = p.spec;
    sys::close_raw(p.status.as_raw_fd());
    sys::close_raw(p.sync.as_raw_fd());
    sys::reset_signals();
    rustix::process::setsid().map_err(Fail::at(Stage::Stdio))?;

    let null = rustix::fs::open(c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(Fail::at(Stage::Stdio))?;
    for (stdio, target) in [(&p.stdin, 0), (&p.stdout, 1), (&p.stderr, 2)] {
        match stdio {
            ChildStdio::Null => dup_onto(null.as_fd(), target)?,
            ChildStdio::Fd(fd) => dup_onto(fd.as_fd(), target)?,
        }
    }

    rustix::process::chdir(p.cwd.as_c_str()).map_err(Fail::at(Stage::Chdir))?;

    // Capabilities out of the bounding set first (that needs CAP_SETPCAP, which goes too).
    let mut keep: u64 = 0;
    for cap in &spec.capabilities {
        keep |= 1 << cap.number();
    }
    for cap in 0..64 {
        if keep & (1 << cap) == 0 && !sys::drop_bounding_cap(cap).map_err(Fail::io(Stage::Capabilities))? {
            break;
        }
    }
    if spec.ids.method != MapMethod::SingleId {
        sys::clear_groups().map_err(Fail::io(Stage::Ids))?;
    }
    let gid = rustix::process::Gid::from_raw(spec.gid);
    let uid = rustix::process::Uid::from_raw(spec.uid);
    rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(Fail::at(Stage::Ids))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(Fail::at(Stage::Ids))?;
    sys::set_capabilities(keep).map_err(Fail::io(Stage::Capabilities))?;

    for (resource, value) in &spec.rlimits {
        use rustix::process::Resource;
        let resource = match resource {
            Rlimit::Core => Resource::Core,
            Rlimit::Nofile => Resource::Nofile,
            Rlimit::Fsize => Resource::Fsize,
            Rlimit::As => Resource::As,
            Rlimit::Nproc => Resource::Nproc,
        };
        rustix::process::setrlimit(resource, rustix::process::Rlimit { current: Some(*value), maximum: Some(*value) })
            .map_err(|errno| {
                Fail(ErrorRecord {
                    stage: Stage::Rlimits,
                    step: 0,
                    errno: errno.raw_os_error(),
                    detail: format!("{resource:?} = {value}"),
                })
            })?;
    }

    let mut cpus = rustix::thread::CpuSet::new();
    for cpu in &spec.cpus {
        cpus.set(*cpu as usize);
    }
    rustix::thread::sched_setaffinity(None, &cpus).map_err(Fail::at(Stage::Affinity))?;
    rustix::process::umask(Mode::from_raw_mode(crate::layout::UMASK));

    if spec.personality != 0 {
        // SAFETY: personality(2) takes a flag word and touches no memory of ours.
        if unsafe { libc::personality(libc::c_ulong::from(spec.personality)) } < 0 {
            return Err(Fail::io(Stage::Personality)(io::Error::last_os_error()));
        }
    }
    rustix::thread::set_no_new_privs(true).map_err(Fail::at(Stage::NoNewPrivs))?;
    if let Landlock::Enforced { abi, rules, scoped } = &spec.landlock {
        restrict_with_landlock(*abi, rules, *scoped)
            .map_err(|e| Fail(ErrorRecord { stage: Stage::Landlock, step: 0, errno: 0, detail: e.to_string() }))?;
    }
    if let Some(filter) = &p.filter {
        match crate::seccomp::join_new_session_keyring() {
            // A kernel without keyrings has none to leak.
            Err(err) if err.raw_os_error() != Some(libc::ENOSYS) => return Err(Fail::io(Stage::Keyring)(err)),
            _ => {}
        }
        crate::seccomp::install(filter).map_err(Fail::io(Stage::Seccomp))?;
    }
    sys::cloexec_from_3();
    Ok(())
}

fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> Result<(), Fail> {
    // SAFETY: dup2 onto 0..=2, which this process owns (they were left open on purpose);
    // the new descriptor is not close-on-exec.
    let ret = unsafe { libc::dup2(fd.as_raw_fd(), target) };
    if ret < 0 { Err(Fail::io(Stage::Stdio)(io::Error::last_os_error())) } else { Ok(()) }
}

/// A landlock ruleset that could not be put in force.
#[derive(Debug, thiserror::Error)]
enum LandlockError {
    #[error("{step}: {source}")]
    Ruleset { step: String, source: landlock::RulesetError },
    #[error("opening {}: {source}", path.display())]
    Path { path: std::path::PathBuf, source: landlock::PathFdError },
    #[error("the kernel enforces the ruleset only partly ({0})")]
    Partial(String),
}

fn restrict_with_landlock(abi: u32, rules: &[(std::path::PathBuf, Access)], scoped: bool) -> Result<(), LandlockError> {
    let at = |step: &str| {
        let step = step.to_owned();
        move |source| LandlockError::Ruleset { step, source }
    };
    use landlock::Access as _;
    use landlock::{
        ABI, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, Scope,
    };
    let abi = ABI::from(abi.min(i32::MAX as u32) as i32);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .map_err(at("handling filesystem access"))?;
    if scoped {
        ruleset = ruleset.scope(Scope::from_all(abi)).map_err(at("scoping"))?;
    }
    let mut created = ruleset.create().map_err(at("creating the ruleset"))?;
    for (path, access) in rules {
        let fd = PathFd::new(path).map_err(|source| LandlockError::Path { path: path.clone(), source })?;
        let is_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(true);
        let rights = match access {
            Access::Read => AccessFs::from_read(abi),
            Access::ReadWrite if is_dir => AccessFs::from_all(abi),
            // A writable bind of a single file: the rights a file can carry.
            Access::ReadWrite => AccessFs::from_file(abi),
            Access::Device => {
                AccessFs::from_file(abi)
                    & (AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev)
            }
        };
        created = created
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(at(&format!("adding a rule for {}", path.display())))?;
    }
    let status = created.restrict_self().map_err(at("enforcing"))?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        return Err(LandlockError::Partial(format!("{:?}", status.ruleset)));
    }
    Ok(())
}

fn exec(p: &Prepared<'_>) -> Fail {
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let mut errno = libc::ENOENT;
    for candidate in &p.candidates {
        let err = sys::execve(candidate, &argv, &envp);
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            Some(libc::EACCES) => errno = libc::EACCES,
            Some(other) => {
                errno = other;
                break;
            }
            None => {}
        }
    }
    Fail(ErrorRecord { stage: Stage::Exec, step: 0, errno, detail: String::new() })
}
