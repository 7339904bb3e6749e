//! From targets to the task graph BitBake would run (`bitbake -g`).
//!
//! Two stages, as in BitBake:
//!
//! 1. **Providers**: each target names a build-time provider; every
//!    recipe brought in adds its `DEPENDS`, `[depends]` entries, `RDEPENDS` and
//!    `RRECOMMENDS` of its packages and `[rdepends]` entries, and each of those names is
//!    resolved to providers in turn ([`crate::providers`]), until nothing new appears.
//!    Every eligible provider is brought in; the first one is used for edges.
//! 2. **Edges**: within a recipe the `addtask … after/before` ordering; across recipes
//!    `[deptask]` (that task of every `DEPENDS` provider), `[rdeptask]` (of every run-time
//!    provider), `[depends]` / `[rdepends]` (`name:do_task`), and `[recrdeptask]` (that
//!    task of everything reachable, recursively, extended through `[recideptask]`).
//!    Then only the tasks the targets need are kept.
//!
//! A name nothing provides, a name several recipes provide with nothing to choose
//! between them, two recipes due to be built for the same name, and a dependency cycle
//! are errors that name the chain of recipes that led there.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

use rstore_evaluator::graph::{CycleError, Graph, NodeId};
use serde::Serialize;

use crate::providers::{ProviderConfig, ProviderIndex, RecipeId};
use crate::session::RecipeInfo;

/// Reports what the task graph computation notices along the way.
pub trait Reporter {
    /// Something the user should fix but that does not stop the graph.
    fn warning(&self, _message: &str) {}
    /// Something worth knowing (e.g. several providers, the first one chosen).
    fn note(&self, _message: &str) {}
}

/// A reporter that says nothing.
pub struct Quiet;
impl Reporter for Quiet {}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Targets: a name some recipe provides (`busybox`, `virtual/kernel`,
    /// `zstd-native`), optionally with a task (`zstd-native:do_install`); a task ending
    /// in `-` means only what that task depends on. `world` is every recipe that is not
    /// excluded from it and provides nothing another recipe also provides.
    pub targets: Vec<String>,
    /// The task for targets without one [default: BB_DEFAULT_TASK, else `do_build`].
    pub task: Option<String>,
}

/// One recipe of the graph.
#[derive(Debug, Clone, Serialize)]
pub struct GraphRecipe {
    pub pn: String,
    /// BitBake's file name: the `.bb` path, `virtual:VARIANT:` first for variants.
    pub target: String,
    pub file: PathBuf,
    pub variant: String,
    pub layer: Option<String>,
    /// `PE:PV-PR`.
    pub version: String,
}

/// One task of the graph.
#[derive(Debug, Clone, Serialize)]
pub struct TaskNode {
    /// Index into [`TaskGraph::recipes`].
    pub recipe: usize,
    pub task: String,
    /// `[noexec]`: runs nothing, only orders.
    pub noexec: bool,
    /// `[nostamp]`: never considered up to date.
    pub nostamp: bool,
    /// `[fakeroot]`: runs under (pseudo-)root.
    pub fakeroot: bool,
}

/// The tasks the targets need, with their dependencies.
#[derive(Debug, Clone)]
pub struct TaskGraph {
    pub recipes: Vec<GraphRecipe>,
    /// Nodes sorted by recipe PN, then task name; an edge `a → b`: a runs after b.
    pub graph: Graph<TaskNode>,
    /// The tasks asked for.
    pub targets: Vec<NodeId>,
    /// Build-time names resolved to a recipe of the graph whose PN differs from the name
    /// (`virtual/kernel` → `linux-yocto`).
    pub providers: BTreeMap<String, String>,
}

impl TaskGraph {
    /// `pn:do_task` of a node.
    pub fn task_id(&self, id: NodeId) -> String {
        let n = self.graph.node(id);
        format!("{}:{}", self.recipes[n.recipe].pn, n.task)
    }

