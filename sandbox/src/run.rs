//! The IO half: carry out a [`Spec`] and wait for the task, with timeout and cancel.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::cancel::CancelHandle;
use crate::cgroup::TaskCgroup;
use crate::child::{self, ChildStdio, ErrorRecord, Prepared, Stage};
use crate::error::Error;
use crate::host::HostFacts;
use crate::outcome::{LimitHit, Outcome, Termination, Usage};
use crate::plan::{self, IdRange, MapMethod, Spec};
use crate::request::{Request, Sink, Stdin};
use crate::sys;

/// Runs `request` in a fresh sandbox on this host and waits for it to end.
///
/// Blocking; stop it from another thread with `cancel`. A command that fails, is killed
/// or times out is an `Ok(Outcome)`; `Err` means the sandbox itself could not be set up
/// (invalid request, missing input, kernel refusal) or the program could not be executed.
#[tracing::instrument(level = "debug", skip_all, err(level = "debug"), fields(program = %request.program))]
pub fn run(request: &Request, cancel: &CancelHandle) -> Result<Outcome, Error> {
    let host = HostFacts::current();
    let spec = plan::plan(request, host)?;
    run_spec(&spec, host, cancel)
}

/// Carries out a spec made by [`plan::plan`] for `host`.
pub fn run_spec(spec: &Spec, host: &HostFacts, cancel: &CancelHandle) -> Result<Outcome, Error> {
    warn_degradations(spec);
    let start = Instant::now();
    hand_writable_dirs_to_the_task(spec)?;
    let mut logs = Logs::open(spec)?;
    let cgroup = match &spec.cgroup {
        Some(limits) => TaskCgroup::create(&host.cgroup, limits)?,
        None => None,
    };
    let (sync, child_sync) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::Resource { what: "a socket pair", source: e.into() })?;
    let (error_r, error_w) = pipe("an error pipe")?;
    let (status_r, status_w) = pipe("a status pipe")?;

    let stdin = match spec.stdin {
        Stdin::Null => ChildStdio::Null,
        Stdin::Inherit => ChildStdio::Fd(
            rustix::io::fcntl_dupfd_cloexec(std::io::stdin().as_fd(), 3)
                .map_err(|e| Error::Resource { what: "a copy of standard input", source: e.into() })?,
        ),
    };
    let stdio = (stdin, logs.take_child_ends());
    let prepared = prepare(spec, child_sync, error_w, status_w, stdio, cgroup.as_ref())?;
    // SAFETY: the caller may have other threads; the child only runs `child::helper`,
    // which uses what `prepare` allocated before the fork and raw system calls, and ends
    // in execve or _exit.
    let helper_pid = unsafe { sys::fork() }.map_err(Error::Fork)?;
    if helper_pid == 0 {
        child::helper(&prepared);
    }
    drop(prepared);
    let mut helper = Helper::new(helper_pid)?;

    let init = match handshake(spec, &sync, helper_pid) {
        Ok(init) => init,
        Err(err) => {
            helper.kill();
            let _ = helper.reap();
            return Err(setup_error(spec, &error_r).unwrap_or(err));
        }
    };
    drop(sync);

    let mut ended_by: Option<Termination> = None;
    let deadline = spec.time_limit.map(|limit| start + limit);
    loop {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) && ended_by.is_none() {
            ended_by = Some(Termination::TimedOut { after: spec.time_limit.unwrap_or_default() });
            kill_task(&init, &mut helper);
            continue;
        }
        let timeout = if ended_by.is_some() { None } else { timeout };
        let ready = logs.poll(&helper.pidfd, cancel, timeout.map(timespec).as_ref())?;
        if ready.cancelled && ended_by.is_none() {
            ended_by = Some(Termination::Cancelled);
            kill_task(&init, &mut helper);
        }
        if logs.over_limit && ended_by.is_none() {
            ended_by = Some(Termination::Signaled { signal: libc::SIGKILL });
            kill_task(&init, &mut helper);
        }
        if ready.helper_exited {
            break;
        }
    }
    let reaped = helper.reap().map_err(Error::Wait)?;
    logs.drain()?;
    let duration = start.elapsed();

    if let Some(err) = setup_error(spec, &error_r) {
        return Err(err);
    }
    let mut status_bytes = [0u8; 4];
    let command_status = match rustix::io::read(&status_r, &mut status_bytes) {
        Ok(4) => Some(i32::from_ne_bytes(status_bytes)),
        _ => None,
    };
    let events = cgroup.as_ref().map(TaskCgroup::events).unwrap_or_default();
    drop(cgroup);

    let termination = match (ended_by, command_status) {
        (Some(ended), _) => ended,
        (None, Some(status)) if libc::WIFEXITED(status) => Termination::Exited { code: libc::WEXITSTATUS(status) },
        (None, Some(status)) => Termination::Signaled { signal: libc::WTERMSIG(status) },
        // Init itself was killed (by the OOM killer, or from outside).
        (None, None) => Termination::Signaled { signal: libc::SIGKILL },
    };
    let limit_hit = match termination {
        Termination::TimedOut { .. } => Some(LimitHit::Time),
        _ if logs.over_limit => Some(LimitHit::Log),
        _ if events.oom_killed => Some(LimitHit::Memory),
        _ if events.pids_max_hit => Some(LimitHit::Processes),
        _ => None,
    };
    let usage = Usage {
        user: timeval(reaped.usage.ru_utime),
        system: timeval(reaped.usage.ru_stime),
        max_rss_bytes: u64::try_from(reaped.usage.ru_maxrss).unwrap_or(0) * 1024,
    };
    let outcome =
        Outcome { termination, limit_hit, duration, usage, logs: logs.paths(), enforcement: spec.enforcement.clone() };
    tracing::debug!(%outcome, ?duration, "sandboxed command ended");
    Ok(outcome)
}

