//! Build benchmark: a no-op `rstore build` of the largest bundled target
//! (`rstore-image-minimal`) right after it was built, and the rebuild after a comment
//! is added inside `do_install` of the leaf recipe `hello` (that task reruns, its output
//! is the same, hash equivalence cuts off everything above it), beside BitBake doing the
//! same two things on its own copy of the same layers when a BitBake checkout is given.
//! BitBake is timed as a user meets it by default (no `BB_SERVER_TIMEOUT`: every call
//! starts its server and loads its parse cache; the first call after the edit re-parses
//! the edited recipe), and its no-op also with the server kept up between calls.
//!
//! The work directory is kept between runs, so only the first run pays for the full
//! build (the warm-up builds are never timed):
//!
//! ```text
//! <work-dir>/layers/   copy of the checkout's layers/, refreshed at start; the bench edits this copy
//! <work-dir>/build/    rstore build directory made by `rstore init`; its store is build/store
//! <work-dir>/logs/     output of the last command of each kind the bench ran
//! <work-dir>/bitbake/  BitBake build directory (default place), its own layer copy in bitbake/layers
//! ```

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::bitbake::{chown, user_passes};
use crate::parse::{Measured, measure, median, rstore_binary};
use crate::report::Row;

/// The largest target of the bundled layers.
const TARGET: &str = "rstore-image-minimal";
/// The leaf recipe the rebuild measurement edits, relative to the layers directory.
const HELLO: &str = "meta-demo/recipes-demo/hello/hello_1.0.bb";
/// Issue target for the no-op build.
const NOOP_TARGET_SECONDS: f64 = 0.3;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Downloads mirror filled by `scripts/fill-downloads-mirror DIR` (the builds fetch from it)
    #[arg(long, value_name = "DIR", env = "RSTORE_DOWNLOADS_MIRROR")]
    mirror: Option<PathBuf>,
    /// Where the layer copy, build directory, store and logs are kept between runs
    /// [default: $CARGO_TARGET_DIR/bench-build, else target/bench-build]
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// BitBake checkout, to time the same builds with BitBake in the same run
    #[arg(long, value_name = "DIR", env = "RSTORE_BITBAKE_DIR")]
    bitbake: Option<PathBuf>,
    /// Run BitBake as this user (BitBake refuses to run as root)
    #[arg(long, value_name = "USER", env = "RSTORE_BENCH_BITBAKE_USER")]
    bitbake_user: Option<String>,
    /// BitBake build directory, kept between runs; the BitBake user must be able to
    /// reach it [default: <work-dir>/bitbake]
    #[arg(long, value_name = "DIR")]
    bitbake_build_dir: Option<PathBuf>,
    /// Repetitions of each measurement (the median is reported)
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Wall times of one tool: no-op builds and rebuilds after the hello edit.
struct Figures {
    noop: Vec<f64>,
    rebuild: Vec<f64>,
    /// BitBake only: no-op builds with its server kept running between calls.
    noop_resident: Vec<f64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let rstore = rstore_binary()?;
    let mirror = downloads_mirror(args.mirror.as_deref())?;
    let checkout = checkout_layers()?;
    let work = args.work_dir.clone().unwrap_or_else(|| default_work_dir("bench-build"));
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let work = work.canonicalize().with_context(|| format!("reading {}", work.display()))?;
    let logs = work.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    println!(
        "build benchmark: {TARGET} from the bundled layers, {} run(s) each, median; work dir {}",
        args.runs,
        work.display()
    );

    let ours = rstore_figures(&rstore, &checkout, &mirror, &work, &logs, args.runs)?;

