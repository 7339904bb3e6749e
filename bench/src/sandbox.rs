//! `rstore-bench sandbox`: per-task overhead of the sandbox.
//!
//! Median wall time of `true` run (a) plainly (fork + exec + wait), (b) in rstore's full
//! sandbox, (c) in `bwrap --unshare-all` with the same binds (host /usr read-only, the
//! /bin, /lib* links, a writable work dir, /proc, /dev, tmpfs /tmp and HOME), and (d) in
//! bare `unshare -Urnmpfiu --mount-proc`, interleaved in one run so every variant sees the
//! same machine state. Where `nix-build` is installed (Debian: `nix-bin`), (e) a sandboxed
//! Nix build of a trivial derivation (a new one each time, so it really builds), run as
//! the caller with the host's `/bin/sh` in the build sandbox and no substituters.
//!
//! Then the cost of recorded modes: `true` with an overlay work directory over a lower
//! directory like an image's (32 programs of 64 KiB and `/tmp`), once with all 33 shown
//! with recorded setuid/`1777` modes (copies on a tmpfs layer, as store checkouts are
//! shown) and once without, interleaved.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rstore_sandbox::{CancelHandle, Mount, Request, Sink, WorkDir};

use crate::report::Row;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Iterations of each variant (interleaved)
    #[arg(long, default_value_t = 500)]
    iterations: usize,
    /// Iterations of the Nix build (slow), when nix-build is installed
    #[arg(long, default_value_t = 20)]
    nix_iterations: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let work = tempfile::Builder::new().prefix("rstore-bench-sandbox-").tempdir().context("creating a work dir")?;
    let mut request = Request::new("true", Vec::<String>::new()).with_host_tools();
    request.work_dir = WorkDir::Host(work.path().to_owned());
    request.stdout = Sink::Null;
    request.stderr = Sink::Null;
    let cancel = CancelHandle::new()?;
    let bwrap = which("bwrap");
    let unshare = which("unshare");
    let bwrap_args = bwrap_args(&request, work.path());
    // The same task under a build's limits: on hosts with usable cgroups (v2 delegated,
    // or v1 as root) that is a cgroup per task (pids, memory and a cpuset).
    let mut limited = request.clone();
    limited.parallelism = Some(1);
    limited.limits.processes = Some(4096);
    limited.limits.memory_bytes = Some(1 << 30);
    let limited_spec = rstore_sandbox::plan(&limited, rstore_sandbox::HostFacts::current())?;

    // Warm up every variant (page cache, first-run costs), and check they work.
    let outcome = rstore_sandbox::run(&request, &cancel)?;
    if !outcome.success() {
        bail!("`true` in the sandbox did not succeed: {outcome}");
    }
    if let Some(bwrap) = &bwrap {
        let status = Command::new(bwrap).args(&bwrap_args).status().context("running bwrap")?;
        if !status.success() {
            bail!("bwrap --unshare-all failed here ({status}); is it allowed to create user namespaces?");
        }
    }

    let mut plain = Vec::with_capacity(args.iterations);
    let mut ours = Vec::with_capacity(args.iterations);
    let mut peer = Vec::with_capacity(args.iterations);
    let mut raw = Vec::with_capacity(args.iterations);
    let mut ours_limited = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        plain.push(time(|| spawn_ok(Command::new("true")))?);
        ours.push(time(|| {
            let outcome = rstore_sandbox::run(&request, &cancel)?;
            anyhow::ensure!(outcome.success(), "sandboxed true failed: {outcome}");
            Ok(())
        })?);
        ours_limited.push(time(|| {
            let outcome = rstore_sandbox::run(&limited, &cancel)?;
            anyhow::ensure!(outcome.success(), "sandboxed true under limits failed: {outcome}");
            Ok(())
        })?);
        if let Some(bwrap) = &bwrap {
            let mut command = Command::new(bwrap);
            command.args(&bwrap_args);
            peer.push(time(|| spawn_ok(command))?);
        }
        if let Some(unshare) = &unshare {
            let mut command = Command::new(unshare);
            command.args(["-Urnmpfiu", "--mount-proc", "true"]);
            raw.push(time(|| spawn_ok(command))?);
        }
    }

    println!("per-task overhead, median of {} interleaved runs of `true`:", args.iterations);
    println!("  plain exec                 {:>8.3} ms", median_ms(&mut plain));
    println!("  rstore sandbox             {:>8.3} ms", median_ms(&mut ours));
    if !peer.is_empty() {
        println!("  bwrap --unshare-all        {:>8.3} ms (same binds)", median_ms(&mut peer));
    }
    if !raw.is_empty() {
        println!("  unshare -Urnmpfiu          {:>8.3} ms (namespaces only, no root)", median_ms(&mut raw));
    }
    let ours_ms = median_ms(&mut ours);
    Row {
        what: "sandboxed `true` (median)",
        ours: ours_ms,
        peer_name: "bwrap --unshare-all",
        peer: (!peer.is_empty()).then(|| median_ms(&mut peer)),
        unit: "ms",
        higher_is_better: false,
    }
    .print();
    Row {
        what: "sandbox cost over plain exec (median)",
        ours: ours_ms - median_ms(&mut plain),
        peer_name: "bwrap cost over plain",
        peer: (!peer.is_empty()).then(|| median_ms(&mut peer) - median_ms(&mut plain)),
        unit: "ms",
        higher_is_better: false,
    }
    .print();
    let enforcement = &limited_spec.enforcement;
    println!(
        "  under a build's limits: memory by {:?}, processes by {:?}, CPUs by {:?}",
        enforcement.memory, enforcement.processes, enforcement.cpus
    );
    Row {
        what: "sandboxed `true` under a build's limits (median)",
        ours: median_ms(&mut ours_limited),
        peer_name: "bwrap --unshare-all (no limits)",
        peer: (!peer.is_empty()).then(|| median_ms(&mut peer)),
        unit: "ms",
        higher_is_better: false,
    }
    .print();
    recorded_modes_cost(args.iterations.min(200), &cancel)?;
    let nix = match which("nix-build") {
        Some(nix_build) => Some(nix_builds(&nix_build, args.nix_iterations.max(1))?),
        None => {
            eprintln!("nix-build not installed: no Nix figure in this run");
            None
        }
    };
    Row {
        what: "sandboxed `true` vs trivial Nix build",
        ours: ours_ms,
        peer_name: "nix-build (sandboxed)",
        peer: nix,
        unit: "ms",
        higher_is_better: false,
    }
    .print();
    Ok(())
}