/// Writable host directories belong to the task's ids when those are a range of their
/// own (a root caller), so the task can write there: see [`crate::adopt`].
fn hand_writable_dirs_to_the_task(spec: &Spec) -> Result<(), Error> {
    let Some((uids, gids)) = spec.ids.task_range() else { return Ok(()) };
    let range = crate::adopt::Range { uid: uids.outside, gid: gids.outside, count: uids.count.min(gids.count) };
    for step in &spec.steps {
        let dirs: Vec<&Path> = match step {
            plan::Step::Bind { host, writable: true, .. } => vec![host],
            plan::Step::Overlay { upper: Some(upper), work: Some(work), .. } => vec![upper, work],
            _ => continue,
        };
        for dir in dirs {
            crate::adopt::adopt(dir, range).map_err(|source| Error::Setup {
                step: format!("giving {} to the task's ids", dir.display()),
                source,
            })?;
        }
    }
    Ok(())
}

fn warn_degradations(spec: &Spec) {
    static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    for degradation in &spec.degradations {
        let text = degradation.to_string();
        let mut warned = WARNED.lock().unwrap_or_else(|poison| poison.into_inner());
        if warned.get_or_insert_with(HashSet::new).insert(text.clone()) {
            tracing::warn!("sandbox: {text}");
        } else {
            tracing::debug!("sandbox: {text}");
        }
    }
}

fn pipe(what: &'static str) -> Result<(OwnedFd, OwnedFd), Error> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::Resource { what, source: e.into() })
}

fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec { tv_sec: d.as_secs() as i64, tv_nsec: i64::from(d.subsec_nanos()) }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

fn cstring(bytes: impl Into<Vec<u8>>) -> Result<CString, Error> {
    CString::new(bytes).map_err(|_| Error::Resource {
        what: "a path or argument (it contains a NUL byte)",
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })
}

fn path_cstring(path: &Path) -> Result<CString, Error> {
    cstring(path.as_os_str().as_encoded_bytes())
}

