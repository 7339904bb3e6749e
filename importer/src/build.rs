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

/// The graph's nodes for the realisation engine: ids, basehashes and dependencies.
pub fn nodes(graph: &TaskGraph, recipes: &[RecipeInfo]) -> Result<Vec<Node>, String> {
    let by_target: HashMap<&str, &RecipeInfo> = recipes.iter().map(|r| (r.target.as_str(), r)).collect();
    let mut out = Vec::with_capacity(graph.graph.len());
    for (i, n) in graph.graph.nodes() {
        let recipe = &graph.recipes[n.recipe];
        let info = by_target.get(recipe.target.as_str()).ok_or_else(|| format!("{} was not parsed", recipe.target))?;
        let basehash = info
            .tasks
            .iter()
            .find(|t| t.name == n.task)
            .and_then(|t| t.basehash.clone())
            .ok_or_else(|| format!("{} has no signature", graph.task_id(i)))?;
        out.push(Node {
            id: TaskId { recipe: recipe.pn.clone(), task: n.task.clone() },
            basehash,
            deps: graph.graph.deps(i).collect(),
        });
    }
    Ok(out)
}

/// Prepares tasks of one graph for running.
pub struct BuildPlanner<'a> {
    build_dir: PathBuf,
    options: Options,
    graph: &'a TaskGraph,
    session: RefCell<Option<Session>>,
    variants: RefCell<HashMap<PathBuf, Rc<Vec<Variant>>>>,
    /// Host TMPDIR (for logs and the host tools directory).
    pub tmpdir: PathBuf,
    /// Host DL_DIR.
    pub downloads: PathBuf,
    depth: Vec<usize>,
}

impl<'a> BuildPlanner<'a> {
    pub fn new(build_dir: &Path, options: Options, graph: &'a TaskGraph, tmpdir: PathBuf, downloads: PathBuf) -> BuildPlanner<'a> {
        // Position of each task in its recipe's chain: later tasks' outputs are layered
        // on top of earlier ones.
        let order = graph.graph.topological_order().unwrap_or_default();
        let mut depth = vec![0usize; graph.graph.len()];
        for &i in &order {
            let r = graph.graph.node(i).recipe;
            let d = graph.graph.deps(i).filter(|&j| graph.graph.node(j).recipe == r).map(|j| depth[j] + 1).max().unwrap_or(0);
            depth[i] = d;
        }
        BuildPlanner {
            build_dir: build_dir.to_path_buf(),
            options,
            graph,
            session: RefCell::new(None),
            variants: RefCell::default(),
            tmpdir,
            downloads,
            depth,
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
        let variants = match cached {
            Some(v) => v,
            None => {
                let parsed = self
                    .with_session(|s| s.parse_file(&r.file))
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let v = Rc::new(parsed.0);
                self.variants.borrow_mut().insert(r.file.clone(), v.clone());
                v
            }
        };
        let v = variants.iter().find(|v| v.name == r.variant).ok_or_else(|| format!("{} has no variant {}", r.file.display(), r.variant))?;
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
        let dirs: Vec<String> = flag("dirs")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
        let cleandirs: Vec<String> = flag("cleandirs")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
        let cwd = dirs.last().cloned().or_else(|| d.get_str("B").ok().flatten()).unwrap_or_else(|| workdir.display().to_string());

        // The tasks of this recipe it follows, latest first.
        let mut same: Vec<usize> = self.graph.graph.deps(node).filter(|&j| self.graph.graph.node(j).recipe == n.recipe).collect();
        same.sort_by_key(|&j| std::cmp::Reverse(self.depth[j]));
        let lowers: Vec<Digest> = same.iter().filter_map(|j| outputs.get(j).copied()).collect();

        let hosttools = self.tmpdir.join("hosttools");
        let mut binds = vec![Bind { host: hosttools, inside: PathBuf::from(format!("{TMPDIR_INSIDE}/hosttools")), writable: false }];
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
            for j in self.graph.graph.deps(node) {
                let dn = self.graph.graph.node(j);
                if dn.recipe == n.recipe {
                    continue;
                }
                if let Some(root) = outputs.get(&j) {
                    let pn = &self.graph.recipes[dn.recipe].pn;
                    let inside = PathBuf::from(format!("{DEPS_INSIDE}/{pn}/{}", dn.task));
                    inputs.push((*root, inside.clone()));
                    ctx.deps.insert((pn.clone(), dn.task.clone()), inside);
                }
            }
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
            Action::Shell { script: shell_script(&d, task, &dirs, &cleandirs, &cwd)? }
        };
        Ok(Prepared {
            id: TaskId { recipe: recipe.pn.clone(), task: task.to_owned() },
            action,
            workdir,
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
        self.tmpdir.join("rstore-logs").join(pn).join(format!("log.{}", n.task))
    }
}

fn is_shell_func(d: &Rc<DataStore>, name: &str) -> Result<bool, DataError> {
    let func = d.get_var_flag(name, "func", Read::RAW)?.is_some_and(|v| v.truthy());
    let python = d.get_var_flag(name, "python", Read::RAW)?.is_some_and(|v| v.truthy());
    Ok(func && !python)
}

/// BitBake's task run file: exported variables, the task function and every shell
/// function it reaches, then the task, run with `set -e` in its directory.
pub fn shell_script(d: &Rc<DataStore>, task: &str, dirs: &[String], cleandirs: &[String], cwd: &str) -> Result<String, DataError> {
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
    for f in d.get_var_flag(task, "prefuncs", Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace() {
        pending.push(f.to_owned());
    }
    for f in d.get_var_flag(task, "postfuncs", Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace() {
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
        for extra in d.get_var_flag(&f, "vardeps", Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace() {
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
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    for c in cleandirs {
        out.push_str(&format!("rm -rf {q}\nmkdir -p {q}\n", q = quote(c)));
    }
    for dir in dirs {
        out.push_str(&format!("mkdir -p {}\n", quote(dir)));
    }
    if let Some(umask) = d.get_var_flag(task, "umask", Read::EXPANDED)?.map(|v| v.to_string()) {
        out.push_str(&format!("umask {umask}\n"));
    }
    out.push_str(&format!("cd {}\n", quote(cwd)));
    let shell_list = |flag: &str| -> Result<Vec<String>, DataError> {
        let mut v = Vec::new();
        for f in d.get_var_flag(task, flag, Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default().split_whitespace() {
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
pub fn derivations(session: &Session, graph: &TaskGraph) -> Result<Vec<rstore_evaluator::derivation::Derivation>, String> {
    let mut derived: HashMap<usize, crate::derive::RecipeDerivations> = HashMap::new();
    let mut parsed: HashMap<PathBuf, Vec<Variant>> = HashMap::new();
    for (i, r) in graph.recipes.iter().enumerate() {
        if !parsed.contains_key(&r.file) {
            let (variants, _, _) = session.parse_file(&r.file).map_err(|e| e.to_string())?;
            parsed.insert(r.file.clone(), variants);
        }
        let v = parsed[&r.file].iter().find(|v| v.name == r.variant).ok_or_else(|| format!("{} has no variant {}", r.file.display(), r.variant))?;
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