/// `true` over an image-like lower directory with and without 33 recorded modes.
fn recorded_modes_cost(iterations: usize, cancel: &CancelHandle) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("rstore-bench-modes-").tempdir().context("creating a work dir")?;
    let lower = dir.path().join("lower");
    std::fs::create_dir_all(lower.join("usr/bin")).context("creating the lower dir")?;
    std::fs::create_dir_all(lower.join("tmp")).context("creating the lower dir")?;
    let mut modes = vec![rstore_sandbox::RecordedMode { lower: 0, path: "tmp".into(), mode: 0o1777 }];
    for i in 0..32 {
        let name = format!("usr/bin/program-{i}");
        std::fs::write(lower.join(&name), vec![i as u8; 64 * 1024]).context("writing the lower dir")?;
        modes.push(rstore_sandbox::RecordedMode { lower: 0, path: name.into(), mode: 0o4755 });
    }
    let request = |modes: Vec<rstore_sandbox::RecordedMode>, n: usize| -> anyhow::Result<Request> {
        let (upper, work) = (dir.path().join(format!("upper-{n}")), dir.path().join(format!("work-{n}")));
        std::fs::create_dir_all(&upper)?;
        std::fs::create_dir_all(&work)?;
        let mut request = Request::new("true", Vec::<String>::new()).with_host_tools();
        request.work_dir = WorkDir::Tmpfs;
        request.mounts.push(Mount::Overlay {
            lower: vec![lower.clone()],
            upper,
            work,
            inside: "/build/image".into(),
            modes,
        });
        request.stdout = Sink::Null;
        request.stderr = Sink::Null;
        Ok(request)
    };
    let (with, without) = (request(modes, 0)?, request(Vec::new(), 1)?);
    for r in [&with, &without] {
        let outcome = rstore_sandbox::run(r, cancel)?;
        anyhow::ensure!(outcome.success(), "`true` over the image-like overlay failed: {outcome}");
    }
    let (mut shown, mut plain) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    for _ in 0..iterations {
        for (r, times) in [(&with, &mut shown), (&without, &mut plain)] {
            times.push(time(|| {
                let outcome = rstore_sandbox::run(r, cancel)?;
                anyhow::ensure!(outcome.success(), "sandboxed true failed: {outcome}");
                Ok(())
            })?);
        }
    }
    println!("an overlay over an image-like lower dir, median of {iterations} interleaved runs of `true`:");
    println!(
        "  with 33 recorded modes     {:>8.3} ms (32 x 64 KiB setuid programs copied, /tmp 1777)",
        median_ms(&mut shown)
    );
    println!("  without                    {:>8.3} ms", median_ms(&mut plain));
    Row {
        what: "sandboxed `true`, overlay with 33 recorded modes (median)",
        ours: median_ms(&mut shown),
        peer_name: "the same overlay without",
        peer: Some(median_ms(&mut plain)),
        unit: "ms",
        higher_is_better: false,
    }
    .print();
    Ok(())
}

