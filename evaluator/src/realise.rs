//! Realisation: make the outputs of the target tasks available, running as few tasks
//! as possible (BitBake's setscene and runqueue, Nix's realise).
//!
//! 1. **Hashes.** In dependency order, each task's `taskhash` is computed from its
//!    basehash, the host fingerprint and its dependencies' `unihash`es; its unihash is
//!    what the store's hash equivalence says for that taskhash, or the taskhash. A task
//!    is *available* when the store holds an entry for its unihash.
//! 2. **What is needed.** Working back from the targets: an available task needs
//!    nothing below it (an image whose packages are present never needs the compiler);
//!    a task that must run needs all its dependencies.
//! 3. **Execution.** Needed tasks run when their dependencies are done, most
//!    dependents first, on `jobs` workers (blocking sandbox runs on tokio's blocking
//!    pool; preparing a task — which reads metadata — stays on the calling thread). When a
//!    finished task's output matches an earlier build's (hash equivalence gives an older
//!    unihash), the hashes below are computed again and tasks that became available are
//!    *cut off* instead of run.
//!
//! A failing task fails its dependents; with `keep_going` independent tasks still run.
//! Cancelling kills every running sandbox; nothing partial enters the store (a task's
//! entry is written only after its output is committed).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use rstore_sandbox::CancelHandle;
use rstore_store::{Digest, Entry, Store};
use serde::Serialize;

use crate::derivation::TaskId;
use crate::execute::{self, Executed, Prepared, TaskFailure};

/// One task of the graph to realise.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: TaskId,
    /// The basehash of its derivation (hex).
    pub basehash: String,
    pub deps: Vec<usize>,
    /// Tasks further below whose outputs it also reads (a recipe sysroot reads every
    /// `do_populate_sysroot` below it). They must be available when it runs, but are
    /// not part of its taskhash: each is already covered through the chain of
    /// dependencies that reaches it (as in BitBake).
    pub reads: Vec<usize>,
}

impl Node {
    /// Everything that must be available before the task runs.
    fn inputs(&self) -> impl Iterator<Item = usize> + '_ {
        self.deps.iter().chain(self.reads.iter()).copied()
    }
}

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
    pub dry_run: bool,
    /// Tasks to run even when their output is available.
    pub force: BTreeSet<usize>,
    /// Fingerprint of the host tools exposed to tasks; part of every taskhash.
    pub host_fingerprint: String,
}

/// How a task ended up satisfied (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// Its output was already in the store.
    Available,
    /// It ran.
    Ran,
    /// An earlier task's output matched a previous build: this one's output was
    /// available after all (hash equivalence).
    CutOff,
    Failed,
    /// Not run because a dependency failed or the build stopped.
    Skipped,
    /// Not needed by the targets.
    NotNeeded,
}

/// Progress and results, for the caller to display.
pub trait Reporter {
    /// The plan: how many tasks are needed, and how many of those are available.
    fn planned(&self, _needed: usize, _available: usize) {}
    fn started(&self, _id: &TaskId, _running: usize) {}
    fn finished(&self, _id: &TaskId, _resolution: Resolution, _detail: &str) {}
    /// Called about once a second while tasks run (to refresh elapsed times).
    fn tick(&self) {}
}

/// Prepares tasks on the calling thread (it reads metadata, which is not `Send`).
pub trait Planner {
    /// Everything needed to run `node`; `outputs` holds the output root of every
    /// dependency of it and of every task it reads ([`Node::reads`]).
    fn prepare(&mut self, node: usize, outputs: &HashMap<usize, Digest>) -> Result<Prepared, String>;
    /// Where the task's log goes on the host.
    fn log_path(&self, node: usize) -> PathBuf;
}

/// One failed task.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub task: String,
    pub message: String,
    pub log: Option<String>,
}

/// What a realisation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub run: usize,
    pub available: usize,
    pub cutoff: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cancelled: bool,
    pub seconds: f64,
    pub failures: Vec<Failure>,
    /// Per task (in node order): resolution, taskhash, unihash and output root.
    #[serde(skip)]
    pub tasks: Vec<TaskResult>,
    /// What a dry run would do: task ids that would run.
    pub would_run: Vec<String>,
}

/// The outcome for one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub resolution: Resolution,
    pub taskhash: Option<String>,
    pub unihash: Option<String>,
    pub root: Option<String>,
}

