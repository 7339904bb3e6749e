//! Realisation: make the outputs of the target tasks available, running as few tasks
//! as possible (BitBake's setscene and runqueue, Nix's realise).
//!
//! 1. **Hashes.** In dependency order, each task's [`Taskhash`] is computed from its
//!    basehash, the host fingerprint and its dependencies' [`Unihash`]es; its unihash is
//!    what hash equivalence ([`Outputs`]) says for that taskhash, or the taskhash. A task
//!    is *available* when an output is recorded for its unihash.
//! 2. **What is needed.** Working back from the targets: an available task needs
//!    nothing below it (an image whose packages are present never needs the compiler);
//!    a task that must run needs all its inputs.
//! 3. **Execution.** Each needed task counts the inputs it still waits for; when the
//!    count reaches zero it enters a ready queue ordered by BitBake's task weight (the
//!    tasks most others wait for first). Up to `jobs` run at once through the
//!    [`Executor`] on tokio's blocking pool; preparing a task (which reads metadata,
//!    see [`Planner`]) stays on the calling thread. Starting and finishing a task costs
//!    time in proportion to its edges, not to the size of the graph. When a finished
//!    task's output matches an earlier build's (hash equivalence gives an older
//!    unihash), the hashes of the tasks above it are computed again, the tasks that
//!    became available are *cut off* instead of run, and the queue is rebuilt.
//!
//! A failing task fails its dependents; with `keep_going` independent tasks still run.
//! Cancelling kills every running task; nothing partial is recorded (a task's output is
//! recorded only once it is complete).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rstore_sandbox::CancelHandle;
use rstore_store::{Basehash, Entry, HostFingerprint, Outhash, Store, StoreError, Taskhash, TreeDigest, Unihash};
use serde::Serialize;

use crate::derivation::{TaskId, taskhash};
use crate::execute::{Executed, Prepared, TaskFailure};
use crate::graph::{Cycle, Graph, NodeId};

/// One task of the graph to realise.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: TaskId,
    pub basehash: Basehash,
}

/// What an edge of the graph to realise means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Input {
    /// A dependency: its unihash is part of the taskhash.
    #[default]
    Dep,
    /// A task further below whose output is read too (a recipe sysroot reads every
    /// `do_populate_sysroot` below it). It must be available when the task runs, but is
    /// not part of the taskhash: it is covered through the chain of dependencies that
    /// reaches it (as in BitBake).
    Reads,
}

/// The graph the engine realises: tasks, and the inputs each one needs.
pub type BuildGraph = Graph<Task, Input>;

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
    pub dry_run: bool,
    /// Tasks to run even when their output is available.
    pub force: BTreeSet<NodeId>,
    /// Fingerprint of the host tools exposed to tasks; part of every taskhash.
    pub host_fingerprint: Option<HostFingerprint>,
}

/// How a task ended up satisfied (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// Its output was already recorded in the local store.
    Available,
    /// Its output was fetched from a binary cache.
    Substituted,
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
    /// The plan: how many tasks are needed, and how many of those are available (in the
    /// store, or in a binary cache).
    fn planned(&self, _needed: usize, _available: usize) {}
    /// The outputs of `count` tasks are being fetched from binary caches.
    fn substituting(&self, _count: usize) {}
    /// A task started; `running` tasks are running now.
    fn started(&self, _id: &TaskId, _running: usize) {}
    /// A task finished (ran, failed); `detail` is its duration or what went wrong.
    fn finished(&self, _id: &TaskId, _resolution: Resolution, _detail: &str) {}
    /// About once a second while tasks run.
    fn tick(&self) {}
}

/// A task could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("{task}: {source}")]
pub struct PrepareError {
    pub task: TaskId,
    #[source]
    pub source: Box<dyn std::error::Error>,
}

/// The hashes of every node as the engine knows them when a task is prepared.
pub struct NodeHashes<'a> {
    pub taskhash: &'a [Option<Taskhash>],
    pub unihash: &'a [Option<Unihash>],
}

/// Prepares tasks on the calling thread (it reads metadata, which is not `Send`).
pub trait Planner {
    /// Everything needed to run `node`; `outputs` holds the output root of every input
    /// of it (dependencies and tasks it reads), `hashes` the hashes of every node.
    fn prepare(
        &mut self,
        node: NodeId,
        outputs: &BTreeMap<NodeId, TreeDigest>,
        hashes: &NodeHashes<'_>,
    ) -> Result<Prepared, PrepareError>;
    /// Where the task's log goes on the host.
    fn log_path(&self, node: NodeId) -> PathBuf;
}