    let peer = match (&args.bitbake, &args.bitbake_user) {
        (Some(bitbake), user) => {
            let build = args.bitbake_build_dir.clone().unwrap_or_else(|| work.join("bitbake"));
            match bitbake_figures(bitbake, user.as_deref(), &build, &checkout, &mirror, &logs, args.runs) {
                Ok(f) => Some(f),
                Err(e) => {
                    println!("BitBake not measured: {e:#}");
                    None
                }
            }
        }
        (None, _) => {
            println!(
                "BitBake not measured: give --bitbake DIR (a BitBake checkout) and, when running as root, \
                 --bitbake-user USER (or set RSTORE_BITBAKE_DIR and RSTORE_BENCH_BITBAKE_USER); \
                 --bitbake-build-dir DIR must be a place that user can write."
            );
            None
        }
    };

    println!();
    let noop = median(ours.noop.clone());
    Row {
        what: "no-op build, rstore-image-minimal",
        ours: noop,
        peer_name: "bitbake (no-op)",
        peer: peer.as_ref().map(|p| median(p.noop.clone())),
        unit: "s",
        higher_is_better: false,
    }
    .print();
    Row {
        what: "rebuild after editing hello",
        ours: median(ours.rebuild.clone()),
        peer_name: "bitbake (hello edited)",
        peer: peer.as_ref().map(|p| median(p.rebuild.clone())),
        unit: "s",
        higher_is_better: false,
    }
    .print();
    if let Some(p) = peer.as_ref().filter(|p| !p.noop_resident.is_empty()) {
        Row {
            what: "no-op build, bitbake server kept up",
            ours: noop,
            peer_name: "bitbake (server up)",
            peer: Some(median(p.noop_resident.clone())),
            unit: "s",
            higher_is_better: false,
        }
        .print();
    }
    let mut spread = format!("spread (min-max): rstore no-op {}, rebuild {}", range(&ours.noop), range(&ours.rebuild));
    if let Some(p) = &peer {
        spread.push_str(&format!(
            "; bitbake no-op {}, rebuild {}, no-op with its server up {}",
            range(&p.noop),
            range(&p.rebuild),
            range(&p.noop_resident)
        ));
    }
    println!("{spread}");
    println!(
        "target: no-op rstore build of {TARGET} <= {NOOP_TARGET_SECONDS} s: {} (median {noop:.3} s)",
        if noop <= NOOP_TARGET_SECONDS { "met" } else { "NOT met" }
    );
    Ok(())
}

/// rstore's side: refresh the layer copy, make the build directory, warm up, then time
/// no-op builds and rebuilds after editing hello.
fn rstore_figures(
    rstore: &Path,
    checkout: &Path,
    mirror: &Path,
    work: &Path,
    logs: &Path,
    runs: usize,
) -> anyhow::Result<Figures> {
    let layers = work.join("layers");
    let changed = sync_tree(checkout, &layers)?;
    if changed > 0 {
        println!("rstore: refreshed {changed} entries of the layer copy {}", layers.display());
    }
    let build = work.join("build");
    init_build_dir(rstore, &layers, &build, mirror)?;
    // The build's own store (RSTORE_STORE_DIR defaults to build/store), whatever the
    // caller's environment says, so the work directory is self-contained.
    let command = |json: bool| {
        let mut c = Command::new(rstore);
        c.env_remove("RSTORE_STORE").arg("-q").arg("-C").arg(&build).args(["build", TARGET]);
        if json {
            c.arg("--json");
        }
        c
    };

    println!(
        "rstore: warm-up build (not timed; the first one in a new work dir builds everything from source, \
         which takes minutes; output in {})",
        logs.display()
    );
    let warm = run_json(&mut command(true), logs, "rstore-warm-up")?;
    println!("rstore: warm-up: {}", warm.describe());
    let check = run_json(&mut command(true), logs, "rstore-no-op")?;
    if check.run > 0 || check.cutoff > 0 {
        println!(
            "warning: a no-op rstore build right after a build ran tasks: {}. Reproduce: \
             rstore -C {} build {TARGET} --json, twice; the second run's summary should say \"run\":0",
            check.describe(),
            build.display()
        );
    }
    let mut noop = Vec::with_capacity(runs);
    for _ in 0..runs {
        let log = logs.join("rstore-no-op.log");
        noop.push(run_logged(&mut command(false), &log, &log)?);
    }

    let recipe = layers.join(HELLO);
    let restore = Restore::new(&recipe)?;
    restore.edit(0)?;
    let edited = run_json(&mut command(true), logs, "rstore-hello-edit")?;
    println!("rstore: build after the hello edit (--json summary): {}", edited.describe());
    if !edited.ran.iter().any(|t| t.contains("hello") && t.contains("do_install")) {
        println!(
            "warning: editing do_install of {HELLO} did not rerun hello's do_install (tasks run: {:?}); \
             see {}",
            edited.ran,
            logs.join("rstore-hello-edit.json").display()
        );
    }
    let mut rebuild = Vec::with_capacity(runs);
    for n in 1..=runs {
        restore.edit(n)?;
        let log = logs.join("rstore-hello-edit.log");
        rebuild.push(run_logged(&mut command(false), &log, &log)?);
    }
    restore.put_back()?;
    Ok(Figures { noop, rebuild, noop_resident: Vec::new() })
}

