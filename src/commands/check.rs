//! `rstore build --check`: run the targets' tasks again under varied conditions, compare
//! their outputs with the stored ones, and name what makes a task differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rstore_evaluator::check::{self, Checked, ToCheck};
use rstore_evaluator::realise::{self, NodeHashes, Planner, Resolution};
use rstore_evaluator::variation::{Availability, Condition};
use rstore_store::{Store, Taskhash, TreeDigest, Unihash};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Files compared with diffoscope per differing task at most.
const DIFFOSCOPE_FILES: usize = 10;

/// What a check found, for the build's summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckSummary {
    pub tasks: usize,
    pub reproducible: usize,
    pub unreproducible: usize,
    /// Tasks of the targets not checked (they run nothing, or fetch).
    pub not_checked: usize,
}

/// A check's verdict kept for `rstore report reproducibility`, one file per output
/// (`${TMPDIR}/rstore-check/records/UNIHASH.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub task: String,
    pub taskhash: Taskhash,
    pub unihash: Unihash,
    pub reproducible: bool,
    pub causes: Vec<Condition>,
    #[serde(default)]
    pub note: Option<String>,
    pub stored: TreeDigest,
    #[serde(default)]
    pub rebuilt: Option<TreeDigest>,
    #[serde(default)]
    pub failure: Option<String>,
    pub differences: Vec<rstore_evaluator::treediff::Difference>,
    #[serde(default)]
    pub diffoscope: Option<PathBuf>,
    /// Conditions this machine could not vary when the check ran, and why.
    #[serde(default)]
    pub not_varied: BTreeMap<Condition, String>,
    /// Why the task was not checked (it runs nothing, or fetches).
    #[serde(default)]
    pub skipped: Option<String>,
}

fn write_record(dir: &Path, record: &Record) {
    let path = dir.join(format!("{}.json", record.unihash.to_hex()));
    let written =
        serde_json::to_vec_pretty(record).map_err(std::io::Error::other).and_then(|bytes| std::fs::write(&path, bytes));
    if let Err(e) = written {
        tracing::warn!("writing {}: {e}", path.display());
    }
}

/// Where check records and kept trees go.
pub fn check_dir(tmpdir: &Path) -> PathBuf {
    tmpdir.join("rstore-check")
}

/// The record of a check of the output `unihash`, if one was made.
pub fn read_record(tmpdir: &Path, unihash: &Unihash) -> Option<Record> {
    let path = check_dir(tmpdir).join("records").join(format!("{}.json", unihash.to_hex()));
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Everything a check needs from the build that preceded it.
pub struct CheckContext<'a> {
    pub store: &'a Store,
    pub build: &'a realise::BuildGraph,
    pub summary: &'a realise::Summary,
    pub planner: &'a mut dyn Planner,
    pub executor: &'a dyn realise::Executor,
    /// The nodes to check (in the store after the build).
    pub nodes: Vec<usize>,
    pub tmpdir: &'a Path,
    pub jobs: usize,
    pub cpus: u32,
    pub keep_failed: bool,
    pub json: bool,
    pub quiet: bool,
}

/// The nodes `--check` looks at: the target tasks themselves when every target names
/// its task (`zlib:do_compile`, or `-c`), else every task the targets need.
pub fn nodes_to_check(build: &realise::BuildGraph, targets: &[usize], only_targets: bool) -> Vec<usize> {
    if only_targets {
        return targets.to_vec();
    }
    let below = build.closure(targets.iter().copied());
    (0..build.len()).filter(|&i| below[i]).collect()
}

