//! `rstore sandbox …`: run commands in the hermetic task sandbox, for debugging recipes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rstore_sandbox::{CancelHandle, HostFacts, Limits, Mount, Network, Request, Sink, Stdin, WorkDir, layout};

use crate::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run a command in a fresh sandbox, exactly as a task would run
    ///
    /// By default the host's base tools are visible read-only (/usr and the /bin, /sbin,
    /// /lib* links), a fresh empty work dir is the current directory (/build/work) and is
    /// deleted afterwards, there is no network, and nothing else of the host is visible.
    /// The command's output goes to this terminal; the exit code is the command's
    /// (128+N when killed by signal N, 124 on timeout).
    ///
    /// Examples:
    ///
    ///   rstore sandbox run -- sh -c 'id; hostname; ls /'
    ///
    ///   rstore sandbox run --ro ./downloads:/build/downloads --work ./tmp/work -- make
    ///
    ///   rstore sandbox run -i -- bash
    #[command(verbatim_doc_comment)]
    Run(Box<RunArgs>),
    /// Show what isolation this machine supports: landlock ABI, cgroups (v2 delegation or v1), id
    /// mapping, process-limit mechanism, CPUs
    Info(InfoArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Bind a host path read-only: HOST (at the same path inside) or HOST:INSIDE
    #[arg(long = "ro", value_name = "PATH[:INSIDE]")]
    ro: Vec<String>,
    /// Bind a host directory writable: HOST (at the same path inside) or HOST:INSIDE
    #[arg(long = "rw", value_name = "PATH[:INSIDE]")]
    rw: Vec<String>,
    /// Share the host's network (as fetch tasks do); default: loopback only
    #[arg(long)]
    network: bool,
    /// Use this host directory as the work dir (/build/work) and keep it; default: a fresh
    /// temporary directory, deleted afterwards
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,
    /// Do not expose the host's /usr, /bin, /sbin, /lib*
    #[arg(long)]
    no_host_tools: bool,
    /// Set an environment variable inside (repeatable); nothing is inherited from the host
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Kill the whole task after this many seconds
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Memory limit, e.g. 512M or 2G
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Maximum number of processes and threads
    #[arg(long, value_name = "N")]
    max_procs: Option<u32>,
    /// Size of each tmpfs (/tmp, /dev/shm, HOME) [default: the memory limit, else half the RAM]
    #[arg(long, value_name = "SIZE")]
    tmpfs_size: Option<String>,
    /// Kill the command once it has written this much to its log (with --log)
    #[arg(long, value_name = "SIZE")]
    log_size: Option<String>,
    /// CPUs the task may use (what nproc reports inside)
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<u32>,
    /// Shift the wall clock dynamically linked programs read by this many seconds
    /// (negative: back)
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    clock_offset: Option<i64>,
    /// Pin randomness: no address-space randomisation, getrandom() fails with ENOSYS and
    /// /dev/urandom is a fixed stream
    #[arg(long)]
    pin_randomness: bool,
    /// Report a 2.6 kernel to uname, as `setarch --uname-2.6` does
    #[arg(long = "uname-2.6")]
    uname26: bool,
    /// uid of the command inside
    #[arg(long, default_value_t = 0)]
    uid: u32,
    /// gid of the command inside
    #[arg(long, default_value_t = 0)]
    gid: u32,
    /// Export SOURCE_DATE_EPOCH with this value
    #[arg(long, value_name = "SECONDS")]
    source_date_epoch: Option<u64>,
    /// Write the command's stdout and stderr to this file instead of the terminal
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Print the outcome as JSON on stdout (the command's output goes to stderr or --log)
    #[arg(long)]
    json: bool,
    /// Give the command this terminal's standard input (e.g. an interactive shell);
    /// default: /dev/null, as for tasks
    #[arg(long, short = 'i')]
    interactive: bool,
    /// Print the concrete setup (mounts, landlock rules, ids, env, limits) and run nothing
    #[arg(long)]
    dry_run: bool,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(_global: &GlobalArgs, cmd: SandboxCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SandboxCommand::Run(args) => run_command(*args),
        SandboxCommand::Info(args) => info(args),
    }
}

fn run_command(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (program, rest) = args.command.split_first().context("no command given")?;
    let mut request = Request::new(program.clone(), rest.iter().cloned());
    if !args.no_host_tools {
        request = request.with_host_tools();
    }
    for spec in &args.ro {
        let (host, inside) = bind_paths(spec)?;
        request.mounts.push(Mount::ReadOnly { host, inside });
    }
    for spec in &args.rw {
        let (host, inside) = bind_paths(spec)?;
        request.mounts.push(Mount::Writable { host, inside });
    }
    for pair in &args.env {
        let (key, value) = pair.split_once('=').with_context(|| format!("--env {pair:?} is not KEY=VALUE"))?;
        request.env.insert(key.to_owned(), value.to_owned());
    }
    request.network = if args.network { Network::Host } else { Network::Loopback };
    request.uid = args.uid;
    request.gid = args.gid;
    request.source_date_epoch = args.source_date_epoch;
    request.parallelism = args.jobs;
    request.conditions = rstore_sandbox::Conditions {
        clock_offset_ns: args.clock_offset.map(|s| s.saturating_mul(1_000_000_000)),
        pinned_randomness: args.pin_randomness,
        old_kernel: args.uname26,
    };
    request.limits = Limits {
        time: args
            .timeout
            .map(|s| Duration::try_from_secs_f64(s).context("--timeout must be a positive number of seconds"))
            .transpose()?,
        memory_bytes: args.memory.as_deref().map(parse_size).transpose()?,
        processes: args.max_procs,
        tmpfs_bytes: args.tmpfs_size.as_deref().map(parse_size).transpose()?,
        log_bytes: args.log_size.as_deref().map(parse_size).transpose()?,
        ..Limits::default()
    };
    let (stdout, stderr) = match (&args.log, args.json) {
        (Some(log), _) => {
            let log = absolute(log)?;
            (Sink::File(log.clone()), Sink::File(log))
        }
        (None, true) => (Sink::CallerStderr, Sink::CallerStderr),
        (None, false) => (Sink::Inherit, Sink::Inherit),
    };
    request.stdout = stdout;
    request.stderr = stderr;
    if args.interactive {
        request.stdin = Stdin::Inherit;
    }

    // A fresh work dir lives until the end of this function.
    let _fresh;
    request.work_dir = match &args.work {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating work dir {}", dir.display()))?;
            WorkDir::Host(absolute(dir)?)
        }
        None if args.dry_run => WorkDir::Tmpfs,
        None => {
            let dir = tempfile::Builder::new().prefix("rstore-sandbox-").tempdir().context("creating a work dir")?;
            let path = dir.path().to_owned();
            _fresh = dir;
            WorkDir::Host(path)
        }
    };

    if args.dry_run {
        let spec = rstore_sandbox::plan(&request, HostFacts::current())?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&spec)?);
        } else {
            print!("{spec}");
        }
        return Ok(ExitCode::SUCCESS);
    }

    let cancel = CancelHandle::new()?;
    cancel_on_signals(cancel.clone());
    let outcome = rstore_sandbox::run(&request, &cancel)
        .with_context(|| format!("running `{}` in the sandbox", args.command.join(" ")))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else if !outcome.success() {
        tracing::warn!("command {outcome}");
    }
    Ok(ExitCode::from(u8::try_from(outcome.exit_code()).unwrap_or(1)))
}