/// The same work with BitBake, run as `user` in its own build directory and layer copy.
fn bitbake_figures(
    bitbake: &Path,
    user: Option<&str>,
    build: &Path,
    checkout: &Path,
    mirror: &Path,
    logs: &Path,
    runs: usize,
) -> anyhow::Result<Figures> {
    let user = crate::bitbake::user(user)?;
    let bitbake =
        bitbake.canonicalize().with_context(|| format!("reading the BitBake checkout {}", bitbake.display()))?;
    if !bitbake.join("bin/bitbake").is_file() {
        bail!("{} is not a BitBake checkout (no bin/bitbake)", bitbake.display());
    }
    fs::create_dir_all(build).with_context(|| format!("creating {}", build.display()))?;
    let build = build.canonicalize().with_context(|| format!("reading {}", build.display()))?;
    let layers = build.join("layers");
    let changed = sync_tree(checkout, &layers)?;
    if changed > 0 {
        println!("BitBake: refreshed {changed} entries of the layer copy {}", layers.display());
    }
    let templates = layers.join("meta-core/conf/templates/default");
    let read = |name: &str| {
        let path = templates.join(name);
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let layers_str = layers.to_str().context("the BitBake layer copy's path is not UTF-8")?;
    let bblayers = read("bblayers.conf.sample")?.replace("##LAYERSDIR##", layers_str);
    let mirror_url = format!("file://{}", mirror.display());
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).to_string();
    let local = with_setting(&read("local.conf.sample")?, "SOURCE_MIRROR_URL", &mirror_url);
    let local = with_setting(&local, "BB_NUMBER_THREADS", &threads);
    let conf = build.join("conf");
    fs::create_dir_all(&conf).with_context(|| format!("creating {}", conf.display()))?;
    write_if_changed(&conf.join("bblayers.conf"), &bblayers)?;
    write_if_changed(&conf.join("local.conf"), &local)?;
    if let Some(user) = user {
        chown(user, &[&layers, &conf], true)?;
        chown(user, &[&build], false)?;
        if !user_passes(user, &[("-w", &build), ("-r", &layers.join("meta-core/conf/layer.conf"))])? {
            bail!(
                "{user} cannot write {} or read its layer copy (a parent directory is closed to that user): \
                 pass --bitbake-build-dir DIR in a place {user} can reach, e.g. under its home directory",
                build.display()
            );
        }
    }
    // By default (no BB_SERVER_TIMEOUT) BitBake's server exits when its client does,
    // so every call starts a server and loads the parse cache; with `resident` the
    // server stays up for a minute after each call and the next call reuses it.
    let bitbake_with = |args: &str, resident: bool| {
        let script = format!(
            "cd {} && export PATH={}:\"$PATH\" LANG=en_US.UTF-8{} && exec bitbake {args}",
            sh_quote(&build.display().to_string()),
            sh_quote(&bitbake.join("bin").display().to_string()),
            if resident { " BB_SERVER_TIMEOUT=60" } else { "" }
        );
        let mut c = crate::bitbake::shell(user, &script);
        crate::bitbake::keep_bytecode(&mut c, &build.join("pycache"));
        c
    };
    let bitbake_cmd = || bitbake_with(TARGET, false);

    let warm_log = logs.join("bitbake-warm-up.log");
    println!(
        "BitBake: warm-up build in {} (not timed; the first BitBake build in a new directory takes many \
         minutes; output in {})",
        build.display(),
        warm_log.display()
    );
    run_logged(&mut bitbake_cmd(), &warm_log, &warm_log)?;
    println!("BitBake: warm-up: {}", bitbake_tasks(&warm_log));
    // One untimed no-op first: the call right after a build may still re-parse.
    let log = logs.join("bitbake-no-op.log");
    run_logged(&mut bitbake_cmd(), &log, &log)?;
    let mut noop = Vec::with_capacity(runs);
    for _ in 0..runs {
        noop.push(run_logged(&mut bitbake_cmd(), &log, &log)?);
    }
    println!("BitBake: last no-op: {}", bitbake_tasks(&log));
    let log = logs.join("bitbake-no-op-resident.log");
    run_logged(&mut bitbake_with(TARGET, true), &log, &log)?;
    let timed: anyhow::Result<Vec<f64>> =
        (0..runs).map(|_| run_logged(&mut bitbake_with(TARGET, true), &log, &log)).collect();
    // Stop the server whatever happened (`bitbake -m` kills it).
    let stop_log = logs.join("bitbake-stop-server.log");
    let stopped = run_logged(&mut bitbake_with("-m", true), &stop_log, &stop_log);
    let noop_resident = timed?;
    stopped?;

    let restore = Restore::new(&layers.join(HELLO))?;
    let log = logs.join("bitbake-hello-edit.log");
    let mut rebuild = Vec::with_capacity(runs);
    for n in 1..=runs {
        restore.edit(n)?;
        rebuild.push(run_logged(&mut bitbake_cmd(), &log, &log)?);
    }
    println!("BitBake: last build after the hello edit: {}", bitbake_tasks(&log));
    restore.put_back()?;
    Ok(Figures { noop, rebuild, noop_resident })
}

