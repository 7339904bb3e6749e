//! From a task graph to tasks the realisation engine can run: the BitBake side of
//! `rstore build`.
//!
//! For each task to run, the recipe is parsed (once per build) and a copy of its
//! datastore gets the paths tasks see inside their sandbox: `TMPDIR = /rstore/tmp`,
//! `DL_DIR = /rstore/downloads`. From it come the task's work directory, its `[dirs]`
//! and `[cleandirs]`, and either a shell script (exported variables, the shell functions
//! the task reaches, the task — what BitBake writes as a task's run file) or a built-in
//! request. The outputs of the tasks it follows in the same recipe are layered below
//! its work directory; for built-ins, the outputs of the other tasks it depends on are
//! mounted read-only under `/rstore/deps/<pn>/<task>`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rstore_evaluator::admit::Admission;
use rstore_evaluator::builtin::Bind;
use rstore_evaluator::derivation::TaskId;
use rstore_evaluator::execute::{Action, Prepared};
use rstore_evaluator::graph::NodeId;
use rstore_evaluator::realise::{BuildGraph, Input, NodeHashes, Planner, PrepareError, Task};
use rstore_store::{Basehash, TreeDigest};

use crate::builtins::BuildContext;
use crate::datastore::{DataError, DataStore, Read};
use crate::recipe::Variant;
pub use crate::runfile::{DL_DIR_INSIDE, TMPDIR_INSIDE};
use crate::session::{Options, RecipeInfo, Session, SessionError};
use crate::taskgraph::TaskGraph;
use crate::truth::{flag_is_set, flag_to_boolean};

/// Where the outputs of other tasks are mounted for built-ins.
pub const DEPS_INSIDE: &str = "/rstore/deps";

/// Why the graph of a build cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildGraphError {
    #[error("{0} was not parsed")]
    NotParsed(String),
    #[error("{task} is not a task of {recipe}")]
    NoSuchTask { recipe: String, task: String },
    #[error("{0} has no signature")]
    NoSignature(String),
}

/// The graph for the realisation engine: ids and basehashes, the dependencies of each
/// task ([`Input::Dep`]), and the tasks further below that built-ins read
/// ([`Input::Reads`], see [`crate::builtins::transitive_inputs`]). Node ids are the task
/// graph's.
///
/// When `bitbake_run` is set (tasks run with the user's BitBake), every task that is not
/// one of rstore's built-ins also reads the `do_populate_sysroot` of every other recipe
/// below it: BitBake's `extend_recipe_sysroot` installs that whole closure.
pub fn build_graph(
    graph: &TaskGraph,
    recipes: &[RecipeInfo],
    bitbake_run: bool,
) -> Result<BuildGraph, BuildGraphError> {
    let by_target: HashMap<&str, &RecipeInfo> = recipes.iter().map(|r| (r.target.as_str(), r)).collect();
    let mut out = BuildGraph::with_capacity(graph.graph.len(), graph.graph.edge_count());
    let mut reads = Vec::new();
    for (i, n) in graph.graph.nodes() {
        let recipe = &graph.recipes[n.recipe];
        let info =
            by_target.get(recipe.target.as_str()).ok_or_else(|| BuildGraphError::NotParsed(recipe.target.clone()))?;
        let task = info
            .tasks
            .iter()
            .find(|t| t.name == n.task)
            .ok_or_else(|| BuildGraphError::NoSuchTask { recipe: recipe.target.clone(), task: n.task.clone() })?;
        let basehash = task.basehash.ok_or_else(|| BuildGraphError::NoSignature(graph.task_id(i)))?;
        let id = out.add_node(Task { id: TaskId { recipe: recipe.pn.clone(), task: n.task.clone() }, basehash });
        debug_assert_eq!(id, i);
        let wanted = match task.builtin.as_deref() {
            Some(b) => crate::builtins::transitive_inputs(b),
            None if bitbake_run => &["do_populate_sysroot"],
            None => &[],
        };
        if !wanted.is_empty() {
            reads.push((i, reachable(graph, i, wanted)));
        }
    }
    for (from, to) in graph.graph.edges() {
        out.add_edge_with(from, to, Input::Dep);
    }
    for (from, list) in reads {
        for to in list {
            out.add_edge_with(from, to, Input::Reads);
        }
    }
    Ok(out)
}