/// Ctrl-C, SIGTERM and SIGHUP cancel the task (every process of it is killed, the fresh
/// work dir removed, exit code 130) instead of killing rstore outright.
pub(crate) fn cancel_on_signals(cancel: CancelHandle) {
    cancel_on(block_cancel_signals(), cancel);
}

/// The signals that cancel, blocked in the calling thread: call it before any other
/// thread starts (threads inherit the mask), then [`cancel_on`] when cancelling should
/// begin. Until then those signals wait. The sandbox resets the mask of what it runs.
pub(crate) struct CancelSignals(libc::sigset_t);

pub(crate) fn block_cancel_signals() -> CancelSignals {
    // SAFETY: `set` is a live signal set, initialised by sigemptyset before use; blocking
    // signals in this thread only defers their delivery to the sigwait in `cancel_on`.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    CancelSignals(set)
}

/// A thread that cancels `cancel` when one of the blocked signals arrives.
pub(crate) fn cancel_on(signals: CancelSignals, cancel: CancelHandle) {
    let set = signals.0;
    std::thread::spawn(move || {
        let mut signal = 0;
        // SAFETY: `set` and `signal` are live locals of this thread.
        if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
            tracing::warn!("signal {signal} received: cancelling");
            cancel.cancel();
        }
    });
}

