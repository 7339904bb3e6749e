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

use rstore_evaluator::builtin::Bind;
use rstore_evaluator::derivation::TaskId;
use rstore_evaluator::execute::{Action, Prepared};
use rstore_evaluator::realise::{Node, Planner};
use rstore_store::Digest;

use crate::builtins::BuildContext;
use crate::datastore::{DataError, DataStore, Read};
use crate::emit;
use crate::recipe::Variant;
use crate::session::{Options, RecipeInfo, Session, SessionError};
use crate::taskgraph::TaskGraph;
use crate::value::Value;

/// TMPDIR as tasks see it.
pub const TMPDIR_INSIDE: &str = "/rstore/tmp";
/// DL_DIR as tasks see it.
pub const DL_DIR_INSIDE: &str = "/rstore/downloads";
/// Where the outputs of other tasks are mounted for built-ins.
pub const DEPS_INSIDE: &str = "/rstore/deps";

/// Host environment variables BitBake exports into tasks; rstore keeps them out.
const HOST_ENV_EXPORTS: [&str; 7] = ["HOME", "LOGNAME", "PWD", "SHELL", "USER", "BBSERVER", "BB_TASKHASH"];

/// The graph's nodes for the realisation engine: ids, basehashes, dependencies, and
/// the tasks further below that built-ins read ([`crate::builtins::transitive_inputs`]).
pub fn nodes(graph: &TaskGraph, recipes: &[RecipeInfo]) -> Result<Vec<Node>, String> {
    let by_target: HashMap<&str, &RecipeInfo> = recipes.iter().map(|r| (r.target.as_str(), r)).collect();
    let mut out = Vec::with_capacity(graph.graph.len());
    for (i, n) in graph.graph.nodes() {
        let recipe = &graph.recipes[n.recipe];
        let info = by_target.get(recipe.target.as_str()).ok_or_else(|| format!("{} was not parsed", recipe.target))?;
        let task = info
            .tasks
            .iter()
            .find(|t| t.name == n.task)
            .ok_or_else(|| format!("{} is not a task of {}", n.task, recipe.target))?;
        let basehash = task.basehash.clone().ok_or_else(|| format!("{} has no signature", graph.task_id(i)))?;
        let deps: Vec<usize> = graph.graph.deps(i).collect();
        let wanted = task.builtin.as_deref().map(crate::builtins::transitive_inputs).unwrap_or_default();
        let reads = if wanted.is_empty() { Vec::new() } else { reachable(graph, i, wanted, &deps) };
        out.push(Node { id: TaskId { recipe: recipe.pn.clone(), task: n.task.clone() }, basehash, deps, reads });
    }
    Ok(out)
}

/// What each node of the graph publishes into shared areas (deploy directories).
pub fn publications(graph: &TaskGraph, recipes: &[RecipeInfo]) -> Vec<Vec<rstore_evaluator::publish::Publication>> {
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
/// its direct `deps`, in node order.
fn reachable(graph: &TaskGraph, node: usize, wanted: &[&str], deps: &[usize]) -> Vec<usize> {
    let own = graph.graph.node(node).recipe;
    let mut seen = BTreeSet::new();
    let mut stack: Vec<usize> = deps.to_vec();
    while let Some(j) = stack.pop() {
        if seen.insert(j) {
            stack.extend(graph.graph.deps(j));
        }
    }
    seen.into_iter()
        .filter(|&j| {
            let n = graph.graph.node(j);
            n.recipe != own && wanted.contains(&n.task.as_str()) && !deps.contains(&j)
        })
        .collect()
}

/// A parsed recipe file's variants and the Python context its parse left.
type ParsedFile = (Rc<Vec<Variant>>, Rc<crate::python::Snapshot>);

/// Prepares tasks of one graph for running.
pub struct BuildPlanner<'a> {
    build_dir: PathBuf,
    options: Options,
    graph: &'a TaskGraph,
    session: RefCell<Option<Session>>,
    /// Each parsed recipe file's variants and the Python context its parse left (its
    /// `def` functions): restored before its values are expanded again, since parsing
    /// another recipe starts from the configuration's context.
    variants: RefCell<HashMap<PathBuf, ParsedFile>>,
    /// The recipe file whose Python context is active.
    active: RefCell<Option<PathBuf>>,
    /// Host TMPDIR (for logs and the host tools directory).
    pub tmpdir: PathBuf,
    /// Host DL_DIR.
    pub downloads: PathBuf,
    depth: Vec<usize>,
    /// Each prepared task's log directory on the host (its `${T}`).
    log_dirs: RefCell<HashMap<usize, PathBuf>>,
}