fn prepare<'a>(
    spec: &'a Spec,
    sync: OwnedFd,
    error: OwnedFd,
    status: OwnedFd,
    (stdin, (stdout, stderr)): (ChildStdio, (ChildStdio, ChildStdio)),
    cgroup: Option<&TaskCgroup>,
) -> Result<Prepared<'a>, Error> {
    let mut step_paths = Vec::with_capacity(spec.steps.len());
    let mut step_sources = Vec::with_capacity(spec.steps.len());
    for step in &spec.steps {
        let rel = step.path().strip_prefix("/").unwrap_or(step.path());
        step_paths.push(path_cstring(rel)?);
        step_sources.push(match step {
            plan::Step::Bind { host, .. } => path_cstring(host)?,
            plan::Step::Device { path } => path_cstring(path)?,
            _ => CString::default(),
        });
    }
    let program = &spec.argv[0];
    let candidates = if program.contains('/') {
        vec![cstring(program.as_bytes())?]
    } else {
        spec.search_path.iter().map(|dir| cstring(format!("{dir}/{program}"))).collect::<Result<_, _>>()?
    };
    Ok(Prepared {
        spec,
        sync,
        error,
        status,
        stdin,
        stdout,
        stderr,
        cgroup_procs: match cgroup {
            Some(cgroup) => cgroup.procs_files().iter().map(|path| path_cstring(path)).collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        step_paths,
        step_sources,
        argv: spec.argv.iter().map(|a| cstring(a.as_bytes())).collect::<Result<_, _>>()?,
        envp: spec.env.iter().map(|(k, v)| cstring(format!("{k}={v}"))).collect::<Result<_, _>>()?,
        candidates,
        cwd: path_cstring(&spec.cwd)?,
        pinned_random: if spec.steps.iter().any(|s| matches!(s, plan::Step::PinnedRandom { .. })) {
            crate::layout::pinned_random_bytes()
        } else {
            Vec::new()
        },
        filter: match &spec.syscall_filter {
            plan::SyscallFilter::Enforced { denied, unix_sockets_denied } => {
                crate::seccomp::program(denied, *unix_sockets_denied)
            }
            plan::SyscallFilter::Unavailable => None,
        },
    })
}

/// Writes the helper's id maps and learns init's pid; returns a pidfd for init.
fn handshake(spec: &Spec, sync: &OwnedFd, helper: libc::pid_t) -> Result<OwnedFd, Error> {
    let lost = |what: &str| Error::Setup {
        step: format!("waiting for the helper process ({what})"),
        source: io::Error::new(io::ErrorKind::UnexpectedEof, "the helper process ended early"),
    };
    let mut byte = [0u8; 1];
    match rustix::io::read(sync, &mut byte) {
        Ok(1) if byte[0] == b'U' => {}
        _ => return Err(lost("creating namespaces")),
    }
    if let Err(err) = write_id_maps(spec, helper) {
        let _ = rustix::io::write(sync, b"X");
        return Err(err);
    }
    rustix::io::write(sync, b"M").map_err(|_| lost("after the id maps"))?;
    let mut pid = [0u8; 4];
    match rustix::io::read(sync, &mut pid) {
        Ok(4) => {}
        _ => return Err(lost("starting init")),
    }
    let init = i32::from_ne_bytes(pid);
    let pidfd = Pid::from_raw(init).ok_or_else(|| lost("bad pid")).and_then(|pid| {
        rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .map_err(|e| Error::Resource { what: "a pidfd for the sandbox's init", source: e.into() })
    })?;
    let _ = rustix::io::write(sync, b"A");
    Ok(pidfd)
}

fn map_text(ranges: &[IdRange]) -> String {
    ranges.iter().map(|r| format!("{} {} {}\n", r.inside, r.outside, r.count)).collect()
}