    /// The node of `pn:do_task`, if present.
    pub fn find(&self, pn: &str, task: &str) -> Option<NodeId> {
        self.graph.nodes().find(|(_, n)| n.task == task && self.recipes[n.recipe].pn == pn).map(|(i, _)| i)
    }
}

/// How a recipe asked for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Named on the command line.
    Target,
    Depends,
    Rdepends,
    Rrecommends,
    /// A `[depends]` flag entry of this task.
    TaskDepends(String),
    /// A `[rdepends]` flag entry of this task.
    TaskRdepends(String),
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Target => f.write_str("target"),
            Via::Depends => f.write_str("DEPENDS"),
            Via::Rdepends => f.write_str("RDEPENDS"),
            Via::Rrecommends => f.write_str("RRECOMMENDS"),
            Via::TaskDepends(t) => write!(f, "{t}[depends]"),
            Via::TaskRdepends(t) => write!(f, "{t}[rdepends]"),
        }
    }
}

/// One step of a chain of dependents: `pn` wanted `name` through `via`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub pn: String,
    pub via: Via,
    pub name: String,
}

/// A chain from a target to the recipe that wanted a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain(pub Vec<Hop>);

impl fmt::Display for Chain {
    /// `core-image-minimal -> packagegroup-core-boot (RDEPENDS) -> busybox (RDEPENDS) -> 'foo' (DEPENDS)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, hop) in self.0.iter().enumerate() {
            if i == 0 {
                write!(f, "{}", hop.pn)?;
                if hop.via == Via::Target {
                    match hop.name == hop.pn {
                        true => f.write_str(" (target)")?,
                        false => write!(f, " (target {})", hop.name)?,
                    }
                }
                continue;
            }
            let prev = &self.0[i - 1];
            if hop.pn == prev.name {
                write!(f, " -> {} ({})", hop.pn, prev.via)?;
            } else {
                write!(f, " -> {} ({} {})", hop.pn, prev.via, prev.name)?;
            }
        }
        if let Some(last) = self.0.last()
            && last.via != Via::Target
        {
            write!(f, " -> '{}' ({})", last.name, last.via)?;
        }
        Ok(())
    }
}

/// A name that cannot be resolved, or resolves ambiguously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nothing provides a build-time (`runtime == false`) or run-time name.
    NothingProvides {
        name: String,
        runtime: bool,
        /// PNs of the recipes that want the name.
        dependees: Vec<String>,
        /// Why recipes that would provide it do not (skipped, no eligible version).
        reasons: Vec<String>,
        close_matches: Vec<String>,
        /// How a target led to it (empty for a target itself).
        chain: Chain,
    },
    /// Conflicting PREFERRED_PROVIDER entries pick several run-time providers.
    ConflictingPreferences { name: String, providers: Vec<String>, entries: Vec<String>, chain: Chain },
    /// Several recipes provide a name a recipe to be built needs, and nothing says which
    /// one to take (BitBake takes the first by layer priority, version and name).
    Ambiguous { name: String, runtime: bool, candidates: Vec<String>, chain: Chain },
    /// Several recipes that provide the same name are due to be built.
    SeveralProviders { name: String, providers: Vec<(String, Chain)> },
    /// Several versions of one PN are due to be built.
    SeveralVersions { pn: String, files: Vec<String> },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NothingProvides { name, runtime, dependees, reasons, close_matches, chain } => {
                let r = if *runtime { "R" } else { "" };
                write!(f, "Nothing {r}PROVIDES '{name}'")?;
                if !dependees.is_empty() {
                    write!(f, " (but {} {r}DEPENDS on or otherwise requires it)", dependees.join(", "))?;
                }
                if !chain.0.is_empty() {
                    write!(f, "\n  wanted through: {chain}")?;
                }
                for reason in reasons {
                    write!(f, "\n  {reason}")?;
                }
                if reasons.is_empty() && !close_matches.is_empty() {
                    write!(f, "\n  close matches: {}", close_matches.join(", "))?;
                }
                Ok(())
            }
            Problem::ConflictingPreferences { name, providers, entries, chain } => {
                write!(
                    f,
                    "resolving the run-time dependency '{name}' found conflicting PREFERRED_PROVIDER entries \
                     ({}), choosing between {}; set PREFERRED_RPROVIDER_{name}",
                    entries.join(", "),
                    providers.join(", ")
                )?;
                if !chain.0.is_empty() {
                    write!(f, "\n  wanted through: {chain}")?;
                }
                Ok(())
            }
            Problem::Ambiguous { name, runtime, candidates, chain } => {
                let (kind, var) =
                    if *runtime { ("runtime ", "PREFERRED_RPROVIDER") } else { ("", "PREFERRED_PROVIDER") };
                write!(
                    f,
                    "several recipes provide {kind}'{name}' and none is preferred: {}; choose one with {var}_{name} \
                     (BitBake would take {})",
                    candidates.join(", "),
                    candidates.first().map(String::as_str).unwrap_or_default()
                )?;
                if !chain.0.is_empty() {
                    write!(f, "\n  wanted through: {chain}")?;
                }
                Ok(())
            }
            Problem::SeveralProviders { name, providers } => {
                write!(
                    f,
                    "several recipes providing '{name}' are due to be built: {}; choose one with \
                     PREFERRED_PROVIDER_{name} (or list it in BB_MULTI_PROVIDER_ALLOWED)",
                    providers.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>().join(", ")
                )?;
                for (pn, chain) in providers {
                    write!(f, "\n  {pn} is wanted through: {chain}")?;
                }
                Ok(())
            }
            Problem::SeveralVersions { pn, files } => write!(
                f,
                "several versions of {pn} are due to be built ({}); set PREFERRED_VERSION_{pn} to choose one",
                files.join(" ")
            ),
        }
    }
}