/// bwrap arguments giving `true` the same root as rstore's sandbox.
fn bwrap_args(request: &Request, work: &Path) -> Vec<String> {
    let mut args: Vec<String> =
        ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"].map(String::from).to_vec();
    for mount in &request.mounts {
        match mount {
            Mount::ReadOnly { host, inside } => {
                args.extend(["--ro-bind".into(), path(host), path(inside)]);
            }
            Mount::Symlink { target, inside } => {
                args.extend(["--symlink".into(), path(target), path(inside)]);
            }
            _ => {}
        }
    }
    args.extend(
        [
            "--bind",
            &path(work),
            rstore_sandbox::layout::WORK_DIR,
            "--tmpfs",
            rstore_sandbox::layout::HOME,
            "--tmpfs",
            "/tmp",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--chdir",
            rstore_sandbox::layout::WORK_DIR,
            "--hostname",
            rstore_sandbox::layout::HOSTNAME,
            "--setenv",
            "PATH",
            rstore_sandbox::layout::DEFAULT_PATH,
            "--setenv",
            "HOME",
            rstore_sandbox::layout::HOME,
            "--setenv",
            "TZ",
            "UTC",
            "--setenv",
            "LC_ALL",
            "C",
            "true",
        ]
        .map(String::from),
    );
    args
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A trivial derivation built in Nix's sandbox, a new one each time (no cache hit).
fn nix_builds(nix_build: &Path, iterations: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let expr = format!(
            "derivation {{ name = \"rstore-bench-{}-{i}\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"echo > $out\" ]; }}",
            std::process::id()
        );
        let mut command = Command::new(nix_build);
        command
            .args(["--no-out-link", "--option", "sandbox", "true", "--option", "substituters", ""])
            // Build as the calling user (no nixbld group needed) with the host's /bin/sh.
            .args([
                "--option",
                "build-users-group",
                "",
                "--option",
                "sandbox-paths",
                "/bin/sh=/bin/sh /lib /lib64 /usr",
            ])
            .args(["-E", &expr])
            .current_dir(dir.path());
        times.push(time(|| spawn_ok(command))?);
    }
    Ok(median_ms(&mut times))
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join(tool)).find(|p| p.is_file()))
        .unwrap_or(None)
}

fn spawn_ok(mut command: Command) -> anyhow::Result<()> {
    let status = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}

fn time(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort_unstable();
    times.get(times.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
