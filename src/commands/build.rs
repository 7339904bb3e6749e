//! `rstore build`: realise targets — substitute what the store has, run the rest in
//! the sandbox, store every output with hash equivalence.

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use rstore_evaluator::derivation::TaskId;
use rstore_evaluator::realise::{self, Options as RealiseOptions, Resolution};
use rstore_importer::build::{BuildPlanner, nodes};
use rstore_importer::catalog::Signatures;
use rstore_importer::session::Options;
use rstore_importer::taskgraph::{self, Request};
use rstore_sandbox::CancelHandle;
use rstore_store::Store;
use serde_json::json;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Build targets: run every task they need that the store does not have yet
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  rstore build rstore-image-minimal\n  rstore build zstd-native:do_install -j 4\n  rstore build busybox -n            (what would run)\n  rstore build hello -f -c compile   (run hello's do_compile again)"
)]
pub struct BuildArgs {
    /// Targets: a recipe or a name one provides, optionally with a task (zlib:do_install)
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Task for targets given without one [default: BB_DEFAULT_TASK, else build]
    #[arg(short = 'c', long = "cmd", value_name = "TASK")]
    pub task: Option<String>,
    /// Keep going after a task fails: independent tasks still run
    #[arg(short = 'k', long = "continue")]
    pub keep_going: bool,
    /// Dry run: say what would be substituted and run, run nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Run the target tasks even when their output is available
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Tasks to run at once [default: BB_NUMBER_THREADS, else the number of CPUs]
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// One JSON event per line on stdout; the last one is the summary
    #[arg(long)]
    pub json: bool,
}

struct Display {
    json: bool,
    live: bool,
    started: Instant,
    state: Mutex<(usize, usize, BTreeSet<String>)>,
}

impl Display {
    fn event(&self, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        }
    }

    fn line(&self, text: &str) {
        if self.json {
            return;
        }
        if self.live {
            eprint!("\r\x1b[K");
        }
        eprintln!("{text}");
        self.redraw();
    }

    fn redraw(&self) {
        if !self.live || self.json {
            return;
        }
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let running: Vec<&String> = s.2.iter().take(3).collect();
        eprint!(
            "\r\x1b[K[{}/{}] {:.0}s running: {}",
            s.0,
            s.1,
            self.started.elapsed().as_secs_f64(),
            running.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
}

impl realise::Reporter for Display {
    fn planned(&self, needed: usize, available: usize) {
        let to_run = needed - available;
        if let Ok(mut s) = self.state.lock() {
            s.1 = to_run;
        }
        self.event(json!({"event": "plan", "needed": needed, "available": available, "to_run": to_run}));
        self.line(&format!("{needed} tasks needed: {available} available in the store, up to {to_run} to run"));
    }

    fn started(&self, id: &TaskId, _running: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.2.insert(id.to_string());
        }
        self.event(json!({"event": "started", "task": id.to_string()}));
        self.redraw();
    }

    fn finished(&self, id: &TaskId, resolution: Resolution, detail: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.2.remove(&id.to_string());
            s.0 += 1;
        }
        self.event(json!({"event": "finished", "task": id.to_string(), "resolution": resolution, "detail": detail}));
        match resolution {
            Resolution::Failed => self.line(&format!("FAILED {id}: {detail}")),
            _ => self.line(&format!("done {id} ({detail})")),
        }
    }
}

/// Where the store is: --store, else RSTORE_STORE_DIR of the configuration, else the
/// store command's default.
fn store_dir(global: &GlobalArgs, configured: Option<&String>, build_dir: &Path) -> anyhow::Result<PathBuf> {
    if global.store.is_some() {
        return Ok(crate::commands::store::resolve_store_dir(global)?.0);
    }
    if let Some(dir) = configured.filter(|d| !d.is_empty()) {
        return Ok(build_dir.join(dir));
    }
    Ok(crate::commands::store::resolve_store_dir(global)?.0)
}