/// Why no task graph could be made.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("nothing to build: no targets given")]
    NoTargets,
    #[error("multiconfig target {0} is not supported")]
    Multiconfig(String),
    #[error("{}", problems_text(.0))]
    Unresolved(Vec<Problem>),
    #[error("{recipe}: {task}[{flag}] entry {entry:?} must be RECIPE:TASK (exactly one ':')")]
    BadTaskReference { recipe: String, task: String, flag: &'static str, entry: String },
    #[error("task {task} of {recipe} {flag} on {wanted} of {provider}, which has no such task")]
    MissingTask { recipe: String, task: String, flag: &'static str, wanted: String, provider: String },
    #[error("task {task} does not exist for target {target} ({file}){}", close_text(.close))]
    NoSuchTask { target: String, task: String, file: String, close: Vec<String> },
    #[error("{recipe}: calculate_extra_depends failed: {message}")]
    ExtraDepends { recipe: String, message: String },
    #[error("the targets need no task (all of them are in ASSUME_PROVIDED)")]
    NothingToDo,
    #[error(transparent)]
    Cycle(#[from] CycleError),
}

fn problems_text(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

fn close_text(close: &[String]) -> String {
    if close.is_empty() { String::new() } else { format!("; close matches: {}", close.join(", ")) }
}

/// A small, fast hasher for integer keys (no untrusted input reaches it).
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type IdSet = HashSet<Tid, BuildHasherDefault<IdHasher>>;

/// Index of a task entry.
type Tid = u32;

/// One task of a recipe brought in by provider resolution.
struct Entry {
    recipe: RecipeId,
    /// Index into the recipe's task list.
    task: usize,
    name: u32,
    /// Tasks of the same recipe it runs after.
    tdepends: Vec<Tid>,
    /// `[depends]`: (build-time name, task name).
    idepends: Vec<(String, String)>,
    /// `[rdepends]`: (run-time name, task name).
    irdepends: Vec<(String, String)>,
}

/// Provider resolution state (BitBake's `TaskData`).
struct TaskData<'i, 'a> {
    index: &'i ProviderIndex<'a>,
    reporter: &'i dyn Reporter,
    task_names: Vec<String>,
    task_name_ids: HashMap<String, u32>,
    /// Build-time name → providers, best first (empty: not resolved yet).
    build_targets: indexmap::IndexMap<String, Vec<RecipeId>>,
    run_targets: indexmap::IndexMap<String, Vec<RecipeId>>,
    seen: HashSet<RecipeId>,
    /// Recipes in the order they were brought in.
    order: Vec<RecipeId>,
    entries: Vec<Entry>,
    tid_of: HashMap<(RecipeId, u32), Tid>,
    depids: HashMap<RecipeId, Vec<String>>,
    rdepids: HashMap<RecipeId, Vec<(String, bool)>>,
    failed_build: HashSet<String>,
    failed_run: HashSet<String>,
    noted: HashSet<String>,
    problems: Vec<Problem>,
    /// Names with several eligible providers and no preference: (name, run time?, providers).
    ambiguous: Vec<(String, bool, Vec<RecipeId>)>,
    /// The `world` PNs, made when first needed.
    world: Option<Vec<String>>,
}

impl<'i, 'a> TaskData<'i, 'a> {
    fn new(index: &'i ProviderIndex<'a>, reporter: &'i dyn Reporter) -> Self {
        TaskData {
            index,
            reporter,
            task_names: Vec::new(),
            task_name_ids: HashMap::new(),
            build_targets: indexmap::IndexMap::new(),
            run_targets: indexmap::IndexMap::new(),
            seen: HashSet::new(),
            order: Vec::new(),
            entries: Vec::new(),
            tid_of: HashMap::new(),
            depids: HashMap::new(),
            rdepids: HashMap::new(),
            failed_build: HashSet::new(),
            failed_run: HashSet::new(),
            noted: HashSet::new(),
            problems: Vec::new(),
            ambiguous: Vec::new(),
            world: None,
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.task_name_ids.get(name) {
            return id;
        }
        let id = self.task_names.len() as u32;
        self.task_names.push(name.to_owned());
        self.task_name_ids.insert(name.to_owned(), id);
        id
    }

    fn tid(&self, recipe: RecipeId, task: &str) -> Option<Tid> {
        let name = *self.task_name_ids.get(task)?;
        self.tid_of.get(&(recipe, name)).copied()
    }

    fn pn(&self, recipe: RecipeId) -> &'a str {
        self.index.recipe(recipe).pn
    }

    /// Bring in the tasks of a recipe and note the names it needs (`add_tasks`).
    fn add_tasks(&mut self, recipe: RecipeId) -> Result<(), GraphError> {
        if !self.seen.insert(recipe) {
            return Ok(());
        }
        self.order.push(recipe);
        let c = self.index.recipe(recipe);
        let info = c.info;
        let first = self.entries.len() as Tid;
        for (index, task) in info.tasks.iter().enumerate() {
            let name = self.intern(&task.name);
            if self.tid_of.contains_key(&(recipe, name)) {
                continue;
            }
            let tid = self.entries.len() as Tid;
            self.tid_of.insert((recipe, name), tid);
            self.entries.push(Entry {
                recipe,
                task: index,
                name,
                tdepends: Vec::new(),
                idepends: Vec::new(),
                irdepends: Vec::new(),
            });
        }
        for (index, task) in info.tasks.iter().enumerate() {
            let Some(tid) = self.tid(recipe, &task.name) else { continue };
            if tid < first || self.entries[tid as usize].task != index {
                continue;
            }
            let parents: Vec<Tid> = task.deps.iter().filter_map(|d| self.tid(recipe, d)).collect();
            let mut idepends = Vec::new();
            let mut irdepends = Vec::new();
            for (flag, out) in [("depends", &mut idepends), ("rdepends", &mut irdepends)] {
                for entry in task.flag(flag).unwrap_or_default().split_whitespace() {
                    let mut parts = entry.split(':');
                    let (Some(name), Some(t), None) = (parts.next(), parts.next(), parts.next()) else {
                        return Err(GraphError::BadTaskReference {
                            recipe: c.pn.to_owned(),
                            task: task.name.clone(),
                            flag,
                            entry: entry.to_owned(),
                        });
                    };
                    out.push((name.to_owned(), t.to_owned()));
                }
            }
            for (name, _) in &idepends {
                self.build_targets.entry(name.clone()).or_default();
            }
            for (name, _) in &irdepends {
                self.run_targets.entry(name.clone()).or_default();
            }
            let e = &mut self.entries[tid as usize];
            e.tdepends = parents;
            e.idepends = idepends;
            e.irdepends = irdepends;
        }
        let mut wanted = info.providers.depends.clone();
        if let Some(code) = &info.providers.extra_depends {
            let index = self.index;
            let world = self.world.get_or_insert_with(|| world_targets(index, None));
            wanted = extra::calculate(code, c.pn, wanted, world, index)
                .map_err(|e| GraphError::ExtraDepends { recipe: c.pn.to_owned(), message: e.to_string() })?;
        }
        let mut depends: Vec<String> = Vec::new();
        for d in wanted {
            if !depends.contains(&d) {
                depends.push(d);
            }
        }
        let rdepends: Vec<(String, bool)> =
            info.providers.all_rdepends().into_iter().map(|(n, rec)| (n.to_owned(), rec)).collect();
        for d in &depends {
            self.build_targets.entry(d.clone()).or_default();
        }
        for (d, _) in &rdepends {
            self.run_targets.entry(d.clone()).or_default();
        }
        self.depids.insert(recipe, depends);
        self.rdepids.insert(recipe, rdepends);
        Ok(())
    }

    fn note_once(&mut self, key: String, message: impl FnOnce() -> String) {
        if self.noted.insert(key) {
            self.reporter.note(&message());
        }
    }

    /// Resolve a build-time name to its providers and bring them in. Returns whether
    /// the name has providers (or needs none).
    fn add_provider(&mut self, item: &str) -> Result<bool, GraphError> {
        if self.index.is_assumed(item) {
            return Ok(true);
        }
        if self.build_targets.get(item).is_some_and(|p| !p.is_empty()) {
            return Ok(true);
        }
        let Some(all) = self.index.build_providers(item) else {
            self.fail(item, false, Vec::new());
            return Ok(false);
        };
        let (eligible, unique) = self.index.filter_build(all, item);
        if eligible.is_empty() {
            self.fail(item, false, vec![format!("No eligible PROVIDERs exist for '{item}'")]);
            return Ok(false);
        }
        if eligible.len() > 1 && !unique {
            self.ambiguous.push((item.to_owned(), false, eligible.clone()));
            let names: Vec<&str> = eligible.iter().map(|&f| self.pn(f)).collect();
            self.note_once(format!("b:{item}"), || {
                format!(
                    "Multiple providers are available for {item} ({}); consider defining a PREFERRED_PROVIDER entry \
                     to match {item}",
                    names.join(", ")
                )
            });
        }
        for f in eligible {
            let list = self.build_targets.entry(item.to_owned()).or_default();
            if !list.contains(&f) {
                list.push(f);
            }
            self.add_tasks(f)?;
        }
        Ok(true)
    }

    /// Resolve a run-time name to its providers and bring them in.
    fn add_rprovider(&mut self, item: &str) -> Result<bool, GraphError> {
        if self.index.is_assumed(item) {
            return Ok(true);
        }
        if self.run_targets.get(item).is_some_and(|p| !p.is_empty()) {
            return Ok(true);
        }
        let all = self.index.runtime_providers(item);
        if all.is_empty() {
            self.fail(item, true, Vec::new());
            return Ok(false);
        }
        let (eligible, preferred_by) = self.index.filter_runtime(&all, item);
        if eligible.is_empty() {
            self.fail(item, true, vec![format!("No eligible RPROVIDERs exist for '{item}'")]);
            return Ok(false);
        }
        if eligible.len() > 1 && preferred_by.is_empty() {
            self.ambiguous.push((item.to_owned(), true, eligible.clone()));
            let names: Vec<&str> = eligible.iter().map(|&f| self.pn(f)).collect();
            self.note_once(format!("r:{item}"), || {
                format!(
                    "Multiple providers are available for runtime {item} ({}); consider defining a \
                     PREFERRED_RPROVIDER entry to match {item}",
                    names.join(", ")
                )
            });
        }
        if preferred_by.len() > 1 {
            self.failed_run.insert(item.to_owned());
            let providers = eligible.iter().map(|&f| self.pn(f).to_owned()).collect();
            self.problems.push(Problem::ConflictingPreferences {
                name: item.to_owned(),
                providers,
                entries: preferred_by,
                chain: Chain::default(),
            });
            return Ok(false);
        }
        for f in eligible {
            let list = self.run_targets.entry(item.to_owned()).or_default();
            if !list.contains(&f) {
                list.push(f);
            }
            self.add_tasks(f)?;
        }
        Ok(true)
    }

    fn fail(&mut self, item: &str, runtime: bool, mut reasons: Vec<String>) {
        let failed = if runtime { &mut self.failed_run } else { &mut self.failed_build };
        if !failed.insert(item.to_owned()) {
            return;
        }
        reasons.extend(self.index.skip_reasons(item, runtime));
        let mut close_matches = Vec::new();
        if !runtime {
            close_matches = self.index.close_matches(item);
            for f in self.index.runtime_providers(item) {
                let m = format!("{} RPROVIDES {item}", self.pn(f));
                if !close_matches.contains(&m) {
                    close_matches.push(m);
                }
            }
        }
        self.problems.push(Problem::NothingProvides {
            name: item.to_owned(),
            runtime,
            dependees: Vec::new(),
            reasons,
            close_matches,
            chain: Chain::default(),
        });
    }

    /// Resolve every name seen so far, and the names the new recipes bring, until
    /// nothing new appears (`add_unresolved`).
    fn add_unresolved(&mut self) -> Result<(), GraphError> {
        loop {
            let mut added = 0;
            let build: Vec<String> = self
                .build_targets
                .iter()
                .filter(|(name, providers)| {
                    providers.is_empty() && !self.failed_build.contains(*name) && !self.index.is_assumed(name)
                })
                .map(|(name, _)| name.clone())
                .collect();
            for name in build {
                if self.add_provider(&name)? {
                    added += 1;
                }
            }
            let run: Vec<String> = self
                .run_targets
                .iter()
                .filter(|(name, providers)| {
                    providers.is_empty() && !self.failed_run.contains(*name) && !self.index.is_assumed(name)
                })
                .map(|(name, _)| name.clone())
                .collect();
            for name in run {
                if self.add_rprovider(&name)? {
                    added += 1;
                }
            }
            if added == 0 {
                return Ok(());
            }
        }
    }

    /// The chosen provider of a build-time name.
    fn build_provider(&self, name: &str) -> Option<RecipeId> {
        self.build_targets.get(name).and_then(|p| p.first().copied())
    }

    fn run_provider(&self, name: &str) -> Option<RecipeId> {
        self.run_targets.get(name).and_then(|p| p.first().copied())
    }

    /// Every name a recipe wants, with how: variables first (`DEPENDS`, `RDEPENDS`,
    /// `RRECOMMENDS`), then task flags, so explanations name the variable when both do.
    fn wants(&self, recipe: RecipeId) -> Vec<(String, Via, bool)> {
        let mut out = Vec::new();
        for d in self.depids.get(&recipe).into_iter().flatten() {
            out.push((d.clone(), Via::Depends, false));
        }
        for (d, recommended) in self.rdepids.get(&recipe).into_iter().flatten() {
            out.push((d.clone(), if *recommended { Via::Rrecommends } else { Via::Rdepends }, true));
        }
        for task in &self.index.recipe(recipe).info.tasks {
            let Some(tid) = self.tid(recipe, &task.name) else { continue };
            let e = &self.entries[tid as usize];
            for (name, _) in &e.idepends {
                out.push((name.clone(), Via::TaskDepends(task.name.clone()), false));
            }
            for (name, _) in &e.irdepends {
                out.push((name.clone(), Via::TaskRdepends(task.name.clone()), true));
            }
        }
        out
    }

    /// Shortest chains from the targets to every recipe brought in (chosen providers
    /// and the others BitBake also brings in): for each recipe, the recipe that first
    /// wanted it and the name and way it was wanted.
    fn chains(&self, targets: &[(String, RecipeId)]) -> HashMap<RecipeId, Option<(RecipeId, String, Via)>> {
        let mut parent: HashMap<RecipeId, Option<(RecipeId, String, Via)>> = HashMap::new();
        let mut queue = VecDeque::new();
        for (_, r) in targets {
            if parent.insert(*r, None).is_none() {
                queue.push_back(*r);
            }
        }
        while let Some(r) = queue.pop_front() {
            for (name, via, runtime) in self.wants(r) {
                // Every provider was brought in, the chosen one first.
                let providers = if runtime { self.run_targets.get(&name) } else { self.build_targets.get(&name) };
                for &p in providers.into_iter().flatten() {
                    if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(p) {
                        e.insert(Some((r, name.clone(), via.clone())));
                        queue.push_back(p);
                    }
                }
            }
        }
        parent
    }
}

/// Follow `parents` from `recipe` back to a target.
fn chain_to(
    td: &TaskData<'_, '_>,
    parents: &HashMap<RecipeId, Option<(RecipeId, String, Via)>>,
    targets: &[(String, RecipeId)],
    recipe: RecipeId,
    last: Option<(String, Via)>,
) -> Chain {
    let mut hops = Vec::new();
    if let Some((name, via)) = last {
        hops.push(Hop { pn: td.pn(recipe).to_owned(), via, name });
    }
    let mut at = recipe;
    let mut guard = 0;
    while let Some(Some((p, name, via))) = parents.get(&at) {
        hops.push(Hop { pn: td.pn(*p).to_owned(), via: via.clone(), name: name.clone() });
        at = *p;
        guard += 1;
        if guard > parents.len() {
            break;
        }
    }
    if let Some((name, _)) = targets.iter().find(|(_, r)| *r == at) {
        hops.push(Hop { pn: td.pn(at).to_owned(), via: Via::Target, name: name.clone() });
    }
    hops.reverse();
    // The target hop only names the target; fold it into the first real hop.
    if hops.len() > 1 && hops[0].via == Via::Target {
        hops.remove(0);
    }
    Chain(hops)
}

/// Fill in who wanted each unresolved name, and how a target led there.
fn explain(td: &mut TaskData<'_, '_>, targets: &[(String, RecipeId)]) {
    let parents = td.chains(targets);
    let mut order: Vec<RecipeId> = td.order.clone();
    // Recipes reached from a target first, nearest first.
    let depth = |r: &RecipeId| {
        let mut d = 0usize;
        let mut at = *r;
        while let Some(Some((p, _, _))) = parents.get(&at) {
            at = *p;
            d += 1;
            if d > parents.len() {
                break;
            }
        }
        (!parents.contains_key(r), d)
    };
    order.sort_by_key(depth);
    let mut problems = std::mem::take(&mut td.problems);
    for problem in &mut problems {
        match problem {
            Problem::NothingProvides { name, runtime, dependees, chain, .. } => {
                let mut first: Option<(RecipeId, Via)> = None;
                for &r in &order {
                    for (wanted, via, rt) in td.wants(r) {
                        if wanted == *name && rt == *runtime {
                            if !dependees.contains(&td.pn(r).to_owned()) {
                                dependees.push(td.pn(r).to_owned());
                            }
                            if first.is_none() {
                                first = Some((r, via));
                            }
                        }
                    }
                }
                if let Some((r, via)) = first {
                    *chain = chain_to(td, &parents, targets, r, Some((name.clone(), via)));
                }
            }
            Problem::ConflictingPreferences { name, chain, .. } => {
                let found = order
                    .iter()
                    .find_map(|&r| td.wants(r).into_iter().find(|(w, _, rt)| w == name && *rt).map(|(_, v, _)| (r, v)));
                if let Some((r, via)) = found {
                    *chain = chain_to(td, &parents, targets, r, Some((name.clone(), via)));
                }
            }
            _ => {}
        }
    }
    td.problems = problems;
}

/// Compute the task graph of `request` over the parsed `recipes`.
pub fn build(
    recipes: &[RecipeInfo],
    config: &ProviderConfig,
    request: &Request,
    reporter: &dyn Reporter,
) -> Result<TaskGraph, GraphError> {
    let started = std::time::Instant::now();
    let index = ProviderIndex::new(recipes, config);
    tracing::debug!("indexed {} recipes in {:?}", index.recipes.len(), started.elapsed());
    let result = build_with(&index, request, reporter);
    tracing::debug!("task graph in {:?}", started.elapsed());
    for w in index.warnings.borrow().iter() {
        reporter.warning(w);
    }
    result
}

/// A target split into its name and task (`zstd-native:do_install`).
fn split_target(target: &str, default_task: &str) -> (String, String) {
    match target.split_once(":do_") {
        Some((name, task)) => (name.to_owned(), format!("do_{task}")),
        None => (target.to_owned(), crate::tasks::task_name(default_task)),
    }
}

/// BitBake's `world` list: PNs of recipes not excluded from world (that have `task`,
/// when given) and that provide nothing virtual and nothing another PN also provides.
fn world_targets(index: &ProviderIndex<'_>, task: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &index.recipes {
        if c.info.providers.exclude_from_world || out.iter().any(|p| p == c.pn) {
            continue;
        }
        let mut terminal = task.is_none_or(|task| c.info.tasks.iter().any(|t| t.name == task));
        for p in index.pn_provides(c.pn) {
            if p.starts_with("virtual/")
                || index.build_providers(p).into_iter().flatten().any(|&other| index.recipe(other).pn != c.pn)
            {
                terminal = false;
                break;
            }
        }
        if terminal {
            out.push(c.pn.to_owned());
        }
    }
    out.sort();
    out
}

fn build_with(index: &ProviderIndex<'_>, request: &Request, reporter: &dyn Reporter) -> Result<TaskGraph, GraphError> {
    let default_task = request.task.clone().unwrap_or_else(|| index.config.default_task());
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut world_list: Option<Vec<String>> = None;
    for t in &request.targets {
        if t.starts_with("mc:") || t.starts_with("multiconfig:") {
            return Err(GraphError::Multiconfig(t.clone()));
        }
        if t == "world" {
            let task = crate::tasks::task_name(&default_task);
            let world = world_targets(index, Some(&task));
            targets.extend(world.iter().map(|pn| (pn.clone(), task.clone())));
            // BitBake keeps the first world list it made (see `add_tasks`).
            world_list.get_or_insert(world);
            continue;
        }
        targets.push(split_target(t, &default_task));
    }
    if targets.is_empty() {
        return Err(GraphError::NoTargets);
    }
    let mut td = TaskData::new(index, reporter);
    td.world = world_list;
    let mut runlist: Vec<(String, String, RecipeId)> = Vec::new();
    for (name, task) in &targets {
        if index.is_assumed(name) {
            reporter.warning(&format!("explicit target \"{name}\" is in ASSUME_PROVIDED, ignoring"));
        }
        td.add_provider(name)?;
        if let Some(r) = td.build_provider(name) {
            runlist.push((name.clone(), task.clone(), r));
        }
    }
    td.add_unresolved()?;
    tracing::debug!("resolved {} names to {} recipes", td.build_targets.len() + td.run_targets.len(), td.order.len());
    if !td.problems.is_empty() {
        let roots: Vec<(String, RecipeId)> = runlist.iter().map(|(n, _, r)| (n.clone(), *r)).collect();
        explain(&mut td, &roots);
        return Err(GraphError::Unresolved(td.problems));
    }
    if runlist.is_empty() {
        return Err(GraphError::NothingToDo);
    }
    edges::build(td, runlist)
}

mod edges;
mod extra;