/// Runs prepared tasks (in the sandbox, for real builds); called on worker threads.
pub trait Executor: Send + Sync {
    fn execute(&self, task: &Prepared, log: &Path) -> Result<Executed, TaskFailure>;
}

/// A task's recorded output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub unihash: Unihash,
    /// The output tree kept for that unihash (an equivalent earlier one, if any).
    pub root: TreeDigest,
}

/// Where outputs are recorded and found: hash equivalence and output roots. The store
/// is one; [`MemoryOutputs`] is another, for tests and benchmarks.
pub trait Outputs {
    /// What hash equivalence says `taskhash` stands for (None: itself).
    fn unihash(&self, taskhash: &Taskhash) -> Result<Option<Unihash>, StoreError>;
    /// The output recorded for `unihash`.
    fn output(&self, unihash: &Unihash) -> Result<Option<TreeDigest>, StoreError>;
    /// Record what a task produced, with hash equivalence.
    fn record(
        &self,
        task: &TaskId,
        taskhash: &Taskhash,
        done: &Executed,
        host: Option<&HostFingerprint>,
    ) -> Result<Recorded, StoreError>;
}

impl Outputs for Store {
    fn unihash(&self, taskhash: &Taskhash) -> Result<Option<Unihash>, StoreError> {
        self.lookup(taskhash)
    }

    fn output(&self, unihash: &Unihash) -> Result<Option<TreeDigest>, StoreError> {
        Ok(self.entry(unihash)?.map(|e| e.root))
    }

    fn record(
        &self,
        task: &TaskId,
        taskhash: &Taskhash,
        done: &Executed,
        host: Option<&HostFingerprint>,
    ) -> Result<Recorded, StoreError> {
        let unihash = self.report(&task.to_string(), taskhash, &Outhash::of_tree(done.root))?;
        let entry = Entry {
            root: done.root,
            log: done.log,
            duration_ms: u64::try_from(done.duration.as_millis()).unwrap_or(u64::MAX),
            host_fingerprint: host.copied(),
            signatures: Vec::new(),
        };
        // An entry may exist already for an equivalent earlier build: it is kept.
        let stored = self.put_entry(&unihash, entry)?;
        Ok(Recorded { unihash, root: stored.root })
    }
}

/// Hash equivalence and outputs in memory: what the store does, without a disk.
#[derive(Debug, Default)]
pub struct MemoryOutputs {
    state: std::sync::Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    unihash: BTreeMap<Taskhash, Unihash>,
    first: BTreeMap<(String, Outhash), Unihash>,
    output: BTreeMap<Unihash, TreeDigest>,
}

impl Outputs for MemoryOutputs {
    fn unihash(&self, taskhash: &Taskhash) -> Result<Option<Unihash>, StoreError> {
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()).unihash.get(taskhash).copied())
    }

    fn output(&self, unihash: &Unihash) -> Result<Option<TreeDigest>, StoreError> {
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()).output.get(unihash).copied())
    }

    fn record(
        &self,
        task: &TaskId,
        taskhash: &Taskhash,
        done: &Executed,
        _host: Option<&HostFingerprint>,
    ) -> Result<Recorded, StoreError> {
        // The store's rules (`Store::report`): a taskhash keeps the unihash it has; else
        // the first unihash that produced this output for this task; else itself.
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = (task.to_string(), Outhash::of_tree(done.root));
        let existing = s.unihash.get(taskhash).copied();
        let owner = s.first.get(&key).copied();
        let unihash = existing.or(owner).unwrap_or(Unihash::from_taskhash(*taskhash));
        s.unihash.entry(*taskhash).or_insert(unihash);
        s.first.entry(key).or_insert(unihash);
        let root = *s.output.entry(unihash).or_insert(done.root);
        Ok(Recorded { unihash, root })
    }
}

/// Binary caches, as the engine sees them: asked for many tasks at once, after the
/// local store.
pub trait Substitutes: Sync {
    /// Unihashes the caches know (trusted) for taskhashes the local store does not.
    fn unihashes(&self, asks: &[(TaskId, Taskhash)]) -> Vec<Option<Unihash>>;
    /// Output roots of the trusted entries the caches hold for these unihashes.
    fn outputs(&self, asks: &[(TaskId, Unihash)]) -> Vec<Option<TreeDigest>>;
    /// Fetches those outputs into the local store (one result each; an output is
    /// recorded only when complete and verified).
    fn fetch(&self, asks: &[(TaskId, Unihash)]) -> Vec<Result<(), String>>;
}