/// The summary (last line) of a `rstore build --json` run, and the tasks that ran.
pub(crate) struct BuildSummary {
    pub run: u64,
    pub cutoff: u64,
    /// Tasks found in the local store.
    pub local: u64,
    pub ran: Vec<String>,
    /// Wall time and peak memory of the command.
    pub measured: Measured,
}

impl BuildSummary {
    pub(crate) fn describe(&self) -> String {
        let mut text = format!(
            "{} task(s) run, {} cut off by hash equivalence, {} from the store",
            self.run, self.cutoff, self.local
        );
        if !self.ran.is_empty() && self.ran.len() <= 5 {
            text.push_str(&format!(" (ran: {})", self.ran.join(", ")));
        }
        text
    }
}

/// Run `rstore … --json` (timed, peak memory sampled): events to `<name>.json`, logs to
/// `<name>.log`.
pub(crate) fn run_json(cmd: &mut Command, logs: &Path, name: &str) -> anyhow::Result<BuildSummary> {
    let events = logs.join(format!("{name}.json"));
    let measured = match run_logged_measured(cmd, &events, &logs.join(format!("{name}.log"))) {
        Ok(m) => m,
        Err(e) => {
            // With --json the failures are in the summary event, not on stderr.
            let text = fs::read_to_string(&events).unwrap_or_default();
            let failures: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|event| event["event"] == "summary")
                .flat_map(|event| event["failures"].as_array().cloned().unwrap_or_default())
                .filter_map(|f| f["message"].as_str().map(str::to_owned))
                .collect();
            if failures.is_empty() {
                return Err(e);
            }
            bail!("{e:#}\nfailed tasks (events in {}):\n  {}", events.display(), failures.join("\n  "));
        }
    };
    let text = fs::read_to_string(&events).with_context(|| format!("reading {}", events.display()))?;
    let mut ran = Vec::new();
    let mut summary = None;
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        match event["event"].as_str() {
            Some("finished") if event["resolution"] == "ran" => {
                ran.push(event["task"].as_str().unwrap_or_default().to_owned());
            }
            Some("summary") => summary = Some(event),
            _ => {}
        }
    }
    let Some(summary) = summary else { bail!("no summary event in {}", events.display()) };
    let count = |key: &str| summary[key].as_u64().unwrap_or_default();
    Ok(BuildSummary { run: count("run"), cutoff: count("cutoff"), local: count("local"), ran, measured })
}

