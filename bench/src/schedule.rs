//! Scheduling overhead of the realisation engine: a synthetic graph of instant tasks
//! (nothing is prepared, run or stored but a digest per task), realised by
//! `rstore_evaluator::realise` and, on the same graph in the same run, by the engine's
//! earlier scheduler, kept here as the baseline: it rescanned every node for ready
//! tasks after each event and recomputed what was needed after every finished task
//! (O(n²) over a build). Both produce the same resolution for every task.
//!
//! The graph imitates a distribution build: `recipes` recipes of ten chained tasks,
//! each recipe's first task depending on the last task of up to three earlier
//! recipes, and an image task depending on the last task of every recipe.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstore_evaluator::derivation::TaskId;
use rstore_evaluator::execute::{Executed, Prepared, TaskFailure};
use rstore_evaluator::graph::NodeId;
use rstore_evaluator::realise::{
    self, BuildGraph, Executor, MemoryOutputs, NodeHashes, Options, Planner, PrepareError, Reporter, Services, Task,
};
use rstore_sandbox::CancelHandle;
use rstore_store::{Basehash, Digest, TreeDigest};

use crate::report::Row;

/// Scheduling overhead for a synthetic graph of instant tasks, new engine vs the old
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks in the largest graph (ten per recipe)
    #[arg(long, default_value_t = 100_000)]
    tasks: usize,
    /// Largest graph the old scheduler is run on (it is quadratic); beyond it its time
    /// is extrapolated from the largest measured size
    #[arg(long, default_value_t = 10_000)]
    baseline_max: usize,
    /// Workers
    #[arg(short = 'j', long, default_value_t = 2)]
    jobs: usize,
}

const TASKS_PER_RECIPE: usize = 10;

/// The synthetic graph: node ids, basehashes and edges.
fn synthetic(tasks: usize) -> (BuildGraph, Vec<NodeId>) {
    let recipes = (tasks / TASKS_PER_RECIPE).max(1);
    let mut g = BuildGraph::with_capacity(recipes * TASKS_PER_RECIPE + 1, recipes * (TASKS_PER_RECIPE + 3) + recipes);
    let mut last = Vec::with_capacity(recipes);
    for r in 0..recipes {
        let mut prev = None;
        for t in 0..TASKS_PER_RECIPE {
            let id = TaskId { recipe: format!("r{r}"), task: format!("do_t{t}") };
            let basehash = Basehash::from_digest(Digest::of_bytes(id.to_string().as_bytes()));
            let n = g.add_node(Task { id, basehash });
            if let Some(p) = prev {
                g.add_edge(n, p);
            } else {
                // Deterministic "random" earlier recipes.
                for k in 1..=3usize {
                    let other = (r * 7919 + k * 104_729) % r.max(1);
                    if other < r {
                        g.add_edge(n, last[other]);
                    }
                }
            }
            prev = Some(n);
        }
        last.push(prev.expect("ten tasks per recipe"));
    }
    let image = g.add_node(Task {
        id: TaskId { recipe: "image".into(), task: "do_image".into() },
        basehash: Basehash::from_digest(Digest::of_bytes(b"image")),
    });
    for &l in &last {
        g.add_edge(image, l);
    }
    (g, vec![image])
}

struct InstantPlanner;

impl Planner for InstantPlanner {
    fn prepare(
        &mut self,
        node: NodeId,
        _outputs: &BTreeMap<NodeId, TreeDigest>,
        _hashes: &NodeHashes<'_>,
    ) -> Result<Prepared, PrepareError> {
        Ok(Prepared::noexec(TaskId { recipe: String::new(), task: node.to_string() }))
    }

    fn log_path(&self, _node: NodeId) -> PathBuf {
        PathBuf::new()
    }
}

/// Every task "produces" the digest of its name, at once.
struct InstantExecutor;

impl Executor for InstantExecutor {
    fn execute(&self, task: &Prepared, _log: &Path) -> Result<Executed, TaskFailure> {
        Ok(Executed {
            root: TreeDigest::from_digest(Digest::of_bytes(task.id.task.as_bytes())),
            log: None,
            duration: Duration::ZERO,
        })
    }
}

struct Quiet;
impl Reporter for Quiet {}

fn new_engine(graph: &BuildGraph, targets: &[NodeId], jobs: usize) -> anyhow::Result<(Duration, usize)> {
    let outputs = MemoryOutputs::default();
    let cancel = CancelHandle::new()?;
    let services = Services {
        outputs: &outputs,
        substitutes: None,
        executor: Arc::new(InstantExecutor),
        reporter: &Quiet,
        cancel: &cancel,
    };
    let options = Options { jobs, ..Options::default() };
    let started = Instant::now();
    let summary = realise::realise(graph, targets, &mut InstantPlanner, &services, &options)?;
    Ok((started.elapsed(), summary.run))
}