fn write_id_maps(spec: &Spec, pid: libc::pid_t) -> Result<(), Error> {
    let proc_file = |name: &str| PathBuf::from(format!("/proc/{pid}/{name}"));
    let write = |name: &str, text: &str| {
        let path = proc_file(name);
        std::fs::write(&path, text)
            .map_err(|source| Error::IdMap { what: format!("writing {}", path.display()), source })
    };
    match &spec.ids.method {
        MapMethod::Direct => {
            write("uid_map", &map_text(&spec.ids.uids))?;
            write("gid_map", &map_text(&spec.ids.gids))
        }
        MapMethod::SingleId => {
            write("setgroups", "deny")?;
            write("uid_map", &map_text(&spec.ids.uids))?;
            write("gid_map", &map_text(&spec.ids.gids))
        }
        MapMethod::Helpers { newuidmap, newgidmap } => {
            for (tool, ranges) in [(newuidmap, &spec.ids.uids), (newgidmap, &spec.ids.gids)] {
                let mut command = std::process::Command::new(tool);
                command.arg(pid.to_string());
                for r in ranges {
                    command.args([r.inside.to_string(), r.outside.to_string(), r.count.to_string()]);
                }
                let what = || format!("running {}", tool.display());
                let output = command.output().map_err(|source| Error::IdMap { what: what(), source })?;
                if !output.status.success() {
                    return Err(Error::IdMap {
                        what: what(),
                        source: io::Error::other(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
                    });
                }
            }
            Ok(())
        }
    }
}

/// Reads an error record the sandbox's processes left, and turns it into an [`Error`].
fn setup_error(spec: &Spec, error_r: &OwnedFd) -> Option<Error> {
    let mut buf = [0u8; ErrorRecord::SIZE];
    let _ = rustix::io::ioctl_fionbio(error_r, true);
    let n = rustix::io::read(error_r, &mut buf).ok()?;
    let record = ErrorRecord::decode(&buf[..n])?;
    let source = if record.errno != 0 {
        io::Error::from_raw_os_error(record.errno)
    } else {
        io::Error::other(record.detail.clone())
    };
    if record.stage == Stage::Exec {
        return Some(Error::Exec { program: spec.argv[0].clone(), source });
    }
    let step = spec.steps.get(record.step as usize);
    let describe = |verb: &str| match step {
        Some(plan::Step::Bind { host, path, .. }) => {
            format!("{verb} {} at {}", host.display(), path.display())
        }
        Some(step) => format!("{verb} {}", step.path().display()),
        None => verb.to_owned(),
    };
    let mut step = match record.stage {
        Stage::JoinCgroup => "joining the task's cgroup".to_owned(),
        Stage::Unshare => "creating namespaces (are unprivileged user namespaces allowed?)".to_owned(),
        Stage::WaitForIdMap | Stage::ReportPid => "talking to the caller".to_owned(),
        Stage::ForkInit => "starting the namespace's init".to_owned(),
        Stage::PrivateMounts => "making mounts private".to_owned(),
        Stage::OpenSource => describe("opening the host side of"),
        Stage::RootTmpfs => "mounting the root tmpfs".to_owned(),
        Stage::MountStep => describe("creating"),
        Stage::Hostname => "setting the host name".to_owned(),
        Stage::Loopback => "bringing up loopback".to_owned(),
        Stage::PivotRoot => "switching to the new root".to_owned(),
        Stage::Sysctl => "setting a sysctl".to_owned(),
        Stage::ReadOnlyRoot => "making the root read-only".to_owned(),
        Stage::ForkCommand => "starting the command".to_owned(),
        Stage::Stdio => "setting up standard streams".to_owned(),
        Stage::Chdir => format!("entering the working directory {}", spec.cwd.display()),
        Stage::Ids => format!("switching to uid {} gid {}", spec.uid, spec.gid),
        Stage::Capabilities => "dropping capabilities".to_owned(),
        Stage::Rlimits => "setting rlimits".to_owned(),
        Stage::Affinity => "setting the CPU affinity".to_owned(),
        Stage::NoNewPrivs => "setting no_new_privs".to_owned(),
        Stage::Personality => "setting the personality".to_owned(),
        Stage::Landlock => "applying the landlock ruleset".to_owned(),
        Stage::TimeNamespace => "setting the clocks of the time namespace".to_owned(),
        Stage::Keyring => "joining a new session keyring".to_owned(),
        Stage::Seccomp => "installing the system-call filter".to_owned(),
        Stage::Exec => unreachable!("handled above"),
    };
    if record.errno != 0 && !record.detail.is_empty() {
        step.push_str(&format!(" ({})", record.detail));
    }
    Some(Error::Setup { step, source })
}

fn kill_task(init: &OwnedFd, helper: &mut Helper) {
    // SIGKILL to a pid namespace's init kills every process in it.
    let _ = rustix::process::pidfd_send_signal(init, Signal::KILL);
    helper.kill();
}

/// The helper process; killed and reaped if dropped before [`Helper::reap`].
struct Helper {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    reaped: bool,
}

impl Helper {
    fn new(pid: libc::pid_t) -> Result<Helper, Error> {
        let pidfd = match Pid::from_raw(pid).map(|p| rustix::process::pidfd_open(p, PidfdFlags::empty())) {
            Some(Ok(fd)) => fd,
            other => {
                // SAFETY: kill with integer arguments; `pid` is our unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = sys::wait4(pid);
                let source = match other {
                    Some(Err(e)) => e.into(),
                    _ => io::Error::from(io::ErrorKind::InvalidData),
                };
                return Err(Error::Resource { what: "a pidfd for the helper process", source });
            }
        };
        Ok(Helper { pid, pidfd, reaped: false })
    }

    fn kill(&mut self) {
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, Signal::KILL);
    }

    fn reap(&mut self) -> io::Result<sys::Reaped> {
        let reaped = sys::wait4(self.pid)?;
        self.reaped = true;
        Ok(reaped)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            let _ = sys::wait4(self.pid);
        }
    }
}