/// Run and time one command, its stdout and stderr going to files (the same file when
/// both paths are equal); on failure the error shows the end of the output.
pub(crate) fn run_logged(cmd: &mut Command, stdout: &Path, stderr: &Path) -> anyhow::Result<f64> {
    run_logged_measured(cmd, stdout, stderr).map(|m| m.seconds)
}

/// [`run_logged`], with the peak memory of the command's processes too.
pub(crate) fn run_logged_measured(cmd: &mut Command, stdout: &Path, stderr: &Path) -> anyhow::Result<Measured> {
    let out = File::create(stdout).with_context(|| format!("creating {}", stdout.display()))?;
    let err = if stdout == stderr {
        out.try_clone().context("duplicating a file handle")?
    } else {
        File::create(stderr).with_context(|| format!("creating {}", stderr.display()))?
    };
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    match measure(cmd) {
        Ok(m) => Ok(m),
        Err(e) => {
            let text = fs::read_to_string(stderr).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                bail!("{e:#} (no output in {})", stderr.display());
            }
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            bail!("{e:#}\nlast lines of {}:\n{tail}", stderr.display())
        }
    }
}

/// BitBake's "Tasks Summary" line from a log, or a note that it has none.
pub(crate) fn bitbake_tasks(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let parsed = text.rsplit_once("Tasks Summary: Attempted ").and_then(|(_, rest)| {
        let words: Vec<&str> = rest.split_whitespace().take(5).collect();
        let attempted: u64 = words.first()?.parse().ok()?;
        let current: u64 = words.get(4)?.parse().ok()?;
        Some((attempted, current))
    });
    match parsed {
        Some((attempted, current)) => {
            format!("{} task(s) run, {current} of {attempted} did not need to run", attempted - current.min(attempted))
        }
        None => format!("no task summary in {}", log.display()),
    }
}

/// The recipe of `hello` in a layer copy: edited with a comment in `do_install`, and
/// put back as it was when dropped.
struct Restore {
    path: PathBuf,
    original: String,
}

impl Restore {
    fn new(path: &Path) -> anyhow::Result<Restore> {
        let original = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Restore { path: path.to_owned(), original })
    }

    /// Add a comment line inside `do_install`, different on every call (also across
    /// runs of the benchmark, so the task's hash is always new).
    fn edit(&self, n: usize) -> anyhow::Result<()> {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        let comment = format!("\t# bench edit {n} ({stamp})");
        let mut text = String::with_capacity(self.original.len() + comment.len() + 1);
        let mut added = false;
        for line in self.original.lines() {
            text.push_str(line);
            text.push('\n');
            if !added && line.trim_end() == "do_install() {" {
                text.push_str(&comment);
                text.push('\n');
                added = true;
            }
        }
        if !added {
            bail!("{} has no `do_install() {{` line to put a comment under", self.path.display());
        }
        fs::write(&self.path, text).with_context(|| format!("writing {}", self.path.display()))
    }

    fn put_back(&self) -> anyhow::Result<()> {
        fs::write(&self.path, &self.original).with_context(|| format!("restoring {}", self.path.display()))
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if fs::read_to_string(&self.path).ok().as_deref() != Some(self.original.as_str()) {
            let _ = fs::write(&self.path, &self.original);
        }
    }
}