/// Binary caches through the store's substituters: fetched outputs go into `store`.
pub struct CacheSubstitutes<'a> {
    pub store: &'a Store,
    pub substituters: &'a rstore_store::cache::transfer::Substituters,
    pub progress: &'a rstore_store::cache::transfer::Progress,
    found: std::sync::Mutex<BTreeMap<Unihash, rstore_store::cache::transfer::Found>>,
}

impl<'a> CacheSubstitutes<'a> {
    pub fn new(
        store: &'a Store,
        substituters: &'a rstore_store::cache::transfer::Substituters,
        progress: &'a rstore_store::cache::transfer::Progress,
    ) -> Self {
        Self { store, substituters, progress, found: Default::default() }
    }
}

impl Substitutes for CacheSubstitutes<'_> {
    fn unihashes(&self, asks: &[(TaskId, Taskhash)]) -> Vec<Option<Unihash>> {
        let asks: Vec<(String, Taskhash)> = asks.iter().map(|(id, t)| (id.to_string(), *t)).collect();
        self.substituters
            .equivalences(&asks)
            .into_iter()
            .map(|found| {
                let e = found?;
                // Trusted: it becomes this store's equivalence too (a taskhash that has a
                // unihash keeps it).
                match self.store.import_equivalence(&e) {
                    Ok(u) => Some(u),
                    Err(err) => {
                        tracing::warn!("recording the equivalence of {}: {err}", e.identity);
                        Some(e.unihash)
                    }
                }
            })
            .collect()
    }

    fn outputs(&self, asks: &[(TaskId, Unihash)]) -> Vec<Option<TreeDigest>> {
        let asks: Vec<(String, Unihash)> = asks.iter().map(|(id, u)| (id.to_string(), *u)).collect();
        let found = self.substituters.entries(&asks);
        let mut keep = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found
            .into_iter()
            .map(|f| {
                let f = f?;
                let root = f.record.entry.root;
                keep.insert(f.record.unihash, f);
                Some(root)
            })
            .collect()
    }

    fn fetch(&self, asks: &[(TaskId, Unihash)]) -> Vec<Result<(), String>> {
        let keep = self.found.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut found = Vec::new();
        let mut slots = Vec::new();
        let mut out: Vec<Result<(), String>> = Vec::with_capacity(asks.len());
        for (id, u) in asks {
            match keep.get(u) {
                Some(f) => {
                    slots.push(out.len());
                    found.push(f.clone());
                    out.push(Ok(()));
                }
                None => out.push(Err(format!("{id}: no cache offered {u}"))),
            }
        }
        for (slot, r) in slots.into_iter().zip(self.substituters.fetch(self.store, &found, self.progress)) {
            out[slot] = r.map_err(|e| e.to_string());
        }
        out
    }
}

/// The services a realisation uses.
pub struct Services<'a> {
    pub outputs: &'a dyn Outputs,
    /// Binary caches to take outputs from before running tasks (none: local only).
    pub substitutes: Option<&'a dyn Substitutes>,
    pub executor: Arc<dyn Executor>,
    pub reporter: &'a dyn Reporter,
    pub cancel: &'a CancelHandle,
}

/// One failed task.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub task: String,
    pub message: String,
    pub log: Option<PathBuf>,
}

/// What a realisation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub run: usize,
    /// Found in the local store.
    pub available: usize,
    /// Fetched from a binary cache.
    pub substituted: usize,
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
    /// What a dry run would do: task ids whose outputs would be fetched from a cache.
    pub would_substitute: Vec<String>,
}

/// The outcome for one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub resolution: Resolution,
    pub taskhash: Option<Taskhash>,
    pub unihash: Option<Unihash>,
    pub root: Option<TreeDigest>,
}

