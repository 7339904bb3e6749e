//! Parsing benchmark: `rstore parse` cold (no parse cache) and warm (cache, nothing
//! changed) on openembedded-core of any release rstore reads (or the bundled layers),
//! beside `bitbake -p` on the same checkout and configuration when a BitBake checkout
//! of that release is given. The release is the checkout's: the bench prints the
//! BitBake release rstore reads it as.
//!
//! Cold means no parse cache: rstore runs with `--no-cache`, BitBake after removing its
//! build directory's `tmp*/` (TMPDIR) and `cache/`. Both keep the compiled bytecode of their
//! Python modules between runs, as on a usual machine (rstore in its build directory's
//! `cache/rstore/pycache`, BitBake through `PYTHONPYCACHEPREFIX`); the first run of
//! each fills it, and the median leaves that run out.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::bitbake::{Checkouts, OeCoreBuild};
use crate::memory::{TreeSampler, reap_orphans};
use crate::report::Row;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    checkouts: Checkouts,
    /// Repetitions of each measurement (the median is reported)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Parse processes for rstore [default: number of CPUs]
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
}

/// Wall time and peak memory of one command.
pub struct Measured {
    pub seconds: f64,
    /// Peak RSS of its largest single process.
    pub max_rss_mib: f64,
    /// Peak of the summed PSS of all its processes, daemons included ([`TreeSampler`]).
    pub tree_peak_mib: f64,
}

pub fn measure(cmd: &mut Command) -> anyhow::Result<Measured> {
    let sampler = TreeSampler::start();
    let started = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for the child we spawned, with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    let tree_peak_mib = sampler.finish();
    reap_orphans();
    if r < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed with status {status}");
    }
    // SAFETY: the child was reaped above; forgetting the handle avoids a second wait.
    std::mem::forget(child);
    // Children the command waited for are included in its rusage.
    Ok(Measured { seconds, max_rss_mib: usage.ru_maxrss as f64 / 1024.0, tree_peak_mib })
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

pub fn rstore_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("RSTORE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name("rstore");
    if sibling.exists() {
        return Ok(sibling);
    }
    bail!("cannot find the rstore binary next to {}: build it (cargo build --release) or set RSTORE_BIN", exe.display())
}

pub fn write_build_dir(dir: &Path, oe_core: Option<&Path>) -> anyhow::Result<String> {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf)?;
    match oe_core {
        Some(oe) => {
            // Where the release keeps its sample configuration (meta/conf before langdale).
            let templates = [oe.join("meta/conf/templates/default"), oe.join("meta/conf")]
                .into_iter()
                .find(|d| d.join("local.conf.sample").is_file())
                .with_context(|| format!("{} has no local.conf.sample: not openembedded-core?", oe.display()))?;
            let bblayers = std::fs::read_to_string(templates.join("bblayers.conf.sample"))?;
            std::fs::write(conf.join("bblayers.conf"), bblayers.replace("##OEROOT##", &oe.display().to_string()))?;
            let mut local = std::fs::read_to_string(templates.join("local.conf.sample"))?;
            local.push_str("MACHINE = \"qemux86-64\"\nBB_NUMBER_THREADS = \"2\"\nBB_NUMBER_PARSE_THREADS = \"2\"\nBB_NO_NETWORK = \"1\"\n");
            std::fs::write(conf.join("local.conf"), local)?;
            Ok(format!("openembedded-core at {}", oe.display()))
        }
        None => {
            let status = Command::new(rstore_binary()?)
                .arg("init")
                .arg(dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()?;
            if !status.success() {
                bail!("rstore init failed");
            }
            Ok("the bundled layers".to_owned())
        }
    }
}