/// What each node of the graph publishes into shared areas (deploy directories). A task
/// BitBake runs leaves its shared outputs in TMPDIR itself (its output is its layer of
/// TMPDIR): `deploy/` and `sysroots-components/` are published into the host's TMPDIR
/// (`bitbake_tmpdir`), as BitBake lays them out.
pub fn publications(
    graph: &TaskGraph,
    recipes: &[RecipeInfo],
    bitbake_tmpdir: Option<&Path>,
) -> Vec<Vec<rstore_evaluator::publish::Publication>> {
    if let Some(tmp) = bitbake_tmpdir {
        let shared = ["deploy", "sysroots-components"]
            .map(|d| rstore_evaluator::publish::Publication { from: PathBuf::from(d), to: tmp.join(d) });
        return graph.graph.nodes().map(|_| shared.to_vec()).collect();
    }
    let by_target: HashMap<&str, &RecipeInfo> = recipes.iter().map(|r| (r.target.as_str(), r)).collect();
    graph
        .graph
        .nodes()
        .map(|(_, n)| {
            by_target
                .get(graph.recipes[n.recipe].target.as_str())
                .and_then(|info| info.tasks.iter().find(|t| t.name == n.task))
                .map(|t| t.publish.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// The tasks named in `wanted`, of other recipes, reachable below `node` and not among
/// its direct dependencies, in node order.
fn reachable(graph: &TaskGraph, node: NodeId, wanted: &[&str]) -> Vec<NodeId> {
    let own = graph.graph.node(node).recipe;
    let deps: BTreeSet<NodeId> = graph.graph.deps(node).collect();
    let below = graph.graph.closure(deps.iter().copied());
    below
        .into_iter()
        .enumerate()
        .filter(|&(j, b)| {
            let n = graph.graph.node(j);
            b && n.recipe != own && wanted.contains(&n.task.as_str()) && !deps.contains(&j)
        })
        .map(|(j, _)| j)
        .collect()
}

/// Why a task cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Python(#[from] crate::python::InitError),
    #[error(transparent)]
    Parse(#[from] crate::eval::EvalError),
    #[error("{} has no variant {variant:?}", file.display())]
    NoVariant { file: PathBuf, variant: String },
    #[error("{pn} is skipped: {reason}")]
    Skipped { pn: String, reason: String },
    #[error("{0} is not a task of its recipe any more")]
    NoDerivation(TaskId),
    #[error(
        "its derivation now ({now}) is not the one its hash was computed from ({hashed}): the metadata changed while building"
    )]
    Changed { now: Basehash, hashed: Basehash },
    #[error(
        "is a Python task: without BitBake, rstore runs shell tasks and its own built-in tasks ([rstore-builtin]) \
         only; set RSTORE_BITBAKE_DIR (environment or conf/local.conf) to a BitBake checkout to run the layers' own tasks"
    )]
    PythonTask,
    #[error("writing {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Bitbake(#[from] crate::bitbake_run::BitbakeRunError),
    #[error(
        "asks for the network (its [network] flag), which only fetch tasks get: what a build step downloads is \
         checked by nothing; allow it explicitly with RSTORE_ALLOW_NETWORK += \"{pn}:{task}\" in conf/local.conf"
    )]
    NetworkNotAllowed { pn: String, task: String },
    #[error(
        "would write DL_DIR unchecked: rstore cannot name what BitBake's fetcher downloads for {urls}, so it cannot \
         check it before other recipes use it; allow it explicitly with RSTORE_ALLOW_UNCHECKED_FETCH += \"{pn}\" in \
         conf/local.conf"
    )]
    UncheckedFetch { pn: String, urls: String },
}

