//! `rstore build`: realise targets — substitute what the store has, run the rest in
//! the sandbox, store every output with hash equivalence.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use rstore_evaluator::derivation::TaskId;
use rstore_evaluator::execute::{SandboxExecutor, TaskLimits};
use rstore_evaluator::publish::{self, Publication};
use rstore_evaluator::realise::{self, Options as RealiseOptions, Resolution};
use rstore_importer::build::{BuildPlanner, build_graph, publications};
use rstore_importer::session::Options;
use rstore_importer::taskgraph::{self, Request};
use rstore_sandbox::CancelHandle;
use rstore_store::{HostFingerprint, Store};
use serde_json::json;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Build targets: run every task they need that the store does not have yet
///
/// Parses the layers, makes the task graph of the targets (as `bitbake -g` would),
/// computes every task's hashes, takes from the store every task whose output it
/// already holds (and skips what only such tasks need), and runs the rest in the
/// sandbox, storing each output with hash equivalence: a task whose output did not
/// change cuts off everything above it. Outputs are published into tmp/deploy/, logs
/// go to each recipe's temp/log.do_TASK, and tmp/rstore-results/ holds result links
/// (GC roots of the store).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  rstore build rstore-image-minimal\n  rstore build rstore-image-minimal --check   (is every task reproducible?)\n  rstore build zstd-native:do_install -j 4\n  rstore build busybox -n            (what would run)\n  rstore build hello -f -c compile   (run hello's do_compile again)"
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
    /// After building, run the targets' tasks again under varied conditions (clock,
    /// randomness, CPU count, directory order, kernel version) and compare their outputs
    /// with the stored ones; for each task that differs, find the condition(s) that
    /// change it. Checks the target tasks when every target names its task
    /// (zlib:do_compile, or -c), else every task the targets need. Exit status 1 when
    /// any task differs
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// With --check: keep both output trees of each differing task under
    /// ${TMPDIR}/rstore-check/TASK/{stored,rebuilt}
    #[arg(long, requires = "check")]
    pub keep_failed: bool,
}

struct Display {
    json: bool,
    /// `-q`: no progress lines (failures are still reported at the end).
    quiet: bool,
    live: bool,
    started: Instant,
    state: Mutex<(usize, usize, BTreeSet<String>)>,
    /// What is being fetched from binary caches, shown on the live line.
    transfer: Mutex<String>,
}

impl Display {
    fn event(&self, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        }
    }

    fn line(&self, text: &str) {
        if self.json || self.quiet {
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
        let mut running = s.2.iter().take(3).map(String::as_str).collect::<Vec<_>>().join(", ");
        if s.2.len() > 3 {
            running.push_str(&format!(" (+{})", s.2.len() - 3));
        }
        let elapsed = self.started.elapsed().as_secs();
        let transfer = self.transfer.lock().map(|t| t.clone()).unwrap_or_default();
        eprint!("\r\x1b[K[{}/{}] {}:{:02} {transfer}{running}", s.0, s.1, elapsed / 60, elapsed % 60);
    }

    /// Objects and bytes fetched from binary caches so far (called about 4 times a
    /// second while something arrives).
    fn fetched(&self, objects: u64, bytes: u64) {
        self.event(json!({"event": "fetched", "objects": objects, "bytes": bytes}));
        if let Ok(mut t) = self.transfer.lock() {
            *t = format!("fetched {objects} objects, {:.1} MiB ", bytes as f64 / 1048576.0);
        }
        self.redraw();
    }
}

impl realise::Reporter for Display {
    /// `available`: in the store or in a binary cache.
    fn planned(&self, needed: usize, available: usize) {
        let to_run = needed - available;
        if let Ok(mut s) = self.state.lock() {
            s.1 = to_run;
        }
        self.event(json!({"event": "plan", "needed": needed, "available": available, "to_run": to_run}));
        self.line(&format!("{needed} tasks needed: {available} available, up to {to_run} to run"));
    }