/// Failures before anything could run.
#[derive(Debug, thiserror::Error)]
pub enum RealiseError {
    #[error("the task graph has a cycle through {0}")]
    Cycle(String),
    #[error("{0}")]
    Store(#[from] rstore_store::StoreError),
    #[error("starting the task runner: {0}")]
    Runtime(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

fn digest(hex: &str) -> Digest {
    Digest::from_str(hex).unwrap_or_else(|_| Digest::of_blob(hex.as_bytes()))
}

struct Hashes {
    taskhash: Vec<Option<Digest>>,
    unihash: Vec<Option<Digest>>,
    root: Vec<Option<Digest>>,
}

fn topo(nodes: &[Node]) -> Result<Vec<usize>, RealiseError> {
    let mut indeg: Vec<usize> = nodes.iter().map(|n| n.inputs().count()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for d in n.inputs() {
            dependents[d].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(j);
            }
        }
    }
    if order.len() != nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| indeg[i] > 0).map(|i| nodes[i].id.to_string()).unwrap_or_default();
        return Err(RealiseError::Cycle(stuck));
    }
    Ok(order)
}

/// Compute taskhash, unihash and availability for `which` nodes (in `order`).
fn hash_nodes(
    nodes: &[Node],
    order: &[usize],
    which: &[bool],
    store: &Store,
    fingerprint: &str,
    h: &mut Hashes,
) -> Result<(), RealiseError> {
    for &i in order {
        if !which[i] {
            continue;
        }
        let deps: Vec<String> = nodes[i].deps.iter().filter_map(|&d| h.unihash[d].map(|u| u.to_hex())).collect();
        let base = crate::derivation::taskhash(
            &format!("{}\n{fingerprint}", nodes[i].basehash),
            deps.iter().map(String::as_str),
        );
        let th = digest(&base);
        let uh = store.lookup(&th)?.unwrap_or(th);
        h.taskhash[i] = Some(th);
        h.unihash[i] = Some(uh);
        h.root[i] = store.entry(&uh)?.map(|e| e.root);
    }
    Ok(())
}

/// Taskhash, unihash and output root (when the store has it) of every node, without
/// running anything: what `rstore show` and dry runs report.
pub fn resolve_hashes(nodes: &[Node], store: &Store, fingerprint: &str) -> Result<Vec<TaskResult>, RealiseError> {
    let order = topo(nodes)?;
    let n = nodes.len();
    let mut h = Hashes { taskhash: vec![None; n], unihash: vec![None; n], root: vec![None; n] };
    hash_nodes(nodes, &order, &vec![true; n], store, fingerprint, &mut h)?;
    let resolution: Vec<Option<Resolution>> =
        (0..n).map(|i| Some(if h.root[i].is_some() { Resolution::Available } else { Resolution::NotNeeded })).collect();
    Ok(results(&h, &resolution, &vec![false; n]))
}

/// How many tasks (transitively) depend on each one: run those first.
fn weights(nodes: &[Node], order: &[usize]) -> Vec<u64> {
    let mut w = vec![1u64; nodes.len()];
    for &i in order.iter().rev() {
        let wi = w[i];
        for d in nodes[i].inputs() {
            w[d] = w[d].saturating_add(wi);
        }
    }
    w
}

/// The tasks that must run, given availability: back from the targets.
fn needed(nodes: &[Node], targets: &[usize], h: &Hashes, force: &BTreeSet<usize>, done: &[State]) -> Vec<bool> {
    let mut need = vec![false; nodes.len()];
    let mut stack: Vec<usize> = targets.to_vec();
    while let Some(i) = stack.pop() {
        if need[i] {
            continue;
        }
        need[i] = true;
        let satisfied = done[i] == State::Done || (h.root[i].is_some() && !force.contains(&i));
        if !satisfied {
            stack.extend(nodes[i].inputs());
        }
    }
    need
}