/// Checks the nodes; prints one line (or JSON event) per task as it finishes.
pub fn run(cx: CheckContext<'_>) -> anyhow::Result<CheckSummary> {
    let available = Availability::probe(cx.cpus);
    let not_varied: BTreeMap<Condition, String> =
        Condition::VARIED.iter().filter_map(|c| available.can_vary(*c).err().map(|why| (*c, why))).collect();
    let taskhash: Vec<_> = cx.summary.tasks.iter().map(|t| t.taskhash).collect();
    let unihash: Vec<_> = cx.summary.tasks.iter().map(|t| t.unihash).collect();
    let mut summary = CheckSummary::default();
    let mut tasks = Vec::new();
    let mut skipped = Vec::new();
    for &i in &cx.nodes {
        let t = &cx.summary.tasks[i];
        // In the store: built now or before (also when the targets' own outputs made
        // it unneeded in this build).
        let stored = match (t.resolution, t.root) {
            (Resolution::Failed | Resolution::Skipped, _) | (_, None) => continue,
            (_, Some(r)) => r,
        };
        let inputs: BTreeMap<usize, TreeDigest> =
            cx.build.deps_unordered(i).filter_map(|d| cx.summary.tasks[d].root.map(|r| (d, r))).collect();
        let hashes = NodeHashes { taskhash: &taskhash, unihash: &unihash };
        let prepared = cx
            .planner
            .prepare(i, &inputs, &hashes)
            .map_err(|e| anyhow::anyhow!("preparing {} for the check: {e}", cx.build.node(i).id))?;
        if let Some(why) = check::not_checkable(&prepared) {
            summary.not_checked += 1;
            if let (Some(th), Some(uh)) = (taskhash[i], unihash[i]) {
                skipped.push(Record {
                    task: prepared.id.to_string(),
                    taskhash: th,
                    unihash: uh,
                    reproducible: true,
                    causes: Vec::new(),
                    note: None,
                    stored,
                    rebuilt: None,
                    failure: None,
                    differences: Vec::new(),
                    diffoscope: None,
                    not_varied: BTreeMap::new(),
                    skipped: Some(why.to_owned()),
                });
            }
            continue;
        }
        tasks.push(ToCheck { node: i, prepared, stored, log: cx.planner.log_path(i) });
    }
    // Longest first (by the duration the store recorded): two workers finish together
    // instead of one running the longest compile alone at the end.
    let recorded_ms =
        |t: &ToCheck| unihash[t.node].and_then(|u| cx.store.entry(&u).ok().flatten()).map_or(0, |e| e.duration_ms);
    tasks.sort_by_cached_key(|t| std::cmp::Reverse(recorded_ms(t)));
    if !cx.json && !cx.quiet {
        let varied: Vec<String> = Condition::VARIED
            .iter()
            .filter(|c| !not_varied.contains_key(c))
            .map(|c| describe_variation(*c, &available))
            .collect();
        eprintln!("checking {} tasks with {}", tasks.len(), varied.join(", "));
        for (c, why) in &not_varied {
            eprintln!("    not varied: {c}: {why}");
        }
        let pinned: Vec<&str> = Condition::PINNED.iter().map(|(c, _)| c.name()).collect();
        eprintln!("    pinned by the sandbox on every machine (never causes): {}", pinned.join(", "));
    }
    let records = check_dir(cx.tmpdir).join("records");
    std::fs::create_dir_all(&records).with_context(|| format!("creating {}", records.display()))?;
    for record in &skipped {
        write_record(&records, record);
    }
    let print_lock = std::sync::Mutex::new(());
    let done = |c: &Checked| {
        let _held = print_lock.lock();
        let diffoscope = (!c.reproducible)
            .then(|| {
                let rebuilt = c.rebuilt?;
                let report = check_dir(cx.tmpdir).join(&c.task).join("diffoscope.txt");
                check::diffoscope(cx.store, &c.stored, &rebuilt, &c.differences, DIFFOSCOPE_FILES, &report)
            })
            .flatten();
        let diffoscope = match diffoscope {
            Some(Ok(path)) => Some(path),
            Some(Err(e)) => {
                tracing::warn!("{}: {e}", c.task);
                None
            }
            None => None,
        };
        let kept = if cx.keep_failed && !c.reproducible { keep_trees(cx.store, cx.tmpdir, c) } else { None };
        if let (Some(th), Some(uh)) = (taskhash[c.node], unihash[c.node]) {
            let record = Record {
                task: c.task.clone(),
                taskhash: th,
                unihash: uh,
                reproducible: c.reproducible,
                causes: c.causes.clone(),
                note: c.note.clone(),
                stored: c.stored,
                rebuilt: c.rebuilt,
                failure: c.failure.clone(),
                differences: c.differences.clone(),
                diffoscope: diffoscope.clone(),
                not_varied: not_varied.clone(),
                skipped: None,
            };
            write_record(&records, &record);
        }
        if cx.json {
            println!(
                "{}",
                json!({"event": "check", "task": c.task, "reproducible": c.reproducible, "causes": c.causes,
                       "note": c.note, "failure": c.failure, "differences": c.differences,
                       "diffoscope": diffoscope, "kept": kept, "runs": c.runs, "seconds": c.seconds})
            );
        } else if !cx.quiet || !c.reproducible {
            print_human(c, diffoscope.as_deref(), kept.as_ref());
        }
    };
    let checked = check::check_all(cx.executor, cx.store, &tasks, &available, cx.jobs, &done)
        .map_err(|_| anyhow::anyhow!("the check was cancelled"))?;
    summary.tasks = checked.len();
    summary.reproducible = checked.iter().filter(|c| c.reproducible).count();
    summary.unreproducible = summary.tasks - summary.reproducible;
    Ok(summary)
}