/// Whether `task` of `pn` gets the host network. Fetch tasks (`do_fetch`, whose outputs
/// are checked against the recipe's checksums) do when they ask; any other task asking
/// for it is refused unless `RSTORE_ALLOW_NETWORK` names it (`PN:do_task`, or `PN:*`).
fn network_policy(
    d: &Rc<crate::datastore::DataStore>,
    pn: &str,
    task: &str,
    asks: bool,
    fetch: bool,
) -> Result<bool, PlanError> {
    if !asks {
        return Ok(false);
    }
    if fetch {
        return Ok(true);
    }
    let allowed = d.get_str("RSTORE_ALLOW_NETWORK")?.unwrap_or_default();
    let named = allowed.split_whitespace().any(|entry| entry == format!("{pn}:{task}") || entry == format!("{pn}:*"));
    if named { Ok(true) } else { Err(PlanError::NetworkNotAllowed { pn: pn.to_owned(), task: task.to_owned() }) }
}

/// A parsed recipe file's variants and the Python context its parse left.
type ParsedFile = (Rc<Vec<Variant>>, Rc<crate::python::Snapshot>);

/// Prepares tasks of one graph for running.
pub struct BuildPlanner<'a> {
    build_dir: PathBuf,
    options: Options,
    graph: &'a TaskGraph,
    /// The basehash each node's taskhash was computed from.
    basehashes: Vec<Basehash>,
    session: RefCell<Option<Session>>,
    /// Each parsed recipe file's variants and the Python context its parse left (its
    /// `def` functions): restored before its values are expanded again, since parsing
    /// another recipe starts from the configuration's context.
    variants: RefCell<HashMap<PathBuf, ParsedFile>>,
    /// The derivations of each recipe of the graph (by its index), worked out once.
    derived: RefCell<HashMap<usize, Rc<crate::derive::RecipeDerivations>>>,
    /// The recipe file whose Python context is active.
    active: RefCell<Option<PathBuf>>,
    /// Host TMPDIR (for logs and the host tools directory).
    pub tmpdir: PathBuf,
    /// Host DL_DIR.
    pub downloads: PathBuf,
    depth: Vec<usize>,
    /// Each prepared task's log directory on the host (its `${T}`).
    log_dirs: RefCell<HashMap<NodeId, PathBuf>>,
    /// How tasks run with the user's BitBake, when they do.
    bitbake: Option<crate::bitbake_run::BitbakeRun>,
}