/// What the host exposes to tasks: the programs of the host tools directory, by
/// content, and the distribution. Part of every taskhash.
fn host_fingerprint(hosttools: &Path) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"rstore-host-v1\n");
    h.update(std::env::consts::ARCH.as_bytes());
    if let Ok(os) = std::fs::read("/etc/os-release") {
        h.update(&os);
    }
    let mut tools: Vec<PathBuf> =
        std::fs::read_dir(hosttools).map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    tools.sort();
    for t in tools {
        h.update(t.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        if let Ok(target) = std::fs::canonicalize(&t) {
            h.update(target.as_os_str().as_encoded_bytes());
            if let Ok(bytes) = std::fs::read(&target) {
                h.update(blake3::hash(&bytes).as_bytes());
            }
        }
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

pub fn run(global: &GlobalArgs, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Ctrl-C cancels: every sandbox is killed, nothing partial is stored. Signals are
    // blocked before any thread starts and taken by one waiting thread.
    let cancel = CancelHandle::new().context("setting up cancellation")?;
    crate::commands::sandbox::cancel_on_signals(cancel.clone());
    let build_dir = metadata::build_dir(global)?.canonicalize().context("reading the build directory")?;
    let (report, _) = metadata::parse_all(global, &[], args.jobs)?;
    if !report.failures.is_empty() {
        for f in &report.failures {
            eprintln!("error: {}", f.error);
        }
        bail!("{} of {} recipe files failed to parse", report.failures.len(), report.files);
    }
    let request = Request { targets: args.targets.clone(), task: args.task.clone() };
    let graph = taskgraph::build(&report.recipes, &report.providers, &request, &taskgraph::Quiet)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Task signatures for the recipes of the graph (computed once, then cached).
    let files: BTreeSet<PathBuf> = graph.recipes.iter().map(|r| r.file.clone()).collect();
    let (report, _) = metadata::parse_all_with(global, &[], args.jobs, &Signatures::For(&files))?;
    let nodes = nodes(&graph, &report.recipes).map_err(|e| anyhow::anyhow!(e))?;
    let vars = &report.providers.vars;
    let tmpdir =
        PathBuf::from(vars.get("TMPDIR").cloned().unwrap_or_else(|| build_dir.join("tmp").display().to_string()));
    let downloads =
        PathBuf::from(vars.get("DL_DIR").cloned().unwrap_or_else(|| build_dir.join("downloads").display().to_string()));
    let store_dir = store_dir(global, vars.get("RSTORE_STORE_DIR"), &build_dir)?;
    let store =
        Arc::new(Store::open(&store_dir).with_context(|| format!("opening the store at {}", store_dir.display()))?);
    let jobs = args
        .jobs
        .or_else(|| vars.get("BB_NUMBER_THREADS").and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let force: BTreeSet<usize> = if args.force { graph.targets.iter().copied().collect() } else { BTreeSet::new() };
    let options = RealiseOptions {
        jobs,
        keep_going: args.keep_going,
        dry_run: args.dry_run,
        force,
        host_fingerprint: host_fingerprint(&tmpdir.join("hosttools")),
    };
    for d in [&tmpdir, &downloads] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let scratch = tmpdir.join("rstore-scratch");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let env_options = Options { env: std::env::vars().collect(), tracking: false };
    let mut planner = BuildPlanner::new(&build_dir, env_options, &graph, tmpdir.clone(), downloads);
    let display = Display {
        json: args.json,
        live: !args.json && !global.quiet && std::io::stderr().is_terminal(),
        started,
        state: Mutex::new((0, 0, BTreeSet::new())),
    };
    let rstore = std::env::current_exe().context("finding the rstore executable")?;
    let summary = realise::realise(
        &nodes,
        &graph.targets,
        store.clone(),
        &mut planner,
        scratch,
        rstore,
        &options,
        &display,
        &cancel,
    )?;
    if display.live {
        eprint!("\r\x1b[K");
    }
    if args.dry_run {
        if args.json {
            println!(
                "{}",
                json!({"event": "summary", "dry_run": true, "would_run": summary.would_run, "available": summary.available})
            );
        } else {
            println!("{} tasks would run, {} are available in the store:", summary.would_run.len(), summary.available);
            for t in &summary.would_run {
                println!("    {t}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut by_node: HashMap<usize, &realise::TaskResult> = HashMap::new();
    for (i, r) in summary.tasks.iter().enumerate() {
        by_node.insert(i, r);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            json!({
                "event": "summary",
                "run": summary.run,
                "substituted": summary.available,
                "cutoff": summary.cutoff,
                "failed": summary.failed,
                "skipped": summary.skipped,
                "cancelled": summary.cancelled,
                "seconds": elapsed,
                "failures": summary.failures,
            })
        );
    } else {
        println!(
            "Build of {}: {} run, {} from the store, {} cut off by hash equivalence, {} failed, {} not run, in {:.1}s",
            args.targets.join(" "),
            summary.run,
            summary.available,
            summary.cutoff,
            summary.failed,
            summary.skipped,
            elapsed
        );
        for f in &summary.failures {
            eprintln!("error: {}", f.message);
        }
    }
    Ok(if summary.failed > 0 || summary.cancelled { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