/// Make `dest` hold what `src` holds: files whose content or mode differ are rewritten
/// in place, missing ones created, extra ones removed. Unchanged files are left alone
/// (same inode, owner and modification time), so parse caches stay valid. Returns the
/// number of entries changed.
pub(crate) fn sync_tree(src: &Path, dest: &Path) -> anyhow::Result<usize> {
    let mut changed = 0;
    if !fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        remove_any(dest)?;
        fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
        changed += 1;
    }
    let mut wanted = BTreeSet::new();
    for entry in fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry.with_context(|| format!("reading {}", src.display()))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        wanted.insert(entry.file_name());
        let meta = fs::symlink_metadata(&from).with_context(|| format!("reading {}", from.display()))?;
        if meta.is_dir() {
            changed += sync_tree(&from, &to)?;
        } else if meta.is_symlink() {
            let target = fs::read_link(&from).with_context(|| format!("reading {}", from.display()))?;
            if fs::read_link(&to).ok().as_ref() != Some(&target) {
                remove_any(&to)?;
                std::os::unix::fs::symlink(&target, &to).with_context(|| format!("creating {}", to.display()))?;
                changed += 1;
            }
        } else if meta.is_file() {
            let content = fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            let existing = fs::symlink_metadata(&to).ok().filter(|m| m.is_file());
            if existing.is_none() {
                remove_any(&to)?;
            }
            if existing.is_none() || fs::read(&to).ok().as_deref() != Some(content.as_slice()) {
                fs::write(&to, &content).with_context(|| format!("writing {}", to.display()))?;
                changed += 1;
            }
            let mode = meta.permissions().mode() & 0o7777;
            if existing.is_none_or(|m| m.permissions().mode() & 0o7777 != mode) {
                fs::set_permissions(&to, fs::Permissions::from_mode(mode))
                    .with_context(|| format!("setting the mode of {}", to.display()))?;
            }
        }
    }
    for entry in fs::read_dir(dest).with_context(|| format!("reading {}", dest.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dest.display()))?;
        if !wanted.contains(&entry.file_name()) {
            remove_any(&entry.path())?;
            changed += 1;
        }
    }
    Ok(changed)
}

pub(crate) fn remove_any(path: &Path) -> anyhow::Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.with_context(|| format!("removing {}", path.display()))
}

/// `rstore init --layers LAYERS BUILD` (it keeps existing files), then point
/// `SOURCE_MIRROR_URL` at the mirror.
fn init_build_dir(rstore: &Path, layers: &Path, build: &Path, mirror: &Path) -> anyhow::Result<()> {
    let out = Command::new(rstore)
        .arg("init")
        .arg("--layers")
        .arg(layers)
        .arg(build)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} init", rstore.display()))?;
    if !out.status.success() {
        bail!("rstore init {} failed: {}", build.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let bblayers = build.join("conf/bblayers.conf");
    let text = fs::read_to_string(&bblayers).with_context(|| format!("reading {}", bblayers.display()))?;
    if !text.contains(&layers.join("meta-core").display().to_string()) {
        bail!(
            "{} does not name the layer copy {}: remove {} and run the benchmark again",
            bblayers.display(),
            layers.display(),
            build.join("conf").display()
        );
    }
    let local = build.join("conf/local.conf");
    let text = fs::read_to_string(&local).with_context(|| format!("reading {}", local.display()))?;
    write_if_changed(&local, &with_setting(&text, "SOURCE_MIRROR_URL", &format!("file://{}", mirror.display())))
}

/// `conf` with every plain assignment of `var` removed and `VAR = "value"` appended.
fn with_setting(conf: &str, var: &str, value: &str) -> String {
    let mut out = String::with_capacity(conf.len() + var.len() + value.len() + 8);
    for line in conf.lines() {
        let assigns = line
            .trim_start()
            .strip_prefix(var)
            .is_some_and(|rest| rest.trim_start().starts_with(['=', '?', ':', '+', '.']));
        if !assigns {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!("{var} = \"{value}\"\n"));
    out
}

pub(crate) fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<()> {
    if fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub(crate) fn downloads_mirror(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let Some(mirror) = given else {
        bail!(
            "no downloads mirror: fill one with `scripts/fill-downloads-mirror DIR`, then pass --mirror DIR \
             (or set RSTORE_DOWNLOADS_MIRROR=DIR)"
        )
    };
    mirror.canonicalize().with_context(|| {
        format!(
            "reading the downloads mirror {}: fill it with `scripts/fill-downloads-mirror {}`",
            mirror.display(),
            mirror.display()
        )
    })
}

/// The layers/ directory of the checkout this benchmark was built from.
fn checkout_layers() -> anyhow::Result<PathBuf> {
    let layers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../layers");
    let layers = layers.canonicalize().with_context(|| format!("reading {}", layers.display()))?;
    if !layers.join("meta-core/conf/layer.conf").is_file() || !layers.join(HELLO).is_file() {
        bail!("{} does not hold meta-core and {HELLO}", layers.display());
    }
    Ok(layers)
}

/// `$CARGO_TARGET_DIR/NAME`, else `target/NAME` of the checkout: a bench's work directory.
pub(crate) fn default_work_dir(name: &str) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target).join(name),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target").join(name),
    }
}