/// The command's output: pipes read by the caller and written to log files.
struct Logs {
    /// Read ends and the file each goes to.
    streams: Vec<(OwnedFd, usize)>,
    /// Each file, and the bytes written to it.
    files: Vec<(PathBuf, File, u64)>,
    /// Bytes kept per file; past it nothing more is written and `over_limit` is set.
    limit: Option<u64>,
    over_limit: bool,
    child: Option<(ChildStdio, ChildStdio)>,
}

/// What [`Logs::poll`] saw.
struct Ready {
    helper_exited: bool,
    cancelled: bool,
}

impl Logs {
    fn open(spec: &Spec) -> Result<Logs, Error> {
        let mut logs =
            Logs { streams: Vec::new(), files: Vec::new(), limit: spec.log_limit, over_limit: false, child: None };
        // One pipe per distinct file, so stdout and stderr into one log stay in order.
        let mut pipes: Vec<(PathBuf, OwnedFd)> = Vec::new();
        let task_root = spec
            .ids
            .task_range()
            .map(|(u, g)| (rustix::process::Uid::from_raw(u.outside), rustix::process::Gid::from_raw(g.outside)));
        let mut child_end = |sink: &Sink, fd: i32, logs: &mut Logs| -> Result<ChildStdio, Error> {
            match sink {
                Sink::Null => Ok(ChildStdio::Null),
                Sink::Inherit | Sink::CallerStderr => {
                    let fd = if *sink == Sink::CallerStderr { 2 } else { fd };
                    // SAFETY: fd 1/2 of this process, borrowed only to duplicate it.
                    let own = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                    let dup = rustix::io::fcntl_dupfd_cloexec(own, 3)
                        .map_err(|e| Error::Resource { what: "a copy of a standard stream", source: e.into() })?;
                    Ok(ChildStdio::Fd(dup))
                }
                Sink::File(path) => {
                    if let Some((_, write)) = pipes.iter().find(|(p, _)| p == path) {
                        let dup = rustix::io::fcntl_dupfd_cloexec(write, 3)
                            .map_err(|e| Error::Resource { what: "a log pipe", source: e.into() })?;
                        return Ok(ChildStdio::Fd(dup));
                    }
                    let file = create_log(path).map_err(|source| Error::Log { path: path.clone(), source })?;
                    let (read, write) = pipe("a log pipe")?;
                    // The task's own, so it can open it again (`echo > /dev/stderr`).
                    if let Some((uid, gid)) = task_root {
                        rustix::fs::fchown(&write, Some(uid), Some(gid))
                            .map_err(|e| Error::Resource { what: "a log pipe for the task", source: e.into() })?;
                    }
                    logs.files.push((path.clone(), file, 0));
                    logs.streams.push((read, logs.files.len() - 1));
                    let dup = rustix::io::fcntl_dupfd_cloexec(&write, 3)
                        .map_err(|e| Error::Resource { what: "a log pipe", source: e.into() })?;
                    pipes.push((path.clone(), write));
                    Ok(ChildStdio::Fd(dup))
                }
            }
        };
        let stdout = child_end(&spec.stdout, 1, &mut logs)?;
        let stderr = child_end(&spec.stderr, 2, &mut logs)?;
        logs.child = Some((stdout, stderr));
        Ok(logs)
    }

