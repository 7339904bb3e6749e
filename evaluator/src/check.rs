//! Reproducibility checks: run a task again with every varied condition changed, compare
//! its output tree with the stored one, and when they differ, find the condition(s)
//! that change it by running it with everything pinned, then with one condition at a
//! time varied.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rstore_store::{Store, TreeDigest};
use serde::Serialize;

use crate::execute::{Action, Prepared, TaskFailure};
use crate::graph::NodeId;
use crate::realise::Executor;
use crate::treediff::{self, Difference};
use crate::variation::{Availability, Condition, Variation};

/// Differences listed per task at most.
pub const MAX_DIFFERENCES: usize = 200;

/// A task to check: how to run it, and the output the store holds for it.
#[derive(Clone, Debug)]
pub struct ToCheck {
    pub node: NodeId,
    pub prepared: Prepared,
    pub stored: TreeDigest,
    /// The task's log path in a build; check runs write beside it.
    pub log: PathBuf,
}

/// Why a task is not checked.
pub fn not_checkable(p: &Prepared) -> Option<&'static str> {
    match p.action {
        Action::Noexec => Some("runs nothing (its output is its inputs, merged)"),
        _ if p.network => Some("fetches (its output is verified by checksums)"),
        _ => None,
    }
}

/// The verdict on one task.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    /// The node checked.
    #[serde(skip)]
    pub node: NodeId,
    pub task: String,
    pub reproducible: bool,
    /// Conditions that change the output (empty when reproducible).
    pub causes: Vec<Condition>,
    /// What the causes do not say (e.g. why `unknown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub stored: TreeDigest,
    /// The output of the run with every condition varied.
    pub rebuilt: Option<TreeDigest>,
    /// Why the run with every condition varied failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub differences: Vec<Difference>,
    /// Runs of the task this check took.
    pub runs: usize,
    pub seconds: f64,
}

/// A run's output, or why it failed.
type RunResult = Result<TreeDigest, String>;

/// The check was cancelled.
#[derive(Debug)]
pub struct Cancelled;

/// Checks one task: the run with everything varied; if its output differs from the
/// stored one, what differs and why.
pub fn check_task(
    executor: &dyn Executor,
    store: &Store,
    task: &ToCheck,
    available: &Availability,
) -> Result<Checked, Cancelled> {
    let started = Instant::now();
    let mut runs = 0;
    let mut run = |variation: Variation, label: &str| -> Result<RunResult, Cancelled> {
        runs += 1;
        let prepared = Prepared { variation, ..task.prepared.clone() };
        match executor.execute(&prepared, &log_for(&task.log, label)) {
            Ok(done) => Ok(Ok(done.root)),
            Err(TaskFailure::Cancelled { .. }) => Err(Cancelled),
            Err(e) => Ok(Err(e.to_string())),
        }
    };
    let rebuilt = run(available.everything(), "check")?;
    let id = task.prepared.id.to_string();
    let mut checked = Checked {
        node: task.node,
        task: id,
        reproducible: rebuilt.as_ref() == Ok(&task.stored),
        causes: Vec::new(),
        note: None,
        stored: task.stored,
        rebuilt: rebuilt.as_ref().ok().copied(),
        failure: rebuilt.as_ref().err().cloned(),
        differences: Vec::new(),
        runs: 0,
        seconds: 0.0,
    };
    if !checked.reproducible {
        if let Ok(root) = &rebuilt {
            checked.differences = treediff::differences(store, &task.stored, root, MAX_DIFFERENCES)
                .unwrap_or_else(|e| vec![Difference { path: String::new(), summary: format!("comparing: {e}") }]);
        }
        let (causes, note) = find_causes(&mut run, available)?;
        checked.causes = causes;
        checked.note = note;
    }
    checked.runs = runs;
    checked.seconds = started.elapsed().as_secs_f64();
    Ok(checked)
}

/// Runs the task with everything pinned, twice (if the two differ, nothing rstore
/// controls explains it), then with each varied condition alone changed.
fn find_causes(
    run: &mut dyn FnMut(Variation, &str) -> Result<RunResult, Cancelled>,
    available: &Availability,
) -> Result<(Vec<Condition>, Option<String>), Cancelled> {
    let pinned = run(available.pinned(), "pinned")?;
    let again = run(available.pinned(), "pinned-again")?;
    let not_varied: Vec<String> = Condition::VARIED
        .iter()
        .filter_map(|c| available.can_vary(*c).err().map(|why| format!("{c} ({why})")))
        .collect();
    let unvaried_note =
        if not_varied.is_empty() { String::new() } else { format!("; not varied here: {}", not_varied.join(", ")) };
    if pinned != again {
        return Ok((
            vec![Condition::Unknown],
            Some(format!(
                "the output differs between two runs with every condition pinned: something rstore does not \
                 control (file times, thread scheduling, a statically linked program's clock){unvaried_note}"
            )),
        ));
    }
    let mut causes = Vec::new();
    for condition in Condition::VARIED {
        if available.can_vary(condition).is_err() {
            continue;
        }
        if run(available.pinned_but(condition), condition.name())? != pinned {
            causes.push(condition);
        }
    }
    if causes.is_empty() {
        return Ok((
            vec![Condition::Unknown],
            Some(format!("no single condition changes the output; they act together{unvaried_note}")),
        ));
    }
    Ok((causes, None))
}