fn describe_variation(c: Condition, available: &Availability) -> String {
    match c {
        Condition::Time => "time (clock 398 days ahead)".into(),
        Condition::Randomness => "randomness (fresh)".into(),
        Condition::CpuCount => match available.other_cpu_count() {
            Some(n) => format!("cpu-count ({n} instead of {})", available.cpus),
            None => "cpu-count".into(),
        },
        Condition::FileOrder => "file-order (directories listed in reverse)".into(),
        Condition::Kernel => "kernel (uname says 2.6)".into(),
        other => other.name().into(),
    }
}

/// Both trees of a differing task under `${TMPDIR}/rstore-check/TASK/{stored,rebuilt}`.
fn keep_trees(store: &Store, tmpdir: &Path, c: &Checked) -> Option<(PathBuf, PathBuf)> {
    let dir = check_dir(tmpdir).join(&c.task);
    let (stored, rebuilt) = (dir.join("stored"), dir.join("rebuilt"));
    for d in [&stored, &rebuilt] {
        if d.exists() {
            let _ = rstore_store::remove_tree_forcibly(d);
        }
    }
    let keep = |root: &TreeDigest, dest: &Path| {
        store.materialise(root, dest, rstore_store::Access::Writable, &rstore_store::NoReporter).map(|_| ())
    };
    let result = keep(&c.stored, &stored).and_then(|()| match &c.rebuilt {
        Some(r) => keep(r, &rebuilt),
        None => Ok(()),
    });
    match result {
        Ok(()) => Some((stored, rebuilt)),
        Err(e) => {
            tracing::warn!("{}: keeping both trees: {e}", c.task);
            None
        }
    }
}

fn print_human(c: &Checked, diffoscope: Option<&Path>, kept: Option<&(PathBuf, PathBuf)>) {
    if c.reproducible {
        eprintln!("reproducible {} ({} run, {:.1}s)", c.task, c.runs, c.seconds);
        return;
    }
    let causes: Vec<&str> = c.causes.iter().map(|c| c.name()).collect();
    println!("NOT REPRODUCIBLE {}: {} ({} runs, {:.1}s)", c.task, causes.join(", "), c.runs, c.seconds);
    if let Some(note) = &c.note {
        println!("    {note}");
    }
    if let Some(f) = &c.failure {
        println!("    the rebuild failed: {}", f.lines().next().unwrap_or_default());
    }
    for d in c.differences.iter().take(20) {
        let mut lines = d.summary.lines();
        println!("    {}: {}", d.path, lines.next().unwrap_or_default());
        for line in lines {
            println!("        {line}");
        }
    }
    if c.differences.len() > 20 {
        println!("    … and {} more paths", c.differences.len() - 20);
    }
    if let Some(p) = diffoscope {
        println!("    diffoscope: {}", p.display());
    }
    if let Some((a, b)) = kept {
        println!("    kept: {} and {}", a.display(), b.display());
    }
}