    fn take_child_ends(&mut self) -> (ChildStdio, ChildStdio) {
        self.child.take().unwrap_or((ChildStdio::Null, ChildStdio::Null))
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(p, _, _)| p.clone()).collect()
    }

    fn poll(
        &mut self,
        helper: &OwnedFd,
        cancel: &CancelHandle,
        timeout: Option<&rustix::time::Timespec>,
    ) -> Result<Ready, Error> {
        let cancel_fd = cancel.fd();
        let mut fds = vec![PollFd::new(helper, PollFlags::IN), PollFd::new(&cancel_fd, PollFlags::IN)];
        for (read, _) in &self.streams {
            fds.push(PollFd::new(read, PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, timeout) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::Wait(e.into())),
        }
        let ready = Ready { helper_exited: !fds[0].revents().is_empty(), cancelled: !fds[1].revents().is_empty() };
        let readable: Vec<usize> =
            fds[2..].iter().enumerate().filter(|(_, fd)| !fd.revents().is_empty()).map(|(i, _)| i).collect();
        drop(fds);
        let mut closed = Vec::new();
        for index in readable {
            match self.copy_once(index) {
                Ok(true) => {}
                Ok(false) => closed.push(index),
                Err(source) => {
                    let path = self.files[self.streams[index].1].0.clone();
                    return Err(Error::Log { path, source });
                }
            }
        }
        for index in closed.into_iter().rev() {
            self.streams.remove(index);
        }
        Ok(ready)
    }

    /// Copies one chunk from stream `index`; false at end of file.
    fn copy_once(&mut self, index: usize) -> io::Result<bool> {
        let mut buf = [0u8; 65536];
        let (read, file) = &self.streams[index];
        match rustix::io::read(read, &mut buf) {
            Ok(0) => Ok(false),
            Ok(n) => {
                let (_, out, written) = &mut self.files[*file];
                let keep = match self.limit {
                    Some(limit) => {
                        let room = limit.saturating_sub(*written).min(n as u64) as usize;
                        if room < n {
                            self.over_limit = true;
                        }
                        room
                    }
                    None => n,
                };
                out.write_all(&buf[..keep])?;
                *written += keep as u64;
                Ok(true)
            }
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Copies whatever is left (every writer is gone once the helper has been reaped).
    fn drain(&mut self) -> Result<(), Error> {
        for index in 0..self.streams.len() {
            loop {
                match self.copy_once(index) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(source) => {
                        let path = self.files[self.streams[index].1].0.clone();
                        return Err(Error::Log { path, source });
                    }
                }
            }
        }
        self.streams.clear();
        for (path, file, _) in &mut self.files {
            file.flush().map_err(|source| Error::Log { path: path.clone(), source })?;
        }
        Ok(())
    }
}

/// Creates (or truncates) a log file on the host. The directory may be one a task can
/// write (BitBake's `${T}`): a symlink planted at the log's name is refused instead of
/// followed, and a FIFO or device there neither blocks nor is written.
fn create_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    file.set_len(0)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::create_log;

    /// A log at a name a task could have prepared: a symlink is not followed (its target
    /// keeps its bytes), a FIFO does not block, a regular file is truncated.
    #[test]
    fn create_log_refuses_what_a_task_could_plant() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("host-file");
        std::fs::write(&target, b"keep me").unwrap();
        let link = dir.path().join("log.do_compile.rstore");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_log(&link).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");

        let fifo = dir.path().join("log.do_install.rstore");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(create_log(&fifo).is_err());

        let plain = dir.path().join("log.do_configure.rstore");
        std::fs::write(&plain, b"old").unwrap();
        create_log(&plain).unwrap();
        assert_eq!(std::fs::read(&plain).unwrap(), b"");
    }
}