/// Failures before anything could run.
#[derive(Debug, thiserror::Error)]
pub enum RealiseError {
    #[error("the task graph has a {0}")]
    Cycle(crate::graph::CycleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("starting the task runner: {0}")]
    Runtime(#[source] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Taskhash, unihash and output root of every node (None until computed).
struct Hashes {
    taskhash: Vec<Option<Taskhash>>,
    unihash: Vec<Option<Unihash>>,
    root: Vec<Option<TreeDigest>>,
    /// The root is a binary cache's, not fetched yet.
    remote: Vec<bool>,
}

impl Hashes {
    fn new(n: usize) -> Hashes {
        Hashes { taskhash: vec![None; n], unihash: vec![None; n], root: vec![None; n], remote: vec![false; n] }
    }
}

fn order_of(graph: &BuildGraph) -> Result<Vec<NodeId>, RealiseError> {
    graph.topological_order().map_err(|c: Cycle| RealiseError::Cycle(c.describe(graph, |t| t.id.to_string())))
}

/// Compute taskhash, unihash and output root for the nodes marked in `which`, in `order`.
/// With binary caches, the nodes go level by level (a level's dependencies are all in
/// lower levels), so each level asks the caches once for all its tasks: first for
/// unihashes the local store does not know, then for outputs it does not have.
fn hash_nodes(
    graph: &BuildGraph,
    order: &[NodeId],
    which: &[bool],
    outputs: &dyn Outputs,
    substitutes: Option<&dyn Substitutes>,
    host: Option<&HostFingerprint>,
    h: &mut Hashes,
) -> Result<(), RealiseError> {
    let mut level = vec![0usize; graph.len()];
    let mut levels: Vec<Vec<NodeId>> = Vec::new();
    for &i in order {
        if !which[i] {
            continue;
        }
        let l = match substitutes {
            None => 0,
            Some(_) => graph
                .deps_with_edges(i)
                .into_iter()
                .filter(|(d, input)| **input == Input::Dep && which[*d])
                .map(|(d, _)| level[d] + 1)
                .max()
                .unwrap_or(0),
        };
        level[i] = l;
        if levels.len() <= l {
            levels.resize_with(l + 1, Vec::new);
        }
        levels[l].push(i);
    }
    for nodes in levels {
        let mut unknown = Vec::new();
        for &i in &nodes {
            let mut deps: Vec<Unihash> = Vec::new();
            for (d, input) in graph.deps_with_edges(i) {
                if *input == Input::Dep {
                    // Dependencies are in lower levels: every one has a unihash by now.
                    deps.extend(h.unihash[d]);
                }
            }
            let th = taskhash(&graph.node(i).basehash, host, &deps);
            let local = outputs.unihash(&th)?;
            if local.is_none() {
                unknown.push(i);
            }
            h.taskhash[i] = Some(th);
            h.unihash[i] = Some(local.unwrap_or(Unihash::from_taskhash(th)));
            h.remote[i] = false;
        }
        if let Some(subs) = substitutes
            && !unknown.is_empty()
        {
            let asks: Vec<(TaskId, Taskhash)> =
                unknown.iter().filter_map(|&i| Some((graph.node(i).id.clone(), h.taskhash[i]?))).collect();
            for (&i, found) in unknown.iter().zip(subs.unihashes(&asks)) {
                if let Some(u) = found {
                    h.unihash[i] = Some(u);
                }
            }
        }
        let mut absent = Vec::new();
        for &i in &nodes {
            let Some(uh) = h.unihash[i] else { continue };
            h.root[i] = outputs.output(&uh)?;
            if h.root[i].is_none() {
                absent.push(i);
            }
        }
        if let Some(subs) = substitutes
            && !absent.is_empty()
        {
            let asks: Vec<(TaskId, Unihash)> =
                absent.iter().filter_map(|&i| Some((graph.node(i).id.clone(), h.unihash[i]?))).collect();
            for (&i, found) in absent.iter().zip(subs.outputs(&asks)) {
                if let Some(root) = found {
                    h.root[i] = Some(root);
                    h.remote[i] = true;
                }
            }
        }
    }
    Ok(())
}

/// Taskhash, unihash and output root (when recorded) of every node, without running
/// anything: what `rstore show` and dry runs report.
pub fn resolve_hashes(
    graph: &BuildGraph,
    outputs: &dyn Outputs,
    host: Option<&HostFingerprint>,
) -> Result<Vec<TaskResult>, RealiseError> {
    let order = order_of(graph)?;
    let n = graph.len();
    let mut h = Hashes::new(n);
    hash_nodes(graph, &order, &vec![true; n], outputs, None, host, &mut h)?;
    let resolution: Vec<Option<Resolution>> =
        (0..n).map(|i| Some(if h.root[i].is_some() { Resolution::Available } else { Resolution::NotNeeded })).collect();
    Ok(results(&h, &resolution, &vec![false; n]))
}

/// The scheduler's view of the graph: who is needed, who waits for how many inputs,
/// and the queue of tasks ready to start.
struct Schedule<'g> {
    graph: &'g BuildGraph,
    force: &'g BTreeSet<NodeId>,
    /// Position of each node in the start order: heavier first, then by name.
    rank: Vec<usize>,
    state: Vec<State>,
    need: Vec<bool>,
    /// Per needed node: inputs not yet satisfied.
    waiting: Vec<usize>,
    ready: BinaryHeap<Reverse<(usize, NodeId)>>,
}

impl<'g> Schedule<'g> {
    fn new(graph: &'g BuildGraph, force: &'g BTreeSet<NodeId>) -> Result<Schedule<'g>, RealiseError> {
        let weight = graph.weights().map_err(|c| RealiseError::Cycle(c.describe(graph, |t| t.id.to_string())))?;
        let mut by_priority: Vec<(Reverse<u64>, String, NodeId)> =
            graph.nodes().map(|(i, t)| (Reverse(weight[i]), t.id.to_string(), i)).collect();
        by_priority.sort_unstable();
        let mut rank = vec![0; graph.len()];
        for (position, (_, _, i)) in by_priority.into_iter().enumerate() {
            rank[i] = position;
        }
        let n = graph.len();
        Ok(Schedule {
            graph,
            force,
            rank,
            state: vec![State::Pending; n],
            need: vec![false; n],
            waiting: vec![0; n],
            ready: BinaryHeap::new(),
        })
    }