    fn substituting(&self, count: usize) {
        self.event(json!({"event": "substituting", "tasks": count}));
        self.line(&format!("fetching the outputs of {count} tasks from binary caches"));
    }

    fn started(&self, id: &TaskId, _running: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.2.insert(id.to_string());
        }
        self.event(json!({"event": "started", "task": id.to_string()}));
        self.redraw();
    }

    fn tick(&self) {
        self.redraw();
    }

    fn finished(&self, id: &TaskId, resolution: Resolution, detail: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.2.remove(&id.to_string());
            s.0 += 1;
        }
        self.event(json!({"event": "finished", "task": id.to_string(), "resolution": resolution, "detail": detail}));
        match resolution {
            // The first line (what failed, and the log path); the log's tail is
            // printed once, with the summary.
            Resolution::Failed => self.line(&format!("FAILED {id}: {}", detail.lines().next().unwrap_or_default())),
            _ => self.line(&format!("done {id} ({detail})")),
        }
    }
}

/// What the host exposes to tasks: the programs of the host tools directory, by
/// content, and the distribution. Part of every taskhash.
fn host_fingerprint(hosttools: &Path) -> HostFingerprint {
    let mut h = blake3::Hasher::new();
    h.update(b"rstore-host-v1\n");
    h.update(std::env::consts::ARCH.as_bytes());
    if let Ok(os) = std::fs::read("/etc/os-release") {
        h.update(&os);
    }
    let mut tools: Vec<PathBuf> =
        std::fs::read_dir(hosttools).map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    tools.sort();
    let dir = hosttools.canonicalize().ok();
    for t in tools {
        h.update(t.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        if let Ok(target) = std::fs::canonicalize(&t) {
            // A wrapper script kept in the directory itself (openembedded-core writes
            // `ld.gold` there) goes by its name: its host path is the build directory's.
            let shown = match dir.as_ref().and_then(|dir| target.strip_prefix(dir).ok()) {
                Some(rel) => Path::new("hosttools").join(rel),
                None => target.clone(),
            };
            h.update(shown.as_os_str().as_encoded_bytes());
            if let Ok(bytes) = std::fs::read(&target) {
                h.update(blake3::hash(&bytes).as_bytes());
            }
        }
        h.update(b"\n");
    }
    HostFingerprint::from_digest(h.finalize().into())
}

/// Everything a build needs before it runs anything: the task graph of the targets,
/// its nodes with basehashes, where things go, and the store.
pub struct Plan {
    pub build_dir: PathBuf,
    pub graph: taskgraph::TaskGraph,
    /// The graph the engine realises (node ids are `graph`'s).
    pub build: realise::BuildGraph,
    /// Per node: what it publishes into the deploy directories.
    pub publications: Vec<Vec<Publication>>,
    pub tmpdir: PathBuf,
    pub downloads: PathBuf,
    pub store: Arc<Store>,
    pub jobs: usize,
    pub host_fingerprint: HostFingerprint,
    /// The user's BitBake, when the layers' own tasks run with it.
    pub bitbake: Option<PathBuf>,
    /// Binary caches to substitute from (RSTORE_SUBSTITUTERS), if any.
    pub substituters: Option<rstore_store::cache::transfer::Substituters>,
    /// Limits of every task (RSTORE_TASK_*).
    pub limits: TaskLimits,
    /// The configuration's variables (local.conf and the layers' configuration).
    pub vars: std::collections::BTreeMap<String, String>,
}

/// The limits of every task: `RSTORE_TASK_*` from the environment, else the
/// configuration, else [`TaskLimits::DEFAULT`]. Sizes take K, M, G or T suffixes (powers
/// of 1024); `none` lifts a limit.
pub fn task_limits(vars: &std::collections::BTreeMap<String, String>) -> anyhow::Result<TaskLimits> {
    let setting = |name: &str| -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| vars.get(name).cloned())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let size = |name: &str, default: Option<u64>| -> anyhow::Result<Option<u64>> {
        match setting(name) {
            None => Ok(default),
            Some(v) if v == "none" => Ok(None),
            Some(v) => crate::commands::sandbox::parse_size(&v).map(Some).with_context(|| format!("{name} = {v:?}")),
        }
    };
    let d = TaskLimits::DEFAULT;
    let cpus = match setting("RSTORE_TASK_CPUS") {
        None => d.cpus,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("RSTORE_TASK_CPUS = {v:?} is not a positive number"))?,
    };
    let processes = match setting("RSTORE_TASK_PROCESSES") {
        None => d.processes,
        Some(v) if v == "none" => None,
        Some(v) => Some(
            v.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("RSTORE_TASK_PROCESSES = {v:?} is not a positive number"))?,
        ),
    };
    Ok(TaskLimits {
        cpus,
        memory_bytes: size("RSTORE_TASK_MEMORY", d.memory_bytes)?,
        processes,
        tmpfs_bytes: size("RSTORE_TASK_TMPFS_SIZE", d.tmpfs_bytes)?,
        log_bytes: size("RSTORE_TASK_LOG_SIZE", d.log_bytes)?,
        output_bytes: size("RSTORE_TASK_OUTPUT_SIZE", d.output_bytes)?,
    })
}