impl<'a> BuildPlanner<'a> {
    pub fn new(
        build_dir: &Path,
        options: Options,
        graph: &'a TaskGraph,
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
            session: RefCell::new(None),
            variants: RefCell::default(),
            active: RefCell::default(),
            tmpdir,
            downloads,
            depth,
            log_dirs: RefCell::default(),
        }
    }

    fn with_session<R>(&self, f: impl FnOnce(&Session) -> R) -> Result<R, SessionError> {
        if self.session.borrow().is_none() {
            let s = Session::open(&self.build_dir, &self.options)?;
            *self.session.borrow_mut() = Some(s);
        }
        Ok(f(self.session.borrow().as_ref().expect("opened above")))
    }

    /// The datastore of a graph recipe, parsed once per build.
    fn recipe_data(&self, recipe: usize) -> Result<Rc<DataStore>, String> {
        let r = &self.graph.recipes[recipe];
        let cached = self.variants.borrow().get(&r.file).cloned();
        let runtime = crate::python::runtime().map_err(|e| e.to_string())?;
        let variants = match cached {
            Some((v, context)) => {
                if self.active.borrow().as_ref() != Some(&r.file) {
                    runtime.restore(&context).map_err(|e| e.to_string())?;
                }
                v
            }
            None => {
                let parsed = self
                    .with_session(|s| s.parse_file(&r.file))
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let v = Rc::new(parsed.0);
                let context = Rc::new(runtime.snapshot().map_err(|e| e.to_string())?);
                self.variants.borrow_mut().insert(r.file.clone(), (v.clone(), context));
                v
            }
        };
        *self.active.borrow_mut() = Some(r.file.clone());
        let v = variants
            .iter()
            .find(|v| v.name == r.variant)
            .ok_or_else(|| format!("{} has no variant {}", r.file.display(), r.variant))?;
        if let Some(reason) = &v.skipped {
            return Err(format!("{} is skipped: {reason}", r.pn));
        }
        Ok(v.data.clone())
    }

    fn prepare_task(&self, node: usize, outputs: &HashMap<usize, Digest>) -> Result<Prepared, DataError> {
        let n = self.graph.graph.node(node);
        let recipe = &self.graph.recipes[n.recipe];
        let base = self.recipe_data(n.recipe).map_err(DataError::Fatal)?;
        let d = base.create_copy();
        d.set_var("TMPDIR", Value::str(TMPDIR_INSIDE), false, None, "set")?;
        d.set_var("DL_DIR", Value::str(DL_DIR_INSIDE), false, None, "set")?;
        for v in HOST_ENV_EXPORTS {
            d.del_var_flag(v, "export", None);
        }
        let task = n.task.as_str();
        let flag = |name: &str| -> Result<Option<String>, DataError> {
            Ok(d.get_var_flag(task, name, Read::EXPANDED)?.filter(|v| !matches!(v, Value::None)).map(|v| v.to_string()))
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
        let mut same: Vec<usize> =
            self.graph.graph.deps(node).filter(|&j| self.graph.graph.node(j).recipe == n.recipe).collect();
        same.sort_by_key(|&j| std::cmp::Reverse(self.depth[j]));
        let lowers: Vec<Digest> = same.iter().filter_map(|j| outputs.get(j).copied()).collect();

        let hosttools = self.tmpdir.join("hosttools");
        let mut binds = vec![Bind {
            host: hosttools,
            inside: PathBuf::from(format!("{TMPDIR_INSIDE}/hosttools")),
            writable: false,
        }];
        let sde = d.get_str("SOURCE_DATE_EPOCH")?.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        let builtin = flag("rstore-builtin")?;
        let noexec = flag("noexec")?.is_some_and(|v| !v.is_empty() && v != "0");
        let python = flag("python")?.is_some_and(|v| !v.is_empty() && v != "0");
        let mut inputs = Vec::new();
        let mut network = flag("network")?.is_some_and(|v| v == "1");
        let action = if noexec {
            Action::Noexec
        } else if let Some(name) = builtin {
            let mut ctx = BuildContext { downloads: self.downloads.clone(), ..BuildContext::default() };
            // Every task of another recipe it depends on or reads, mounted read-only,
            // with that recipe's datastore (to find what the task left where).
            let mut others: Vec<usize> =
                outputs.keys().copied().filter(|&j| self.graph.graph.node(j).recipe != n.recipe).collect();
            others.sort_unstable();
            for j in others {
                let dn = self.graph.graph.node(j);
                let pn = &self.graph.recipes[dn.recipe].pn;
                let inside = PathBuf::from(format!("{DEPS_INSIDE}/{pn}/{}", dn.task));
                inputs.push((outputs[&j], inside.clone()));
                ctx.deps.insert((pn.clone(), dn.task.clone()), inside);
                if !ctx.recipes.0.contains_key(pn) {
                    let data = self.recipe_data(dn.recipe).map_err(DataError::Fatal)?;
                    ctx.recipes.0.insert(pn.clone(), data);
                }
            }
            // Reading other recipes switched the Python context: back to this one's.
            self.recipe_data(n.recipe).map_err(DataError::Fatal)?;
            let request = crate::builtins::request(&name, &d, &ctx)?;
            binds.extend(request.binds());
            network |= request.network();
            Action::Builtin(request)
        } else if python {
            return Err(DataError::Fatal(format!(
                "{}:{task} is a Python task: rstore runs shell tasks and its own built-in tasks ([rstore-builtin]) only",
                recipe.pn
            )));
        } else {
            Action::Shell { script: shell_script(&d, task)? }
        };
        Ok(Prepared {
            id: TaskId { recipe: recipe.pn.clone(), task: task.to_owned() },
            action,
            workdir,
            cleandirs: cleandirs.iter().map(PathBuf::from).collect(),
            dirs: dirs.iter().map(PathBuf::from).collect(),
            cwd: PathBuf::from(cwd),
            lowers,
            inputs,
            binds,
            env: BTreeMap::new(),
            network,
            source_date_epoch: sde,
            parallelism: None,
            time_limit: None,
        })
    }
}