impl<'a> BuildPlanner<'a> {
    /// A planner for `graph`, whose nodes' taskhashes were computed from the basehashes
    /// of `build` (the graph [`build_graph`] made of it).
    pub fn new(
        build_dir: &Path,
        options: Options,
        graph: &'a TaskGraph,
        build: &BuildGraph,
        tmpdir: PathBuf,
        downloads: PathBuf,
    ) -> BuildPlanner<'a> {
        // Position of each task in its recipe's chain: later tasks' outputs are layered
        // on top of earlier ones.
        let order = graph.graph.topological_order().unwrap_or_default();
        let mut depth = vec![0usize; graph.graph.len()];
        for &i in &order {
            let r = graph.graph.node(i).recipe;
            let d = graph
                .graph
                .deps(i)
                .filter(|&j| graph.graph.node(j).recipe == r)
                .map(|j| depth[j] + 1)
                .max()
                .unwrap_or(0);
            depth[i] = d;
        }
        BuildPlanner {
            build_dir: build_dir.to_path_buf(),
            options,
            graph,
            basehashes: build.nodes().map(|(_, t)| t.basehash).collect(),
            session: RefCell::new(None),
            variants: RefCell::default(),
            derived: RefCell::default(),
            active: RefCell::default(),
            tmpdir,
            downloads,
            depth,
            log_dirs: RefCell::default(),
            bitbake: None,
        }
    }

    /// Run the layers' own tasks with the user's BitBake at `checkout` (rstore's
    /// built-ins stay rstore's); what the sandbox needs is written under `state_dir`.
    pub fn use_bitbake(&mut self, checkout: PathBuf, state_dir: &Path) -> Result<(), PlanError> {
        let config = self.with_session(|s| s.data().clone())?;
        let run = crate::bitbake_run::BitbakeRun::new(checkout, &config, &self.build_dir, state_dir)?;
        self.bitbake = Some(run);
        Ok(())
    }

    fn with_session<R>(&self, f: impl FnOnce(&Session) -> R) -> Result<R, SessionError> {
        if self.session.borrow().is_none() {
            let s = Session::open(&self.build_dir, &self.options)?;
            *self.session.borrow_mut() = Some(s);
        }
        match self.session.borrow().as_ref() {
            Some(s) => Ok(f(s)),
            None => unreachable!("opened above"),
        }
    }

    /// The parsed variant of a graph recipe, parsed once per build, with its Python
    /// context made the active one.
    fn recipe_variant(&self, recipe: usize) -> Result<(Rc<Vec<Variant>>, usize), PlanError> {
        let r = &self.graph.recipes[recipe];
        let cached = self.variants.borrow().get(&r.file).cloned();
        let runtime = crate::python::runtime()?;
        let variants = match cached {
            Some((v, context)) => {
                if self.active.borrow().as_ref() != Some(&r.file) {
                    runtime.restore(&context)?;
                }
                v
            }
            None => {
                let parsed = self.with_session(|s| s.parse_file(&r.file))??;
                let v = Rc::new(parsed.0);
                let context = Rc::new(runtime.snapshot()?);
                self.variants.borrow_mut().insert(r.file.clone(), (v.clone(), context));
                v
            }
        };
        *self.active.borrow_mut() = Some(r.file.clone());
        let i = variants
            .iter()
            .position(|v| v.name == r.variant)
            .ok_or_else(|| PlanError::NoVariant { file: r.file.clone(), variant: r.variant.clone() })?;
        if let Some(reason) = &variants[i].skipped {
            return Err(PlanError::Skipped { pn: r.pn.clone(), reason: reason.clone() });
        }
        Ok((variants, i))
    }

    /// The datastore of a graph recipe.
    fn recipe_data(&self, recipe: usize) -> Result<Rc<DataStore>, PlanError> {
        let (variants, i) = self.recipe_variant(recipe)?;
        Ok(variants[i].data.clone())
    }

    /// The derivations of a graph recipe's tasks, worked out once per build.
    fn recipe_derivations(&self, recipe: usize) -> Result<Rc<crate::derive::RecipeDerivations>, PlanError> {
        if let Some(d) = self.derived.borrow().get(&recipe) {
            return Ok(d.clone());
        }
        let (variants, i) = self.recipe_variant(recipe)?;
        let derived = Rc::new(self.with_session(|s| s.derive(&variants[i]))??);
        self.derived.borrow_mut().insert(recipe, derived.clone());
        Ok(derived)
    }

    fn prepare_task(
        &self,
        node: NodeId,
        outputs: &BTreeMap<NodeId, TreeDigest>,
        hashes: &NodeHashes<'_>,
    ) -> Result<Prepared, PlanError> {
        let n = self.graph.graph.node(node);
        let recipe = &self.graph.recipes[n.recipe];
        let task = n.task.as_str();
        if let Some(run) = &self.bitbake {
            let base = self.recipe_data(n.recipe)?;
            if !flag_is_set(&base, task, "rstore-builtin")? {
                return self.prepare_bitbake_task(run, node, outputs, hashes);
            }
        }
        let id = TaskId { recipe: recipe.pn.clone(), task: task.to_owned() };
        // The derivation the task runs from: the one its hash was computed from, with
        // its run file and what that sees unhashed.
        let derived = self.recipe_derivations(n.recipe)?;
        let base = self.recipe_data(n.recipe)?;
        let d = crate::runfile::sandbox_view(&base)?;
        let drv = derived.derivation_to_run(task, &d)?.ok_or_else(|| PlanError::NoDerivation(id.clone()))?;
        let now = drv.basehash();
        if now != self.basehashes[node] {
            return Err(PlanError::Changed { now, hashed: self.basehashes[node] });
        }
        let flag = |name: &str| -> Result<Option<String>, DataError> {
            Ok(d.get_var_flag(task, name, Read::EXPANDED)?
                .filter(|v| !matches!(v, crate::value::Value::None))
                .map(|v| v.to_string()))
        };
        let workdir = PathBuf::from(d.get_str("WORKDIR")?.unwrap_or_default());
        // Logs go where BitBake puts them, ${T}, under the host's TMPDIR.
        if let Some(t) = d.get_str("T")?
            && let Ok(rel) = Path::new(&t).strip_prefix(TMPDIR_INSIDE)
        {
            self.log_dirs.borrow_mut().insert(node, self.tmpdir.join(rel));
        }
        let dirs: Vec<String> = flag("dirs")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
        let cleandirs: Vec<String> =
            flag("cleandirs")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
        // The last [dirs] entry; without [dirs] BitBake does not change directory: the
        // work directory here.
        let cwd = dirs.last().cloned().unwrap_or_else(|| workdir.display().to_string());

        // The tasks of this recipe it follows, latest first.
        let mut same: Vec<NodeId> =
            self.graph.graph.deps(node).filter(|&j| self.graph.graph.node(j).recipe == n.recipe).collect();
        same.sort_by_key(|&j| std::cmp::Reverse(self.depth[j]));
        let lowers: Vec<TreeDigest> = same.iter().filter_map(|j| outputs.get(j).copied()).collect();

        let hosttools = self.tmpdir.join("hosttools");
        let mut binds = vec![Bind {
            host: hosttools,
            inside: PathBuf::from(format!("{TMPDIR_INSIDE}/hosttools")),
            writable: false,
        }];
        let sde = d.get_str("SOURCE_DATE_EPOCH")?.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        let builtin = flag("rstore-builtin")?;
        let mut inputs = Vec::new();
        let asks_network = flag_to_boolean(&d, task, "network")?;
        let mut fetch = task == "do_fetch";
        let action = if flag_is_set(&d, task, "noexec")? {
            Action::Noexec
        } else if let Some(name) = builtin {
            let mut ctx = BuildContext { downloads: self.downloads.clone(), ..BuildContext::default() };
            // Every task of another recipe it depends on or reads, mounted read-only,
            // with that recipe's datastore (to find what the task left where).
            for (&j, &root) in outputs {
                let dn = self.graph.graph.node(j);
                if dn.recipe == n.recipe {
                    continue;
                }
                let pn = &self.graph.recipes[dn.recipe].pn;
                let inside = PathBuf::from(format!("{DEPS_INSIDE}/{pn}/{}", dn.task));
                inputs.push((root, inside.clone()));
                ctx.deps.insert((pn.clone(), dn.task.clone()), inside);
                if !ctx.recipes.0.contains_key(pn) {
                    let data = self.recipe_data(dn.recipe)?;
                    ctx.recipes.0.insert(pn.clone(), data);
                }
            }
            // Reading other recipes switched the Python context: back to this one's.
            self.recipe_data(n.recipe)?;
            let request = crate::builtins::request(&name, &d, &ctx)?;
            binds.extend(request.binds());
            fetch |= request.network();
            Action::Builtin(request)
        } else if let Some(script) = drv.script {
            // BitBake writes the run file beside the log; so does rstore.
            if let Some(dir) = self.log_dirs.borrow().get(&node) {
                // Replaced, never written through: a task may have left a symlink there.
                let path = dir.join(format!("run.{task}"));
                std::fs::create_dir_all(dir)
                    .and_then(|()| match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    })
                    .and_then(|()| std::fs::File::create_new(&path))
                    .and_then(|mut f| std::io::Write::write_all(&mut f, script.as_bytes()))
                    .map_err(|source| PlanError::Io { path, source })?;
            }
            Action::Shell { script }
        } else {
            return Err(PlanError::PythonTask);
        };
        let pn = &self.graph.recipes[n.recipe].pn;
        let network = network_policy(&d, pn, task, asks_network, fetch)?;
        Ok(Prepared {
            workdir,
            cleandirs: cleandirs.iter().map(PathBuf::from).collect(),
            dirs: dirs.iter().map(PathBuf::from).collect(),
            cwd: PathBuf::from(cwd),
            lowers,
            inputs,
            binds,
            network,
            source_date_epoch: sde,
            ..Prepared::new(id, action)
        })
    }
}