fn range(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() { "-".to_owned() } else { format!("{min:.3}-{max:.3} s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_setting_replaces_assignments_and_keeps_the_rest() {
        let conf = "# SOURCE_MIRROR_URL = \"x\"\nSOURCE_MIRROR_URL ?= \"a\"\nSOURCE_MIRROR_URL_X = \"b\"\nA = \"1\"\n";
        assert_eq!(
            with_setting(conf, "SOURCE_MIRROR_URL", "file:///m"),
            "# SOURCE_MIRROR_URL = \"x\"\nSOURCE_MIRROR_URL_X = \"b\"\nA = \"1\"\nSOURCE_MIRROR_URL = \"file:///m\"\n"
        );
    }

    #[test]
    fn sync_tree_mirrors_content_and_leaves_unchanged_files_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::write(src.join("a/b/same"), "same").unwrap();
        fs::write(src.join("a/changed"), "new").unwrap();
        std::os::unix::fs::symlink("b/same", src.join("a/link")).unwrap();
        assert_eq!(sync_tree(&src, &dest).unwrap(), 6);
        fs::write(dest.join("a/changed"), "old").unwrap();
        fs::write(dest.join("a/extra"), "x").unwrap();
        let before = fs::metadata(dest.join("a/b/same")).unwrap().modified().unwrap();
        assert_eq!(sync_tree(&src, &dest).unwrap(), 2);
        assert_eq!(fs::read_to_string(dest.join("a/changed")).unwrap(), "new");
        assert!(!dest.join("a/extra").exists());
        assert_eq!(fs::read_link(dest.join("a/link")).unwrap(), Path::new("b/same"));
        assert_eq!(fs::metadata(dest.join("a/b/same")).unwrap().modified().unwrap(), before);
        assert_eq!(sync_tree(&src, &dest).unwrap(), 0);
    }

    #[test]
    fn hello_edit_goes_inside_do_install_and_is_put_back() {
        let tmp = tempfile::tempdir().unwrap();
        let recipe = tmp.path().join("hello.bb");
        let original = "do_compile() {\n\tcc\n}\n\ndo_install() {\n\tinstall -d ${D}\n}\n";
        fs::write(&recipe, original).unwrap();
        {
            let restore = Restore::new(&recipe).unwrap();
            restore.edit(1).unwrap();
            let edited = fs::read_to_string(&recipe).unwrap();
            assert!(edited.contains("do_install() {\n\t# bench edit 1 ("), "{edited}");
            let first = edited.clone();
            restore.edit(2).unwrap();
            assert_ne!(fs::read_to_string(&recipe).unwrap(), first);
        }
        assert_eq!(fs::read_to_string(&recipe).unwrap(), original);
    }
}