impl Planner for BuildPlanner<'_> {
    fn prepare(&mut self, node: usize, outputs: &HashMap<usize, Digest>) -> Result<Prepared, String> {
        self.prepare_task(node, outputs).map_err(|e| format!("{}: {e}", self.graph.task_id(node)))
    }

    fn log_path(&self, node: usize) -> PathBuf {
        let n = self.graph.graph.node(node);
        let pn = &self.graph.recipes[n.recipe].pn;
        let dir = self.log_dirs.borrow().get(&node).cloned();
        dir.unwrap_or_else(|| self.tmpdir.join("rstore-logs").join(pn)).join(format!("log.{}", n.task))
    }
}

fn is_shell_func(d: &Rc<DataStore>, name: &str) -> Result<bool, DataError> {
    let func = d.get_var_flag(name, "func", Read::RAW)?.is_some_and(|v| v.truthy());
    let python = d.get_var_flag(name, "python", Read::RAW)?.is_some_and(|v| v.truthy());
    Ok(func && !python)
}

/// BitBake's task run file: exported variables, the task function and every shell
/// function it reaches, then the task, run with `set -e` (the engine creates the
/// task's `[dirs]` and enters the last one first).
pub fn shell_script(d: &Rc<DataStore>, task: &str) -> Result<String, DataError> {
    let mut out = String::from("#!/bin/sh\n# rstore task script\nset -e\n\n");
    for key in d.keys()?.iter() {
        if key.starts_with("__") || d.get_var_flag(key, "func", Read::RAW)?.is_some_and(|v| v.truthy()) {
            continue;
        }
        if let Some(text) = emit::emit_var(d, key, false)? {
            out.push_str(&text);
        }
    }
    out.push('\n');
    // The task and the shell functions it calls, transitively.
    let mut pending: Vec<String> = vec![task.to_owned()];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut funcs: Vec<String> = Vec::new();
    for f in
        d.get_var_flag(task, "prefuncs", Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace()
    {
        pending.push(f.to_owned());
    }
    for f in
        d.get_var_flag(task, "postfuncs", Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace()
    {
        pending.push(f.to_owned());
    }
    while let Some(f) = pending.pop() {
        if !seen.insert(f.clone()) || !is_shell_func(d, &f)? {
            continue;
        }
        let body = d.get_str(&f)?.unwrap_or_default();
        for called in crate::shell::executed_commands(&body) {
            pending.push(called);
        }
        for extra in
            d.get_var_flag(&f, "vardeps", Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace()
        {
            pending.push(extra.to_owned());
        }
        funcs.push(f);
    }
    funcs.sort();
    for f in &funcs {
        if let Some(text) = emit::emit_var(d, f, false)? {
            out.push_str(&text);
            out.push('\n');
        }
    }
    if let Some(umask) = d.get_var_flag(task, "umask", Read::EXPANDED)?.map(|v| v.to_string()) {
        out.push_str(&format!("umask {umask}\n"));
    }
    let shell_list = |flag: &str| -> Result<Vec<String>, DataError> {
        let mut v = Vec::new();
        for f in
            d.get_var_flag(task, flag, Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace()
        {
            if is_shell_func(d, f)? {
                v.push(f.to_owned());
            }
        }
        Ok(v)
    };
    for f in shell_list("prefuncs")? {
        out.push_str(&format!("{f}\n"));
    }
    out.push_str(&format!("{task}\n"));
    for f in shell_list("postfuncs")? {
        out.push_str(&format!("{f}\n"));
    }
    Ok(out)
}

/// The derivations of every task of a graph, with their dependencies, for saving as a
/// snapshot (`rstore graph --save`) and explaining hash changes (`rstore why`).
pub fn derivations(
    session: &Session,
    graph: &TaskGraph,
) -> Result<Vec<rstore_evaluator::derivation::Derivation>, String> {
    let mut derived: HashMap<usize, crate::derive::RecipeDerivations> = HashMap::new();
    let mut parsed: HashMap<PathBuf, Vec<Variant>> = HashMap::new();
    for (i, r) in graph.recipes.iter().enumerate() {
        if !parsed.contains_key(&r.file) {
            let (variants, _, _) = session.parse_file(&r.file).map_err(|e| e.to_string())?;
            parsed.insert(r.file.clone(), variants);
        }
        let v = parsed[&r.file]
            .iter()
            .find(|v| v.name == r.variant)
            .ok_or_else(|| format!("{} has no variant {}", r.file.display(), r.variant))?;
        if v.skipped.is_some() {
            continue;
        }
        derived.insert(i, session.derive(v).map_err(|e| format!("{}: {e}", r.pn))?);
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