impl BuildPlanner<'_> {
    /// BitBake's file name of a graph recipe as tasks see it.
    fn inside_target(&self, run: &crate::bitbake_run::BitbakeRun, recipe: usize) -> String {
        let r = &self.graph.recipes[recipe];
        let file = run.inside(&r.file).unwrap_or_else(|| r.file.clone()).display().to_string();
        match r.target.strip_suffix(&*r.file.to_string_lossy()) {
            Some(prefix) => format!("{prefix}{file}"),
            None => file,
        }
    }

    /// A task of the layers' own, run by the user's BitBake in the sandbox (see
    /// [`crate::bitbake_run`]): its work directory is TMPDIR, over the outputs of the
    /// recipe's earlier tasks and what other recipes' tasks it depends on left there.
    fn prepare_bitbake_task(
        &self,
        run: &crate::bitbake_run::BitbakeRun,
        node: NodeId,
        outputs: &BTreeMap<NodeId, TreeDigest>,
        hashes: &NodeHashes<'_>,
    ) -> Result<Prepared, PlanError> {
        use crate::bitbake_run::{
            BITBAKE_INSIDE, BOOKKEEPING, BUILDNAME, DATE, DRIVER, PYCACHE_INSIDE, SSTATE_DIR_INSIDE, TIME,
            TOPDIR_INSIDE, TaskDepEntry, TaskRequest,
        };
        let n = self.graph.graph.node(node);
        let recipe = &self.graph.recipes[n.recipe];
        let task = n.task.as_str();
        let id = TaskId { recipe: recipe.pn.clone(), task: task.to_owned() };
        // The derivation its hash was computed from must still be the recipe's.
        let derived = self.recipe_derivations(n.recipe)?;
        let drv = derived.derivation(task).ok_or_else(|| PlanError::NoDerivation(id.clone()))?;
        let now = drv.basehash();
        if now != self.basehashes[node] {
            return Err(PlanError::Changed { now, hashed: self.basehashes[node] });
        }
        let base = self.recipe_data(n.recipe)?;
        let view = crate::runfile::sandbox_view(&base)?;
        let hex = |j: NodeId| -> (String, String) {
            (
                hashes.taskhash[j].map(|h| h.to_hex()).unwrap_or_default(),
                hashes.unihash[j].map(|h| h.to_hex()).unwrap_or_default(),
            )
        };

        // BB_TASKDEPDATA: the task and everything below it, as the runqueue gives it.
        let closure = self.graph.graph.closure([node]);
        let mut per_recipe: HashMap<usize, (Vec<String>, String)> = HashMap::new();
        let mut taskdepdata = Vec::new();
        let tid = |j: NodeId| {
            let jn = self.graph.graph.node(j);
            format!("{}:{}", self.inside_target(run, jn.recipe), jn.task)
        };
        for (j, inside) in closure.iter().enumerate() {
            if !inside {
                continue;
            }
            let jn = self.graph.graph.node(j);
            if let std::collections::hash_map::Entry::Vacant(slot) = per_recipe.entry(jn.recipe) {
                let d = self.recipe_data(jn.recipe)?;
                let provides =
                    d.get_str("PROVIDES")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
                let hashfn = d.get_str("BB_HASHFILENAME")?.unwrap_or_default();
                slot.insert((provides, hashfn));
            }
            let (provides, hashfn) = per_recipe[&jn.recipe].clone();
            let deps: Vec<String> = self.graph.graph.deps(j).map(tid).collect();
            let (taskhash, unihash) = hex(j);
            taskdepdata.push(
                TaskDepEntry {
                    tid: tid(j),
                    pn: self.graph.recipes[jn.recipe].pn.clone(),
                    taskname: jn.task.clone(),
                    fn_: self.inside_target(run, jn.recipe),
                    deps: deps.clone(),
                    provides,
                    taskhash,
                    unihash,
                    hashfn,
                    taskhash_deps: deps,
                }
                .to_json(),
            );
        }
        // Back to this recipe's Python context after reading others.
        self.recipe_data(n.recipe)?;
        let (taskhash, unihash) = hex(node);
        // The cooker's part, done once per build (see BitbakeRun::build_start).
        let start = run.build_start(&self.tmpdir);
        let appends = self.with_session(|s| s.appends_for(&recipe.file))?;
        let request = TaskRequest {
            bitbake_lib: format!("{BITBAKE_INSIDE}/lib"),
            topdir: TOPDIR_INSIDE.to_owned(),
            postfiles: vec![format!("{TOPDIR_INSIDE}/conf/rstore.conf")],
            fn_: self.inside_target(run, n.recipe),
            task: task.to_owned(),
            taskhash,
            unihash,
            taskdepdata,
            appends: appends.iter().map(|a| run.inside(a).unwrap_or_else(|| a.clone()).display().to_string()).collect(),
            layername: recipe.layer.clone(),
            buildname: BUILDNAME.to_owned(),
            date: DATE.to_owned(),
            time: TIME.to_owned(),
            build_started: start.is_none(),
            pycache_prefix: run.bytecode().map(|_| PYCACHE_INSIDE.to_owned()),
            pycache_roots: run.bytecode_roots(),
        };
        let request =
            serde_json::to_string_pretty(&request).map_err(|e| PlanError::Data(DataError::Fatal(e.to_string())))?;

        // Logs: BitBake writes ${T}/log.do_X itself; ${T} is the host's.
        let t_inside = view.get_str("T")?.unwrap_or_default();
        let t_host = Path::new(&t_inside)
            .strip_prefix(TMPDIR_INSIDE)
            .map(|rel| self.tmpdir.join(rel))
            .map_err(|_| PlanError::Data(DataError::Fatal(format!("T = {t_inside} is not under TMPDIR"))))?;
        std::fs::create_dir_all(&t_host).map_err(|source| PlanError::Io { path: t_host.clone(), source })?;
        self.log_dirs.borrow_mut().insert(node, t_host.clone());

        // The recipe's earlier tasks, latest first; other recipes' tasks below them.
        let mut same: Vec<NodeId> =
            self.graph.graph.deps(node).filter(|&j| self.graph.graph.node(j).recipe == n.recipe).collect();
        same.sort_by_key(|&j| std::cmp::Reverse(self.depth[j]));
        let lowers: Vec<TreeDigest> = same.iter().filter_map(|j| outputs.get(j).copied()).collect();
        let below: Vec<TreeDigest> = outputs
            .iter()
            .filter(|(j, _)| self.graph.graph.node(**j).recipe != n.recipe)
            .map(|(_, root)| *root)
            .collect();

        let sstate_task = view.get_str("SSTATETASKS")?.unwrap_or_default().split_whitespace().any(|t| t == task);
        // sstate marks its tasks [network] for the setscene fetch rstore does not run.
        let asks_network = flag_to_boolean(&view, task, "network")? && !sstate_task;
        let network = network_policy(&view, &recipe.pn, task, asks_network, task == "do_fetch")?;
        let mut binds: Vec<Bind> = run
            .read_only_mounts()
            .into_iter()
            .chain(run.mirrors.iter().map(|m| (m.clone(), m.clone())))
            .map(|(host, inside)| Bind { host, inside, writable: false })
            .collect();
        binds.push(Bind { host: t_host, inside: PathBuf::from(&t_inside), writable: true });
        // do_fetch writes DL_DIR through a layer of its own: only the recipe's verified
        // downloads reach DL_DIR (rstore_evaluator::admit).
        let mut downloads = None;
        if task == "do_fetch" {
            let fetched = crate::builtins::fetch::fetched_by_bitbake(&view)?;
            if fetched.unchecked.is_empty() {
                downloads = Some(Admission {
                    downloads: self.downloads.clone(),
                    inside: PathBuf::from(DL_DIR_INSIDE),
                    files: fetched.files,
                    mirrors: run.mirrors.clone(),
                    clones: fetched.clones,
                });
            } else {
                let allowed = view.get_str("RSTORE_ALLOW_UNCHECKED_FETCH")?.unwrap_or_default();
                let urls = fetched.unchecked.join(" ");
                if !allowed.split_whitespace().any(|pn| pn == recipe.pn) {
                    return Err(PlanError::UncheckedFetch { pn: recipe.pn.clone(), urls });
                }
                tracing::warn!("{}:do_fetch writes DL_DIR unchecked (RSTORE_ALLOW_UNCHECKED_FETCH): {urls}", recipe.pn);
                binds.push(Bind { host: self.downloads.clone(), inside: PathBuf::from(DL_DIR_INSIDE), writable: true });
            }
        }
        std::fs::create_dir_all(&self.downloads)
            .map_err(|source| PlanError::Io { path: self.downloads.clone(), source })?;
        let action =
            Action::Shell { script: "exec python3 /rstore/run/run_task.py /rstore/run/request.json\n".to_owned() };
        Ok(Prepared {
            workdir: PathBuf::from(TMPDIR_INSIDE),
            cwd: PathBuf::from(TMPDIR_INSIDE),
            lowers,
            below,
            below_without: vec!["work".to_owned()],
            output_excludes: BOOKKEEPING.map(PathBuf::from).to_vec(),
            below_dirs: start.iter().map(|s| s.tmpdir.clone()).collect(),
            scratch_dirs: vec![PathBuf::from(TOPDIR_INSIDE), PathBuf::from(SSTATE_DIR_INSIDE)],
            // do_fetch writes the downloads; other tasks see them through a throwaway
            // layer (BitBake's fetcher takes lock files beside them).
            scratch_overlays: {
                let mut layers = Vec::new();
                if task != "do_fetch" {
                    layers.push((self.downloads.clone(), PathBuf::from(DL_DIR_INSIDE)));
                }
                if let Some(start) = &start {
                    layers.push((start.codeparser.clone(), PathBuf::from(format!("{TOPDIR_INSIDE}/cache"))));
                }
                layers
            },
            run_files: BTreeMap::from([
                ("run_task.py".to_owned(), DRIVER.to_owned()),
                ("request.json".to_owned(), request),
            ]),
            console_log: Some(self.log_dirs.borrow()[&node].join(format!("log.{task}.rstore"))),
            binds,
            network,
            downloads,
            ..Prepared::new(id, action)
        })
    }
}