    /// Whether node `i`'s output is there for others: it ran here, or it is recorded
    /// (and not forced to run again).
    fn satisfied(&self, i: NodeId, h: &Hashes) -> bool {
        self.state[i] == State::Done || (h.root[i].is_some() && !self.force.contains(&i))
    }

    /// Work out what the targets need given what is available, the inputs each needed
    /// task waits for, and the tasks ready now.
    fn plan(&mut self, targets: &[NodeId], h: &Hashes) {
        let n = self.graph.len();
        self.need = vec![false; n];
        let mut stack: Vec<NodeId> = targets.to_vec();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut self.need[i], true) {
                continue;
            }
            if !self.satisfied(i, h) {
                stack.extend(self.graph.deps_unordered(i));
            }
        }
        self.ready.clear();
        for i in 0..n {
            self.waiting[i] = 0;
            if self.runnable(i, h) {
                self.waiting[i] = self.graph.deps_unordered(i).filter(|&d| !self.satisfied(d, h)).count();
                if self.waiting[i] == 0 {
                    self.ready.push(Reverse((self.rank[i], i)));
                }
            }
        }
    }

    /// Needed, not yet started, and not satisfied: it has to run.
    fn runnable(&self, i: NodeId, h: &Hashes) -> bool {
        self.need[i] && self.state[i] == State::Pending && !self.satisfied(i, h)
    }

    /// The next task to start, if one is ready.
    fn next(&mut self, h: &Hashes) -> Option<NodeId> {
        while let Some(Reverse((_, i))) = self.ready.pop() {
            if self.runnable(i, h) && self.waiting[i] == 0 {
                return Some(i);
            }
        }
        None
    }

    /// `i` finished: the needed tasks waiting for it wait for one input less.
    fn done(&mut self, i: NodeId, h: &Hashes) {
        self.state[i] = State::Done;
        for j in self.graph.dependents_unordered(i) {
            if self.runnable(j, h) {
                self.waiting[j] = self.waiting[j].saturating_sub(1);
                if self.waiting[j] == 0 {
                    self.ready.push(Reverse((self.rank[j], j)));
                }
            }
        }
    }

    /// `i` failed: it and everything above it that has not started is given up.
    fn failed(&mut self, i: NodeId, resolution: &mut [Option<Resolution>]) {
        self.state[i] = State::Failed;
        resolution[i] = Some(Resolution::Failed);
        for (j, above) in self.graph.dependents_closure(i).into_iter().enumerate() {
            if above && self.state[j] == State::Pending {
                self.state[j] = State::Skipped;
                resolution[j] = Some(Resolution::Skipped);
            }
        }
    }
}