/// The BitBake release rstore reads the build directory's layers as (the first line of
/// `rstore layers`: `Read as BitBake 2.8 (the core layer's series scarthgap)`).
pub fn release_of(dir: &Path) -> anyhow::Result<String> {
    let out = Command::new(rstore_binary()?).arg("-q").arg("-C").arg(dir).arg("layers").output()?;
    if !out.status.success() {
        bail!("rstore layers failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or_default().trim_start_matches("Read as ").to_owned())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rstore = rstore_binary()?;
    let oe = args.checkouts.oe_core()?;
    let tmp = tempfile::tempdir()?;
    let build = tmp.path().join("build");
    let what = write_build_dir(&build, oe.as_deref())?;
    println!("parse benchmark: {what}, {}, {} run(s) each, median", release_of(&build)?, args.runs);
    let rstore_cmd = |extra: &[&str]| {
        let mut c = Command::new(&rstore);
        c.arg("-q").arg("-C").arg(&build).arg("parse").args(extra);
        if let Some(j) = args.jobs {
            c.arg("-j").arg(j.to_string());
        }
        c.stdout(std::process::Stdio::null());
        c
    };
    let mut cold = Vec::new();
    let mut cold_rss = Vec::new();
    for _ in 0..args.runs {
        let m = measure(&mut rstore_cmd(&["--no-cache"]))?;
        cold.push(m.seconds);
        cold_rss.push(m.tree_peak_mib);
    }
    let mut warm = Vec::new();
    let mut warm_rss = Vec::new();
    for _ in 0..args.runs {
        let m = measure(&mut rstore_cmd(&[]))?;
        warm.push(m.seconds);
        warm_rss.push(m.tree_peak_mib);
    }
    let (bb_cold, bb_warm, bb_rss) = match (&args.checkouts.bitbake, &oe) {
        (Some(bitbake), Some(oe)) => {
            match bitbake_times(bitbake, oe, args.checkouts.bitbake_user.as_deref(), args.runs) {
                Ok(t) => (Some(t.0), Some(t.1), Some(t.2)),
                Err(e) => {
                    println!("BitBake not measured: {e:#}");
                    (None, None, None)
                }
            }
        }
        _ => {
            println!(
                "BitBake not measured (give --bitbake DIR and --oe-core DIR). Reference on this machine kind \
                 (2 vCPU): openembedded-core master, bitbake -p cold 112.5-156.6 s, warm 3.76-5.93 s; \
                 scarthgap (BitBake 2.8) cold 41.7 s, warm 1.8 s."
            );
            (None, None, None)
        }
    };
    Row {
        what: "cold parse (no cache), seconds",
        ours: median(cold),
        peer_name: "bitbake -p (cold)",
        peer: bb_cold,
        unit: "s",
        higher_is_better: false,
    }
    .print();
    Row {
        what: "warm parse (cache, nothing changed)",
        ours: median(warm),
        peer_name: "bitbake -p (warm)",
        peer: bb_warm,
        unit: "s",
        higher_is_better: false,
    }
    .print();
    Row {
        what: "peak memory, all processes, cold",
        ours: median(cold_rss),
        peer_name: "bitbake -p (cold)",
        peer: bb_rss,
        unit: "MiB",
        higher_is_better: false,
    }
    .print();
    Row {
        what: "peak memory, all processes, warm",
        ours: median(warm_rss),
        peer_name: "",
        peer: None,
        unit: "MiB",
        higher_is_better: false,
    }
    .print();
    println!(
        "(peak memory: the largest sum of the proportional set sizes of every process of the command, \
         BitBake's server and parser processes included, sampled every 0.1 s, every 0.5 s after the first 10 s)"
    );
    Ok(())
}

/// Cold and warm `bitbake -p` on a copy of the build directory owned by `user`.
fn bitbake_times(bitbake: &Path, oe: &Path, user: Option<&str>, runs: usize) -> anyhow::Result<(f64, f64, f64)> {
    let build = OeCoreBuild::new(bitbake, oe, user)?;
    let mut cold = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs.max(1) {
        // TMPDIR is tmp/ or, in releases whose nodistro appends the C library,
        // tmp-glibc/: the parse cache is in it.
        for entry in std::fs::read_dir(build.dir())?.flatten() {
            let name = entry.file_name();
            if name == "cache" || name.to_string_lossy().starts_with("tmp") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let m = measure(&mut build.command("-p"))?;
        cold.push(m.seconds);
        rss.push(m.tree_peak_mib);
    }
    // The first run after a cold one re-parses (see the reference README); warm is after it.
    measure(&mut build.command("-p"))?;
    let mut warm = Vec::new();
    for _ in 0..runs.max(1) {
        warm.push(measure(&mut build.command("-p"))?.seconds);
    }
    Ok((median(cold), median(warm), median(rss)))
}