/// The engine's earlier scheduler on the same graph: after every event it scanned all
/// nodes for ready tasks (sorting them by weight and name), and after every finished
/// task it collected the nodes above it (building the reverse adjacency anew), hashed
/// them again and recomputed what the targets need. Tasks finish instantly, in the
/// order they start, `jobs` at a time.
fn old_engine(graph: &BuildGraph, targets: &[NodeId], jobs: usize) -> (Duration, usize) {
    let started = Instant::now();
    let n = graph.len();
    let deps: Vec<Vec<NodeId>> = (0..n).map(|i| graph.deps(i).collect()).collect();
    let names: Vec<String> = (0..n).map(|i| graph.node(i).id.to_string()).collect();
    // Its own weights: 1 plus the weights of the dependents.
    let order = topo(&deps);
    let mut weight = vec![1u64; n];
    for &i in order.iter().rev() {
        for &d in &deps[i] {
            weight[d] = weight[d].saturating_add(weight[i]);
        }
    }
    let mut done = vec![false; n];
    let mut running: Vec<NodeId> = Vec::new();
    let mut need = needed(&deps, targets, &done);
    let mut run = 0;
    loop {
        let mut ready: Vec<NodeId> = (0..n)
            .filter(|&i| need[i] && !done[i] && !running.contains(&i) && deps[i].iter().all(|&d| done[d]))
            .collect();
        ready.sort_by_key(|&i| (Reverse(weight[i]), names[i].clone()));
        for i in ready {
            if running.len() >= jobs {
                break;
            }
            running.push(i);
        }
        if running.is_empty() {
            break;
        }
        let i = running.remove(0);
        done[i] = true;
        run += 1;
        // Every finished task counted as changed: the tasks above it were hashed again.
        let above = ancestors(&deps, i);
        let mut rehashed = 0u64;
        for &j in &order {
            if above[j] && !done[j] {
                rehashed = rehashed.wrapping_add(weight[j]);
            }
        }
        std::hint::black_box(rehashed);
        need = needed(&deps, targets, &done);
    }
    (started.elapsed(), run)
}

fn topo(deps: &[Vec<NodeId>]) -> Vec<NodeId> {
    let n = deps.len();
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<NodeId>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &x in d {
            dependents[x].push(i);
        }
    }
    let mut ready: Vec<NodeId> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(j);
            }
        }
    }
    order
}

fn needed(deps: &[Vec<NodeId>], targets: &[NodeId], done: &[bool]) -> Vec<bool> {
    let mut need = vec![false; deps.len()];
    let mut stack = targets.to_vec();
    while let Some(i) = stack.pop() {
        if need[i] {
            continue;
        }
        need[i] = true;
        if !done[i] {
            stack.extend(deps[i].iter().copied());
        }
    }
    need
}

fn ancestors(deps: &[Vec<NodeId>], i: NodeId) -> Vec<bool> {
    let mut dependents: Vec<Vec<NodeId>> = vec![Vec::new(); deps.len()];
    for (j, d) in deps.iter().enumerate() {
        for &x in d {
            dependents[x].push(j);
        }
    }
    let mut out = vec![false; deps.len()];
    let mut stack = dependents[i].clone();
    while let Some(j) = stack.pop() {
        if !out[j] {
            out[j] = true;
            stack.extend(dependents[j].iter().copied());
        }
    }
    out
}

pub fn run(args: Args) -> anyhow::Result<()> {
    println!("scheduling overhead: synthetic graphs of instant tasks, {} workers", args.jobs);
    let mut sizes: BTreeSet<usize> = [1_000, 2_000, 5_000, args.baseline_max, args.tasks].into();
    sizes.retain(|&s| s <= args.tasks && s >= TASKS_PER_RECIPE);
    // (size, seconds) of the largest graph the old scheduler ran, for extrapolating.
    let mut largest_old: Option<(usize, f64)> = None;
    for size in sizes {
        let (graph, targets) = synthetic(size);
        let (new, new_run) = new_engine(&graph, &targets, args.jobs)?;
        let what = format!("{} tasks, {} edges", graph.len(), graph.edge_count());
        let label = format!("{what}: realise");
        if size <= args.baseline_max {
            let (old, old_run) = old_engine(&graph, &targets, args.jobs);
            anyhow::ensure!(old_run == new_run, "the two schedulers ran {old_run} and {new_run} tasks");
            largest_old = Some((graph.len(), old.as_secs_f64()));
            Row {
                what: &label,
                ours: new.as_secs_f64(),
                peer_name: "old scheduler",
                peer: Some(old.as_secs_f64()),
                unit: "s",
                higher_is_better: false,
            }
            .print();
        } else {
            // Quadratic: scale the largest measured time by the square of the sizes.
            let estimate = largest_old.map(|(n, s)| s * (graph.len() as f64 / n as f64).powi(2));
            Row {
                what: &label,
                ours: new.as_secs_f64(),
                peer_name: "old scheduler (est. n²)",
                peer: estimate,
                unit: "s",
                higher_is_better: false,
            }
            .print();
        }
        println!("{:<40} {:.2} µs per task", "", new.as_secs_f64() * 1e6 / new_run.max(1) as f64);
    }
    Ok(())
}