/// Parse, build the task graph of `request`, compute the signatures of its recipes
/// (once; then they are cached) in the same pass over the parse cache, and open the store.
pub fn plan(global: &GlobalArgs, request: &Request, jobs: Option<usize>) -> anyhow::Result<Plan> {
    let build_dir = metadata::build_dir(global)?.canonicalize().context("reading the build directory")?;
    let mut graph_result = None;
    let report = metadata::parse_all_then(global, jobs, &mut |report| {
        if !report.failures.is_empty() {
            return None;
        }
        let g = taskgraph::build(&report.recipes, &report.providers, request, &taskgraph::Quiet);
        let files = g.as_ref().ok().map(|g| g.recipes.iter().map(|r| r.file.clone()).collect());
        graph_result = Some(g);
        files
    })?;
    metadata::require_clean_parse(&report)?;
    let graph = graph_result.context("no task graph was computed")?.map_err(|e| anyhow::anyhow!("{e}"))?;
    let vars = &report.providers.vars;
    let tmpdir =
        PathBuf::from(vars.get("TMPDIR").cloned().unwrap_or_else(|| build_dir.join("tmp").display().to_string()));
    let bitbake = std::env::var_os("RSTORE_BITBAKE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| vars.get("RSTORE_BITBAKE_DIR").filter(|v| !v.trim().is_empty()).map(|v| PathBuf::from(v.trim())));
    if let (Some(dir), Some(read_as)) = (&bitbake, &report.bitbake) {
        same_release(dir, read_as)?;
    }
    let build = build_graph(&graph, &report.recipes, bitbake.is_some())?;
    let publications = publications(&graph, &report.recipes, bitbake.as_ref().map(|_| tmpdir.as_path()));
    let downloads =
        PathBuf::from(vars.get("DL_DIR").cloned().unwrap_or_else(|| build_dir.join("downloads").display().to_string()));
    let store_dir = match global.store.as_ref() {
        Some(_) => crate::commands::store::resolve_store_dir(global)?.0,
        None => match vars.get("RSTORE_STORE_DIR").filter(|d| !d.trim().is_empty()) {
            Some(dir) => build_dir.join(dir.trim()),
            None => crate::commands::store::resolve_store_dir(global)?.0,
        },
    };
    let store =
        Arc::new(Store::open(&store_dir).with_context(|| format!("opening the store at {}", store_dir.display()))?);
    let jobs = jobs
        .or_else(|| vars.get("BB_NUMBER_THREADS").and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let host_fingerprint = host_fingerprint(&tmpdir.join("hosttools"));
    let substituters = crate::commands::cache::substituters(vars)?;
    let limits = task_limits(vars)?;
    Ok(Plan {
        build_dir,
        graph,
        build,
        publications,
        tmpdir,
        downloads,
        store,
        jobs,
        host_fingerprint,
        bitbake,
        substituters,
        limits,
        vars: vars.clone(),
    })
}

/// The layers' own tasks must run with a BitBake of the release the layers were read
/// as (a checkout named only in local.conf is not seen before the layers are read).
fn same_release(checkout: &Path, read_as: &rstore_importer::bitbake_version::Detected) -> anyhow::Result<()> {
    let runs = rstore_importer::bitbake_version::checkout_version(checkout)
        .with_context(|| format!("RSTORE_BITBAKE_DIR names {}", checkout.display()))?;
    let wanted = read_as.version;
    if (runs.major, runs.minor) != (wanted.major, wanted.minor) {
        bail!(
            "the layers are read as {read_as}, but their tasks would run with the BitBake checkout {} \
             (BitBake {runs}): set RSTORE_BITBAKE_DIR to a checkout of BitBake {}",
            checkout.display(),
            wanted.short()
        );
    }
    Ok(())
}

/// The targets, and every task below them of the targets' recipes that publishes into
/// the deploy directories: a build whose targets' outputs are found (in the store, or a
/// binary cache) still deploys the targets' images and packages, as BitBake's setscene
/// tasks do, without needing anything else below.
fn with_publishing_tasks(
    build: &realise::BuildGraph,
    targets: &[usize],
    publications: &[Vec<Publication>],
) -> Vec<usize> {
    let recipes: BTreeSet<&str> = targets.iter().map(|&t| build.node(t).id.recipe.as_str()).collect();
    let below = build.closure(targets.iter().copied());
    let mut wanted = targets.to_vec();
    for (i, reached) in below.iter().enumerate() {
        if *reached
            && !targets.contains(&i)
            && !publications[i].is_empty()
            && recipes.contains(build.node(i).id.recipe.as_str())
        {
            wanted.push(i);
        }
    }
    wanted
}

/// What [`publish_outputs`] did.
struct Published {
    files: usize,
    links: Vec<PathBuf>,
}

/// Publish every available output that has publications (deploy directories, like
/// BitBake's `tmp/deploy/`), and make a result link for each target and each
/// published task: `${TMPDIR}/rstore-results/PN:TASK`, a symlink into the store (to
/// the published directory, or a target's whole output) and a GC root for the task's
/// entry (the build's results survive `rstore store gc`).
fn publish_outputs(
    store: &Store,
    build: &realise::BuildGraph,
    summary: &realise::Summary,
    publications: &[Vec<Publication>],
    targets: &[usize],
    tmpdir: &Path,
) -> anyhow::Result<Published> {
    let mut out = Published { files: 0, links: Vec::new() };
    let results = tmpdir.join("rstore-results");
    for (i, r) in summary.tasks.iter().enumerate() {
        if r.resolution == Resolution::Failed {
            continue;
        }
        let (Some(root), Some(unihash)) = (r.root, r.unihash) else { continue };
        let is_target = targets.contains(&i);
        if publications[i].is_empty() && !is_target {
            continue;
        }
        // The link shows the published directory (the first, if several), or the
        // whole output for a target that publishes nothing.
        let mut shown = None;
        for p in &publications[i] {
            let done = publish::publish(store, &root, p)
                .with_context(|| format!("publishing the output of {}", build.node(i).id))?;
            out.files += done.files;
            shown = shown.or(done.checkout);
        }
        let shown = match shown {
            Some(s) => s,
            None if is_target => store.checkout(&root, &rstore_store::NoReporter)?,
            None => continue,
        };
        std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
        let id = &build.node(i).id;
        let link = results.join(id.to_string());
        if std::fs::read_link(&link).ok().as_deref() != Some(shown.as_path()) {
            let tmp = results.join(format!(".{id}.new"));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&shown, &tmp).with_context(|| format!("creating {}", tmp.display()))?;
            std::fs::rename(&tmp, &link).with_context(|| format!("creating {}", link.display()))?;
        }
        store.register_result_link(&link, rstore_store::RootTarget::Entry(unihash))?;
        if is_target {
            out.links.push(link);
        }
    }
    Ok(out)
}

pub fn run(global: &GlobalArgs, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Ctrl-C cancels: every sandbox is killed, nothing partial is stored. The signals are
    // blocked before any thread starts; the thread that takes them starts after the
    // parse, which forks its workers only while the process has one thread (a Ctrl-C
    // while parsing cancels the build as soon as it begins).
    let signals = crate::commands::sandbox::block_cancel_signals();
    let request = Request { targets: args.targets.clone(), task: args.task.clone() };
    let Plan {
        build_dir,
        graph,
        build,
        publications,
        tmpdir,
        downloads,
        store,
        jobs,
        host_fingerprint,
        bitbake,
        substituters,
        limits,
        vars: _,
    } = plan(global, &request, args.jobs)?;
    let cancel = CancelHandle::new().context("setting up cancellation")?;
    crate::commands::sandbox::cancel_on(signals, cancel.clone());
    let force: BTreeSet<usize> = if args.force { graph.targets.iter().copied().collect() } else { BTreeSet::new() };
    let options = RealiseOptions {
        jobs,
        keep_going: args.keep_going,
        dry_run: args.dry_run,
        force,
        host_fingerprint: Some(host_fingerprint),
    };
    for d in [&tmpdir, &downloads] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let scratch = tmpdir.join("rstore-scratch");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let env_options = Options { env: std::env::vars().collect(), tracking: false };
    let mut planner = BuildPlanner::new(&build_dir, env_options, &graph, &build, tmpdir.clone(), downloads);
    if let Some(checkout) = bitbake {
        planner
            .use_bitbake(checkout, &tmpdir.join("rstore-bitbake"))
            .map_err(|e| anyhow::anyhow!("setting up BitBake-run tasks: {e}"))?;
    }
    let display = Display {
        json: args.json,
        quiet: global.quiet,
        live: !args.json && !global.quiet && std::io::stderr().is_terminal(),
        started,
        state: Mutex::new((0, 0, BTreeSet::new())),
        transfer: Mutex::new(String::new()),
    };
    let rstore = std::env::current_exe().context("finding the rstore executable")?;
    let task_cpus = limits.cpus;
    let executor = Arc::new(SandboxExecutor { store: store.clone(), scratch, rstore, cancel: cancel.clone(), limits });
    let progress = rstore_store::cache::transfer::Progress::default();
    let caches = substituters.as_ref().map(|s| realise::CacheSubstitutes::new(&store, s, &progress));
    let services = realise::Services {
        outputs: &*store,
        substitutes: caches.as_ref().map(|c| c as &dyn realise::Substitutes),
        executor: executor.clone(),
        reporter: &display,
        cancel: &cancel,
    };
    let wanted = with_publishing_tasks(&build, &graph.targets, &publications);
    // While outputs arrive from binary caches, show how much has arrived.
    let finished = std::sync::atomic::AtomicBool::new(false);
    let summary = std::thread::scope(|scope| {
        if substituters.is_some() {
            scope.spawn(|| {
                use std::sync::atomic::Ordering::Relaxed;
                let mut shown = 0;
                while !finished.load(Relaxed) {
                    let objects = progress.objects.load(Relaxed);
                    if objects != shown {
                        shown = objects;
                        display.fetched(objects, progress.bytes.load(Relaxed));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
            });
        }
        let summary = realise::realise(&build, &wanted, &mut planner, &services, &options);
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        summary
    })?;
    if display.live {
        eprint!("\r\x1b[K");
    }
    if args.dry_run {
        if args.json {
            println!(
                "{}",
                json!({"event": "summary", "dry_run": true, "would_run": summary.would_run,
                       "would_substitute": summary.would_substitute, "available": summary.available})
            );
        } else {
            println!(
                "{} tasks would run, {} are available in the store, {} would come from binary caches:",
                summary.would_run.len(),
                summary.available,
                summary.would_substitute.len()
            );
            for t in &summary.would_run {
                println!("    {t}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let published = publish_outputs(&store, &build, &summary, &publications, &graph.targets, &tmpdir)?;
    if !args.json && !global.quiet && published.files > 0 {
        eprintln!("published {} files into {}", published.files, tmpdir.join("deploy").display());
    }
    let check = if args.check && summary.failed == 0 && !summary.cancelled {
        let only_targets = args.task.is_some() || args.targets.iter().all(|t| t.contains(':'));
        let nodes = crate::commands::check::nodes_to_check(&build, &graph.targets, only_targets);
        Some(crate::commands::check::run(crate::commands::check::CheckContext {
            store: &store,
            build: &build,
            summary: &summary,
            planner: &mut planner,
            executor: &*executor,
            nodes,
            tmpdir: &tmpdir,
            jobs,
            cpus: task_cpus,
            keep_failed: args.keep_failed,
            json: args.json,
            quiet: global.quiet,
        })?)
    } else {
        None
    };
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        // One record per task the build needed: how it was satisfied and its hashes.
        for (i, t) in summary.tasks.iter().enumerate() {
            if t.resolution == Resolution::NotNeeded {
                continue;
            }
            println!(
                "{}",
                json!({"event": "task", "task": build.node(i).id.to_string(), "resolution": t.resolution,
                       "taskhash": t.taskhash, "unihash": t.unihash, "output_root": t.root})
            );
        }
        println!(
            "{}",
            json!({
                "event": "summary",
                "run": summary.run,
                "local": summary.available,
                "substituted": summary.substituted,
                "cutoff": summary.cutoff,
                "failed": summary.failed,
                "skipped": summary.skipped,
                "cancelled": summary.cancelled,
                "seconds": elapsed,
                "failures": summary.failures,
                "published": published.files,
                "results": published.links,
                "check": check,
            })
        );
    } else {
        println!(
            "Build of {}: {} run, {} from the store, {} from binary caches, {} cut off by hash equivalence, {} failed, \
             {} not run, in {:.1}s",
            args.targets.join(" "),
            summary.run,
            summary.available,
            summary.substituted,
            summary.cutoff,
            summary.failed,
            summary.skipped,
            elapsed
        );
        for f in &summary.failures {
            eprintln!("error: {}", f.message);
        }
        if let Some(c) = &check {
            let percent = if c.tasks == 0 { 100.0 } else { 100.0 * c.reproducible as f64 / c.tasks as f64 };
            println!(
                "Check of {}: {} tasks checked, {} reproducible, {} not ({percent:.1}% reproducible); {} not checked \
                 (they run nothing or fetch)",
                args.targets.join(" "),
                c.tasks,
                c.reproducible,
                c.unreproducible,
                c.not_checked
            );
        }
    }
    let unreproducible = check.as_ref().is_some_and(|c| c.unreproducible > 0);
    Ok(if summary.failed > 0 || summary.cancelled || unreproducible { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::host_fingerprint;

    /// The same host tools in two build directories give the same fingerprint: neither
    /// the directory's path nor that of a wrapper script kept in it is hashed, and a
    /// changed wrapper changes it.
    #[test]
    fn host_fingerprint_does_not_depend_on_the_build_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let make = |name: &str, script: &str| {
            let dir = tmp.path().join(name).join("tmp/hosttools");
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink("/bin/sh", dir.join("sh")).unwrap();
            std::fs::write(dir.join("ld.gold"), script).unwrap();
            host_fingerprint(&dir)
        };
        let a = make("a", "#!/bin/sh\n/usr/bin/ld.gold --no-rosegment $@");
        let b = make("elsewhere/b", "#!/bin/sh\n/usr/bin/ld.gold --no-rosegment $@");
        let c = make("c", "#!/bin/sh\n/usr/bin/ld.gold $@");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