impl Planner for BuildPlanner<'_> {
    fn prepare(
        &mut self,
        node: NodeId,
        outputs: &BTreeMap<NodeId, TreeDigest>,
        hashes: &NodeHashes<'_>,
    ) -> Result<Prepared, PrepareError> {
        self.prepare_task(node, outputs, hashes).map_err(|e| PrepareError {
            task: {
                let n = self.graph.graph.node(node);
                TaskId { recipe: self.graph.recipes[n.recipe].pn.clone(), task: n.task.clone() }
            },
            source: Box::new(e),
        })
    }

    fn log_path(&self, node: NodeId) -> PathBuf {
        let n = self.graph.graph.node(node);
        let pn = &self.graph.recipes[n.recipe].pn;
        let dir = self.log_dirs.borrow().get(&node).cloned();
        dir.unwrap_or_else(|| self.tmpdir.join("rstore-logs").join(pn)).join(format!("log.{}", n.task))
    }
}

/// The derivations of every task of a graph, with their dependencies, for saving as a
/// snapshot (`rstore graph --save`) and explaining hash changes (`rstore why`).
pub fn derivations(
    session: &Session,
    graph: &TaskGraph,
) -> Result<Vec<rstore_evaluator::derivation::Derivation>, PlanError> {
    let mut derived: HashMap<usize, crate::derive::RecipeDerivations> = HashMap::new();
    let mut parsed: HashMap<PathBuf, Vec<Variant>> = HashMap::new();
    for (i, r) in graph.recipes.iter().enumerate() {
        if !parsed.contains_key(&r.file) {
            let (variants, _, _) = session.parse_file(&r.file)?;
            parsed.insert(r.file.clone(), variants);
        }
        let v = parsed[&r.file]
            .iter()
            .find(|v| v.name == r.variant)
            .ok_or_else(|| PlanError::NoVariant { file: r.file.clone(), variant: r.variant.clone() })?;
        if v.skipped.is_some() {
            continue;
        }
        derived.insert(i, session.derive(v)?);
    }
    let mut out = Vec::with_capacity(graph.graph.len());
    for (i, n) in graph.graph.nodes() {
        let Some(rd) = derived.get(&n.recipe) else { continue };
        let Some(mut drv) = rd.derivation(&n.task) else { continue };
        drv.deps = graph
            .graph
            .deps(i)
            .map(|j| {
                let dn = graph.graph.node(j);
                TaskId { recipe: graph.recipes[dn.recipe].pn.clone(), task: dn.task.clone() }
            })
            .collect();
        out.push(drv);
    }
    Ok(out)
}