/// Where a check run of a task writes its log: beside the build's (`log.do_x.check`).
fn log_for(log: &Path, label: &str) -> PathBuf {
    let name = log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "log".into());
    log.with_file_name(format!("{name}.{label}"))
}

/// Checks `tasks`, `jobs` at a time; `done` is called as each one finishes. Stops
/// starting new checks once a check is cancelled.
pub fn check_all(
    executor: &dyn Executor,
    store: &Store,
    tasks: &[ToCheck],
    available: &Availability,
    jobs: usize,
    done: &(dyn Fn(&Checked) + Sync),
) -> Result<Vec<Checked>, Cancelled> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Checked>>> = Mutex::new(vec![None; tasks.len()]);
    let cancelled = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(tasks.len().max(1)) {
            scope.spawn(|| {
                while !cancelled.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(i) else { break };
                    match check_task(executor, store, task, available) {
                        Ok(checked) => {
                            done(&checked);
                            if let Ok(mut r) = results.lock() {
                                r[i] = Some(checked);
                            }
                        }
                        Err(Cancelled) => cancelled.store(true, Ordering::Relaxed),
                    }
                }
            });
        }
    });
    if cancelled.load(Ordering::Relaxed) {
        return Err(Cancelled);
    }
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect())
}

/// diffoscope's report on the files that differ between `stored` and `rebuilt` (at most
/// `files` of them), written to `report`; `None` when diffoscope is not installed.
/// diffoscope reads what tasks wrote, with dozens of format parsers: it runs in the
/// sandbox, the two trees mounted read-only at `/stored` and `/rebuilt`.
pub fn diffoscope(
    store: &Store,
    stored: &TreeDigest,
    rebuilt: &TreeDigest,
    differences: &[Difference],
    files: usize,
    report: &Path,
) -> Option<Result<PathBuf, String>> {
    crate::variation::find_program("diffoscope")?;
    Some((|| {
        let a = store.checkout(stored, &rstore_store::NoReporter).map_err(|e| e.to_string())?;
        let b = store.checkout(rebuilt, &rstore_store::NoReporter).map_err(|e| e.to_string())?;
        let pairs: Vec<&str> = differences
            .iter()
            .map(|d| d.path.as_str())
            .filter(|p| {
                a.join(p).symlink_metadata().is_ok_and(|m| m.is_file())
                    && b.join(p).symlink_metadata().is_ok_and(|m| m.is_file())
            })
            .take(files)
            .collect();
        if let Some(dir) = report.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        // One diffoscope per file pair, in one sandbox; the report is its standard output.
        let mut script = String::from("status=0\n");
        for path in &pairs {
            let quoted = format!("'{}'", path.replace('\'', "'\\''"));
            script.push_str(&format!(
                "diffoscope --no-progress --max-report-size 1000000 --text - /stored/{quoted} /rebuilt/{quoted} || \
                 [ $? -eq 1 ] || status=2\n"
            ));
        }
        script.push_str("exit $status\n");
        let mut request = rstore_sandbox::Request::new("/bin/sh", ["-c".to_owned(), script])
            .with_host_tools()
            .ro(a, "/stored")
            .ro(b, "/rebuilt");
        // Python's ctypes (diffoscope's libarchive binding) finds libraries through
        // the loader's cache.
        if Path::new("/etc/ld.so.cache").is_file() {
            request = request.ro("/etc/ld.so.cache", "/etc/ld.so.cache");
        }
        request.stdout = rstore_sandbox::Sink::File(report.to_owned());
        request.stderr = rstore_sandbox::Sink::Null;
        request.limits.time = Some(std::time::Duration::from_secs(600));
        request.limits.tmpfs_bytes = Some(1 << 30);
        let cancel = rstore_sandbox::CancelHandle::new().map_err(|e| e.to_string())?;
        let outcome = rstore_sandbox::run(&request, &cancel).map_err(|e| format!("running diffoscope: {e}"))?;
        if !outcome.success() {
            return Err(format!("diffoscope failed ({outcome})"));
        }
        Ok(report.to_owned())
    })())
}