/// Realise `targets`.
#[allow(clippy::too_many_arguments)]
pub fn realise(
    nodes: &[Node],
    targets: &[usize],
    store: Arc<Store>,
    planner: &mut dyn Planner,
    scratch: PathBuf,
    rstore_binary: PathBuf,
    options: &Options,
    reporter: &dyn Reporter,
    cancel: &CancelHandle,
) -> Result<Summary, RealiseError> {
    let started = Instant::now();
    let order = topo(nodes)?;
    let n = nodes.len();
    let mut h = Hashes { taskhash: vec![None; n], unihash: vec![None; n], root: vec![None; n] };
    hash_nodes(nodes, &order, &vec![true; n], &store, &options.host_fingerprint, &mut h)?;
    let weight = weights(nodes, &order);
    let mut state = vec![State::Pending; n];
    let mut resolution: Vec<Option<Resolution>> = vec![None; n];
    let mut need = needed(nodes, targets, &h, &options.force, &state);
    // Tasks the plan needed at any point (availability found later shrinks `need`).
    let mut ever_needed = need.clone();
    let initially_available: Vec<bool> = (0..n).map(|i| h.root[i].is_some() && !options.force.contains(&i)).collect();
    let available = (0..n).filter(|&i| need[i] && initially_available[i]).count();
    reporter.planned(need.iter().filter(|x| **x).count(), available);
    let mut summary = Summary::default();

    if options.dry_run {
        for &i in &order {
            if need[i] && (h.root[i].is_none() || options.force.contains(&i)) {
                summary.would_run.push(nodes[i].id.to_string());
            }
        }
        summary.available = available;
        summary.seconds = started.elapsed().as_secs_f64();
        summary.tasks = results(&h, &resolution, &need);
        return Ok(summary);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(options.jobs.max(1))
        .enable_all()
        .build()
        .map_err(|e| RealiseError::Runtime(e.to_string()))?;
    let jobs = options.jobs.max(1);
    let mut stop = false;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Result<Executed, TaskFailure>)>();
    let mut running = 0usize;

    runtime.block_on(async {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Start what can start.
            if !stop && !cancel.is_cancelled() {
                let mut ready: Vec<usize> = (0..n)
                    .filter(|&i| {
                        need[i]
                            && state[i] == State::Pending
                            && (h.root[i].is_none() || options.force.contains(&i))
                            && nodes[i].inputs().all(|d| {
                                state[d] == State::Done || (h.root[d].is_some() && !options.force.contains(&d))
                            })
                    })
                    .collect();
                ready.sort_by_key(|&i| (std::cmp::Reverse(weight[i]), nodes[i].id.to_string()));
                for i in ready {
                    if running >= jobs {
                        break;
                    }
                    let outputs: HashMap<usize, Digest> =
                        nodes[i].inputs().filter_map(|d| h.root[d].map(|r| (d, r))).collect();
                    let prepared = match planner.prepare(i, &outputs) {
                        Ok(p) => p,
                        Err(message) => {
                            state[i] = State::Failed;
                            resolution[i] = Some(Resolution::Failed);
                            reporter.finished(&nodes[i].id, Resolution::Failed, &message);
                            summary.failures.push(Failure { task: nodes[i].id.to_string(), message, log: None });
                            if !options.keep_going {
                                stop = true;
                            }
                            continue;
                        }
                    };
                    state[i] = State::Running;
                    running += 1;
                    reporter.started(&nodes[i].id, running);
                    let log = planner.log_path(i);
                    let store = store.clone();
                    let scratch = scratch.clone();
                    let rstore = rstore_binary.clone();
                    let cancel = cancel.clone();
                    let tx = tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let host = execute::Host { store: &store, scratch: &scratch, rstore: &rstore, cancel: &cancel };
                        let r = execute::execute(&prepared, &host, &log);
                        let _ = tx.send((i, r));
                    });
                }
            }
            if running == 0 {
                break;
            }
            // Wait for a task to finish; meanwhile tell the reporter time goes by.
            let received = loop {
                tokio::select! {
                    r = rx.recv() => break r,
                    _ = ticker.tick() => reporter.tick(),
                }
            };
            let Some((i, result)) = received else { break };
            running -= 1;
            match result {
                Ok(done) => {
                    let th = h.taskhash[i].expect("hashed before running");
                    let uh = match store.report(&nodes[i].id.to_string(), &th, &done.root) {
                        Ok(u) => u,
                        Err(e) => {
                            fail(&mut state, &mut resolution, &mut summary, reporter, nodes, i, e.to_string(), None);
                            stop |= !options.keep_going;
                            continue;
                        }
                    };
                    let entry = Entry {
                        root: done.root,
                        log: done.log,
                        duration_ms: u64::try_from(done.duration.as_millis()).unwrap_or(u64::MAX),
                        host_fingerprint: options.host_fingerprint.clone(),
                        signatures: Vec::new(),
                    };
                    // An entry may exist already for an equivalent earlier build: it is kept.
                    let stored = match store.put_entry(&uh, entry) {
                        Ok(e) => e,
                        Err(e) => {
                            fail(&mut state, &mut resolution, &mut summary, reporter, nodes, i, e.to_string(), None);
                            stop |= !options.keep_going;
                            continue;
                        }
                    };
                    state[i] = State::Done;
                    resolution[i] = Some(Resolution::Ran);
                    summary.run += 1;
                    let changed = h.unihash[i] != Some(uh) || h.root[i] != Some(stored.root);
                    h.unihash[i] = Some(uh);
                    h.root[i] = Some(stored.root);
                    reporter.finished(&nodes[i].id, Resolution::Ran, &format!("{:.1}s", done.duration.as_secs_f64()));
                    if changed {
                        // Hashes below this task may now match earlier builds.
                        let below = descendants(nodes, i);
                        let which: Vec<bool> = (0..n).map(|j| below[j] && state[j] == State::Pending).collect();
                        if let Err(e) = hash_nodes(nodes, &order, &which, &store, &options.host_fingerprint, &mut h) {
                            summary.failures.push(Failure {
                                task: nodes[i].id.to_string(),
                                message: e.to_string(),
                                log: None,
                            });
                            stop = true;
                        }
                        need = needed(nodes, targets, &h, &options.force, &state);
                        for (e, n) in ever_needed.iter_mut().zip(&need) {
                            *e |= *n;
                        }
                    }
                }
                Err(TaskFailure::Cancelled { .. }) => {
                    state[i] = State::Skipped;
                    resolution[i] = Some(Resolution::Skipped);
                    summary.cancelled = true;
                    stop = true;
                }
                Err(failure) => {
                    let log = match &failure {
                        TaskFailure::Failed { log, .. } => Some(log.clone()),
                        _ => None,
                    };
                    fail(
                        &mut state,
                        &mut resolution,
                        &mut summary,
                        reporter,
                        nodes,
                        i,
                        failure.to_string().trim_end().to_owned(),
                        log,
                    );
                    stop |= !options.keep_going;
                }
            }
        }
    });

    if cancel.is_cancelled() {
        summary.cancelled = true;
    }
    for i in 0..n {
        if resolution[i].is_some() || !ever_needed[i] {
            continue;
        }
        resolution[i] = Some(if h.root[i].is_some() && !options.force.contains(&i) {
            // Available from the start, or made available by an equivalent output below.
            if initially_available[i] { Resolution::Available } else { Resolution::CutOff }
        } else if need[i] {
            // The build stopped (a failure, or cancelled) before it could run.
            Resolution::Skipped
        } else {
            // Needed no more: what needed it became available (hash equivalence).
            Resolution::NotNeeded
        });
    }
    summary.available = resolution.iter().filter(|r| **r == Some(Resolution::Available)).count();
    summary.cutoff = resolution.iter().filter(|r| **r == Some(Resolution::CutOff)).count();
    summary.skipped = resolution.iter().filter(|r| **r == Some(Resolution::Skipped)).count();
    summary.failed = summary.failures.len();
    summary.tasks = results(&h, &resolution, &need);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn fail(
    state: &mut [State],
    resolution: &mut [Option<Resolution>],
    summary: &mut Summary,
    reporter: &dyn Reporter,
    nodes: &[Node],
    i: usize,
    message: String,
    log: Option<String>,
) {
    state[i] = State::Failed;
    resolution[i] = Some(Resolution::Failed);
    reporter.finished(&nodes[i].id, Resolution::Failed, &message);
    summary.failures.push(Failure { task: nodes[i].id.to_string(), message, log });
    // Everything above it cannot run.
    let above = ancestors(nodes, i);
    for (j, a) in above.iter().enumerate() {
        if *a && state[j] == State::Pending {
            state[j] = State::Skipped;
            resolution[j] = Some(Resolution::Skipped);
        }
    }
}

fn descendants(nodes: &[Node], i: usize) -> Vec<bool> {
    // Tasks that depend on i, directly or not.
    ancestors(nodes, i)
}

fn ancestors(nodes: &[Node], i: usize) -> Vec<bool> {
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (j, n) in nodes.iter().enumerate() {
        for d in n.inputs() {
            dependents[d].push(j);
        }
    }
    let mut out = vec![false; nodes.len()];
    let mut stack = dependents[i].clone();
    while let Some(j) = stack.pop() {
        if !out[j] {
            out[j] = true;
            stack.extend(dependents[j].iter().copied());
        }
    }
    out
}

fn results(h: &Hashes, resolution: &[Option<Resolution>], need: &[bool]) -> Vec<TaskResult> {
    (0..h.taskhash.len())
        .map(|i| TaskResult {
            resolution: resolution[i].unwrap_or(if need[i] { Resolution::Skipped } else { Resolution::NotNeeded }),
            taskhash: h.taskhash[i].map(|d| d.to_hex()),
            unihash: h.unihash[i].map(|d| d.to_hex()),
            root: h.root[i].map(|d| d.to_hex()),
        })
        .collect()
}