/// Realise `targets`.
pub fn realise(
    graph: &BuildGraph,
    targets: &[NodeId],
    planner: &mut dyn Planner,
    services: &Services<'_>,
    options: &Options,
) -> Result<Summary, RealiseError> {
    let Services { outputs, substitutes, executor, reporter, cancel } = services;
    let reporter: &dyn Reporter = *reporter;
    let host = options.host_fingerprint.as_ref();
    let started = Instant::now();
    let order = order_of(graph)?;
    let n = graph.len();
    let mut h = Hashes::new(n);
    hash_nodes(graph, &order, &vec![true; n], *outputs, *substitutes, host, &mut h)?;
    let mut schedule = Schedule::new(graph, &options.force)?;
    schedule.plan(targets, &h);
    let mut resolution: Vec<Option<Resolution>> = vec![None; n];
    let mut summary = Summary::default();

    if options.dry_run {
        for &i in &order {
            if schedule.runnable(i, &h) {
                summary.would_run.push(graph.node(i).id.to_string());
            } else if schedule.need[i] && h.remote[i] && !options.force.contains(&i) {
                summary.would_substitute.push(graph.node(i).id.to_string());
            }
        }
        let available = (0..n).filter(|&i| schedule.need[i] && schedule.satisfied(i, &h) && !h.remote[i]).count();
        reporter.planned(schedule.need.iter().filter(|x| **x).count(), available + summary.would_substitute.len());
        summary.available = available;
        summary.seconds = started.elapsed().as_secs_f64();
        summary.tasks = results(&h, &resolution, &schedule.need);
        return Ok(summary);
    }

    let available = (0..n).filter(|&i| schedule.need[i] && schedule.satisfied(i, &h)).count();
    reporter.planned(schedule.need.iter().filter(|x| **x).count(), available);
    substitute_needed(graph, targets, *substitutes, reporter, &options.force, &mut schedule, &mut h, &mut resolution);
    // Tasks the plan needed at any point (availability found later shrinks `need`).
    let mut ever_needed = schedule.need.clone();
    let initially_available: Vec<bool> = (0..n).map(|i| schedule.satisfied(i, &h)).collect();

    let jobs = options.jobs.max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(jobs)
        .enable_all()
        .build()
        .map_err(RealiseError::Runtime)?;
    let mut stop = false;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(NodeId, Result<Executed, TaskFailure>)>();
    let mut running = 0usize;

    runtime.block_on(async {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Start what can start.
            while !stop && !cancel.is_cancelled() && running < jobs {
                let Some(i) = schedule.next(&h) else { break };
                let inputs: BTreeMap<NodeId, TreeDigest> =
                    graph.deps_unordered(i).filter_map(|d| h.root[d].map(|r| (d, r))).collect();
                let hashes = NodeHashes { taskhash: &h.taskhash, unihash: &h.unihash };
                let prepared = match planner.prepare(i, &inputs, &hashes) {
                    Ok(p) => p,
                    Err(e) => {
                        record_failure(&mut summary, reporter, graph, i, e.to_string(), None);
                        schedule.failed(i, &mut resolution);
                        stop |= !options.keep_going;
                        continue;
                    }
                };
                schedule.state[i] = State::Running;
                running += 1;
                reporter.started(&graph.node(i).id, running);
                let log = planner.log_path(i);
                let executor = Arc::clone(executor);
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    let r = executor.execute(&prepared, &log);
                    let _ = tx.send((i, r));
                });
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
            let id = &graph.node(i).id;
            match result {
                Ok(done) => {
                    let Some(th) = h.taskhash[i] else { unreachable!("every node is hashed before anything runs") };
                    let recorded = match outputs.record(id, &th, &done, host) {
                        Ok(r) => r,
                        Err(e) => {
                            record_failure(&mut summary, reporter, graph, i, e.to_string(), None);
                            schedule.failed(i, &mut resolution);
                            stop |= !options.keep_going;
                            continue;
                        }
                    };
                    resolution[i] = Some(Resolution::Ran);
                    summary.run += 1;
                    let equivalent = h.unihash[i] != Some(recorded.unihash);
                    h.unihash[i] = Some(recorded.unihash);
                    h.root[i] = Some(recorded.root);
                    reporter.finished(id, Resolution::Ran, &format!("{:.1}s", done.duration.as_secs_f64()));
                    schedule.done(i, &h);
                    if equivalent {
                        // Hash equivalence gave an earlier unihash: tasks above this one
                        // may now be available.
                        let above = graph.dependents_closure(i);
                        let which: Vec<bool> =
                            (0..n).map(|j| above[j] && schedule.state[j] == State::Pending).collect();
                        if let Err(e) = hash_nodes(graph, &order, &which, *outputs, *substitutes, host, &mut h) {
                            summary.failures.push(Failure { task: id.to_string(), message: e.to_string(), log: None });
                            stop = true;
                        }
                        schedule.plan(targets, &h);
                        substitute_needed(
                            graph,
                            targets,
                            *substitutes,
                            reporter,
                            &options.force,
                            &mut schedule,
                            &mut h,
                            &mut resolution,
                        );
                        for (e, n) in ever_needed.iter_mut().zip(&schedule.need) {
                            *e |= *n;
                        }
                    }
                }
                Err(TaskFailure::Cancelled { .. }) => {
                    schedule.state[i] = State::Skipped;
                    resolution[i] = Some(Resolution::Skipped);
                    summary.cancelled = true;
                    stop = true;
                }
                Err(failure) => {
                    let log = match &failure {
                        TaskFailure::Failed { log, .. } => Some(log.clone()),
                        _ => None,
                    };
                    record_failure(&mut summary, reporter, graph, i, failure.to_string().trim_end().to_owned(), log);
                    schedule.failed(i, &mut resolution);
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
        resolution[i] = Some(if schedule.satisfied(i, &h) {
            // Available from the start, or made available by an equivalent output below.
            if initially_available[i] { Resolution::Available } else { Resolution::CutOff }
        } else if schedule.need[i] {
            // The build stopped (a failure, or cancelled) before it could run.
            Resolution::Skipped
        } else {
            // Needed no more: what needed it became available (hash equivalence).
            Resolution::NotNeeded
        });
    }
    summary.available = resolution.iter().filter(|r| **r == Some(Resolution::Available)).count();
    summary.substituted = resolution.iter().filter(|r| **r == Some(Resolution::Substituted)).count();
    summary.cutoff = resolution.iter().filter(|r| **r == Some(Resolution::CutOff)).count();
    summary.skipped = resolution.iter().filter(|r| **r == Some(Resolution::Skipped)).count();
    summary.failed = summary.failures.len();
    summary.tasks = results(&h, &resolution, &schedule.need);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Fetches from the binary caches every output the plan needs that only a cache has.
/// An output that cannot be fetched is built instead: the plan is made again (its
/// inputs become needed, and are fetched in turn where a cache has them).
#[allow(clippy::too_many_arguments)]
fn substitute_needed(
    graph: &BuildGraph,
    targets: &[NodeId],
    substitutes: Option<&dyn Substitutes>,
    reporter: &dyn Reporter,
    force: &BTreeSet<NodeId>,
    schedule: &mut Schedule<'_>,
    h: &mut Hashes,
    resolution: &mut [Option<Resolution>],
) {
    let Some(subs) = substitutes else { return };
    loop {
        let want: Vec<NodeId> =
            (0..graph.len()).filter(|&i| schedule.need[i] && h.remote[i] && !force.contains(&i)).collect();
        if want.is_empty() {
            return;
        }
        reporter.substituting(want.len());
        let asks: Vec<(TaskId, Unihash)> =
            want.iter().filter_map(|&i| Some((graph.node(i).id.clone(), h.unihash[i]?))).collect();
        let mut replan = false;
        for (&i, result) in want.iter().zip(subs.fetch(&asks)) {
            h.remote[i] = false;
            let id = &graph.node(i).id;
            match result {
                Ok(()) => {
                    resolution[i] = Some(Resolution::Substituted);
                    reporter.finished(id, Resolution::Substituted, "from a binary cache");
                }
                Err(e) => {
                    tracing::warn!("{id}: substituting failed ({e}); building it instead");
                    h.root[i] = None;
                    replan = true;
                }
            }
        }
        if replan {
            schedule.plan(targets, h);
        }
    }
}

fn record_failure(
    summary: &mut Summary,
    reporter: &dyn Reporter,
    graph: &BuildGraph,
    i: NodeId,
    message: String,
    log: Option<PathBuf>,
) {
    let id = &graph.node(i).id;
    reporter.finished(id, Resolution::Failed, &message);
    summary.failures.push(Failure { task: id.to_string(), message, log });
}

fn results(h: &Hashes, resolution: &[Option<Resolution>], need: &[bool]) -> Vec<TaskResult> {
    (0..h.taskhash.len())
        .map(|i| TaskResult {
            resolution: resolution[i].unwrap_or(if need[i] { Resolution::Skipped } else { Resolution::NotNeeded }),
            taskhash: h.taskhash[i],
            unihash: h.unihash[i],
            // A cache's output not fetched is not in the store.
            root: if h.remote[i] { None } else { h.root[i] },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use rstore_store::Digest;

    use super::*;

    /// Prepares nothing: every task is a no-op whose identity the executor reads.
    struct Names;

    impl Planner for Names {
        fn prepare(
            &mut self,
            node: NodeId,
            _: &BTreeMap<NodeId, TreeDigest>,
            _: &NodeHashes<'_>,
        ) -> Result<Prepared, PrepareError> {
            Ok(Prepared::noexec(TaskId { recipe: String::new(), task: node.to_string() }))
        }

        fn log_path(&self, _: NodeId) -> PathBuf {
            PathBuf::new()
        }
    }

    /// "Runs" a task at once: its output is given by `outputs` (by node), and the order
    /// of runs is recorded.
    struct Instant {
        outputs: Vec<&'static str>,
        ran: Mutex<Vec<NodeId>>,
    }

    impl Executor for Instant {
        fn execute(&self, task: &Prepared, _: &Path) -> Result<Executed, TaskFailure> {
            let node: NodeId = task.id.task.parse().expect("a node id");
            self.ran.lock().unwrap().push(node);
            let root = TreeDigest::from_digest(Digest::of_bytes(self.outputs[node].as_bytes()));
            Ok(Executed { root, log: None, duration: Duration::ZERO })
        }
    }

    struct Quiet;
    impl Reporter for Quiet {}

    /// Nodes named by their basehash text; `edges` are (from, to) dependencies.
    fn graph(basehashes: &[&str], edges: &[(NodeId, NodeId)]) -> BuildGraph {
        let mut g = BuildGraph::new();
        for (i, b) in basehashes.iter().enumerate() {
            g.add_node(Task {
                id: TaskId { recipe: "r".into(), task: format!("do_{i}") },
                basehash: Basehash::from_digest(Digest::of_bytes(b.as_bytes())),
            });
        }
        for &(a, b) in edges {
            g.add_edge(a, b);
        }
        g
    }

    fn run(g: &BuildGraph, outputs: &MemoryOutputs, results: &[&'static str]) -> (Summary, Vec<NodeId>) {
        let executor = Arc::new(Instant { outputs: results.to_vec(), ran: Mutex::new(Vec::new()) });
        let cancel = CancelHandle::new().unwrap();
        let services =
            Services { outputs, substitutes: None, executor: executor.clone(), reporter: &Quiet, cancel: &cancel };
        let summary =
            realise(g, &[g.len() - 1], &mut Names, &services, &Options { jobs: 1, ..Options::default() }).unwrap();
        let ran = executor.ran.lock().unwrap().clone();
        (summary, ran)
    }

    #[test]
    fn dependencies_run_first_and_equivalent_outputs_cut_off() {
        // 0 <- 1 <- 3 and 2 <- 3: the target 3 needs everything.
        let edges = [(1, 0), (3, 1), (3, 2)];
        let outputs = MemoryOutputs::default();
        let (first, ran) = run(&graph(&["a", "b", "c", "d"], &edges), &outputs, &["A", "B", "C", "D"]);
        assert_eq!(first.run, 4);
        let at = |n: NodeId| ran.iter().position(|&r| r == n).unwrap();
        assert!(at(0) < at(1) && at(1) < at(3) && at(2) < at(3), "{ran:?}");

        // Nothing changed: nothing runs.
        let (again, ran) = run(&graph(&["a", "b", "c", "d"], &edges), &outputs, &["A", "B", "C", "D"]);
        assert_eq!((again.run, again.available), (0, 1), "{again:?}");
        assert!(ran.is_empty());

        // 0's derivation changed, its output did not: 0 reruns, 1 and 3 are cut off.
        let (cut, ran) = run(&graph(&["a2", "b", "c", "d"], &edges), &outputs, &["A", "B", "C", "D"]);
        assert_eq!(ran, vec![0]);
        assert_eq!((cut.run, cut.cutoff), (1, 2), "{cut:?}");
        assert_eq!(cut.tasks[3].resolution, Resolution::CutOff);
    }

    #[test]
    fn a_cycle_is_refused_naming_its_tasks() {
        let g = graph(&["a", "b", "c", "d"], &[(0, 1), (1, 2), (2, 1), (3, 0)]);
        let err = resolve_hashes(&g, &MemoryOutputs::default(), None).unwrap_err();
        assert_eq!(err.to_string(), "the task graph has a dependency cycle: r:do_1 -> r:do_2 -> r:do_1");
    }
}