fn info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let facts = HostFacts::current();
    let probe = Request::new("true", Vec::<String>::new());
    let spec = rstore_sandbox::plan(&probe, facts)?;
    if args.json {
        let value = serde_json::json!({
            "host": facts,
            "id_mapping": spec.enforcement.id_mapping,
            "work_dir": layout::WORK_DIR,
            "home": layout::HOME,
            "hostname": layout::HOSTNAME,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    match facts.landlock_abi {
        Some(abi) => println!(
            "landlock:      ABI {abi}{}",
            if abi >= 6 { " (filesystem, abstract unix sockets, signals)" } else { " (filesystem)" }
        ),
        None => {
            println!("landlock:      NOT AVAILABLE (tasks are confined by mount namespaces only)")
        }
    }
    match &facts.cgroup {
        rstore_sandbox::host::CgroupSupport::Delegated { parent, cpuset } => println!(
            "cgroup v2:     delegated at {} (memory.max, pids.max{} per task)",
            parent.display(),
            if *cpuset { ", cpuset.cpus" } else { "; no cpuset controller: CPUs by affinity only" }
        ),
        rstore_sandbox::host::CgroupSupport::V1 { memory, pids, cpuset } => {
            println!("cgroup v1:     memory.limit_in_bytes below {}", memory.display());
            println!("               pids.max below {}", pids.display());
            match cpuset {
                Some(dir) => println!("               cpuset.cpus below {}", dir.display()),
                None => println!("               no writable cpuset hierarchy: CPUs by affinity only"),
            }
        }
        rstore_sandbox::host::CgroupSupport::Unavailable { reason } => {
            println!("cgroup:        NOT USABLE: {reason}");
            println!(
                "               memory limits fall back to RLIMIT_AS per process; process limits to {}",
                if facts.pid_max_per_namespace { "the pid namespace's pid_max (at least 300)" } else { "RLIMIT_NPROC" }
            );
        }
    }
    println!("id mapping:    {} (caller uid {}, gid {})", spec.enforcement.id_mapping, facts.uid, facts.gid);
    for range in &spec.ids.uids {
        println!("               uid {}..+{} -> host {}", range.inside, range.count, range.outside);
    }
    println!("cpus:          {:?}", facts.cpus);
    println!("work dir:      {} (HOME {}, hostname {})", layout::WORK_DIR, layout::HOME, layout::HOSTNAME);
    Ok(ExitCode::SUCCESS)
}

fn bind_paths(spec: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (host, inside) = match spec.split_once(':') {
        Some((host, inside)) => (host, Some(inside)),
        None => (spec, None),
    };
    let host = absolute(Path::new(host))?;
    if !host.exists() {
        bail!("{} does not exist", host.display());
    }
    let inside = inside.map(PathBuf::from).unwrap_or_else(|| host.clone());
    Ok((host, inside))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// A size like `512`, `64K`, `512M`, `2G` or `1T` (powers of 1024).
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = match digits.parse() {
        Ok(number) => number,
        Err(_) => bail!("{text:?} is not a size like 512M or 2G"),
    };
    let factor = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => bail!("{text:?} is not a size like 512M or 2G"),
    };
    number.checked_mul(factor).with_context(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("lots").is_err());
    }
}
