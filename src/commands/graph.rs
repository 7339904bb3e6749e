//! `rstore graph`: the task graph of targets, as `bitbake -g` computes it, written as
//! BitBake's `task-depends.dot` and `pn-buildlist` and as JSON.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use rstore_evaluator::realise;
use rstore_importer::taskgraph::{self, GraphError, Request, TaskGraph};
use rstore_store::{Basehash, Taskhash};

use crate::GlobalArgs;
use crate::commands::metadata;

/// Output files `rstore graph` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `task-depends.dot`, BitBake's format (with `pn-buildlist`)
    Dot,
    /// `task-depends.json`: recipes, tasks (with flags and priority) and edges
    Json,
}

/// Compute the task graph of TARGETs the way `bitbake -g` does and write it out
///
/// Providers are chosen as BitBake chooses them (PREFERRED_PROVIDER, PREFERRED_VERSION,
/// DEFAULT_PREFERENCE, layer priority, ASSUME_PROVIDED, RPROVIDES, PACKAGES_DYNAMIC) and
/// the edges come from addtask ordering, [depends], [rdepends], [deptask], [rdeptask],
/// [recrdeptask] and [recideptask]. DIR receives task-depends.dot and pn-buildlist in
/// BitBake's formats, and task-depends.json. A name nothing provides, several recipes
/// due to be built for one name, and a dependency cycle are errors that name the chain
/// of recipes that led there.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// What to build: a recipe or provided name (busybox, virtual/kernel, zstd-native),
    /// optionally with a task (zstd-native:do_install), or `world`
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Task for targets given without one [default: BB_DEFAULT_TASK, else build]
    #[arg(short = 'c', long = "cmd", value_name = "TASK")]
    pub task: Option<String>,
    /// Files to write (comma separated); pn-buildlist is always written
    #[arg(long, value_enum, value_delimiter = ',', default_value = "dot,json")]
    pub format: Vec<Format>,
    /// Directory for the output files [default: current directory]
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Print the summary (or the errors) as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Parse with this many processes [default: number of CPUs]
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Also compute every task's basehash and taskhash (derivation signatures; the
    /// taskhash here is the pure one, without hash equivalence) and add them to the JSON
    #[arg(long)]
    pub hashes: bool,
    /// Also save every task's derivation and hashes to FILE, for `rstore why --since FILE`
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// Warnings on stderr, notes in the debug log.
struct Reporter;

impl taskgraph::Reporter for Reporter {
    fn warning(&self, message: &str) {
        tracing::warn!("{message}");
    }
    fn note(&self, message: &str) {
        tracing::info!("{message}");
    }
}

pub fn run(global: &GlobalArgs, args: GraphArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let request = Request { targets: args.targets.clone(), task: args.task.clone() };
    let progress = !global.quiet && std::io::stderr().is_terminal();
    // Hashes and snapshots need the signatures of the graph's recipes: they are computed
    // (or read from the parse cache) in the same pass over the cache as the parse.
    let signed = args.hashes || args.save.is_some();
    let (mut parsed, mut resolved) = (0.0, 0.0);
    let mut result = None;
    let report = metadata::parse_all_then(global, args.jobs, &mut |report| {
        if !report.failures.is_empty() {
            return None;
        }
        parsed = started.elapsed().as_secs_f64();
        if progress {
            eprint!("Resolving providers and tasks…");
        }
        let g = taskgraph::build(&report.recipes, &report.providers, &request, &Reporter);
        if progress {
            eprint!("\r\x1b[K");
        }
        resolved = started.elapsed().as_secs_f64() - parsed;
        let files = g.as_ref().ok().filter(|_| signed).map(|g| g.recipes.iter().map(|r| r.file.clone()).collect());
        result = Some(g);
        files
    })?;
    metadata::require_clean_parse(&report)?;
    let graph = match result.context("no task graph was computed")? {
        Ok(g) => g,
        Err(e) => return Ok(fail(&e, args.json)),
    };
    let dir = match &args.output {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let pns = pn_buildlist(&graph);
    if !pns.is_empty() {
        written.push(write_atomic(&dir, "pn-buildlist", &pns)?);
    }
    if args.format.contains(&Format::Dot) {
        written.push(write_atomic(&dir, "task-depends.dot", &dot(&graph))?);
    }
    let hashes = if args.hashes { Some(task_hashes(&graph, &report.recipes)?) } else { None };
    if args.format.contains(&Format::Json) {
        let text = serde_json::to_string_pretty(&graph_json(&graph, &request, hashes.as_deref()))? + "\n";
        written.push(write_atomic(&dir, "task-depends.json", &text)?);
    }
    if let Some(path) = &args.save {
        let snap = crate::commands::why::snapshot_of(global, &graph, &args.targets)?;
        crate::commands::why::write_snapshot(path, &snap)?;
        written.push(path.clone());
    }
    let (recipes, tasks, edges) = (graph.recipes.len(), graph.graph.len(), graph.graph.edge_count());
    if args.json {
        let out = json!({
            "ok": true,
            "targets": args.targets,
            "recipes": recipes,
            "tasks": tasks,
            "edges": edges,
            "files": written,
            "parse_seconds": parsed,
            "graph_seconds": resolved,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}: {recipes} recipes, {tasks} tasks, {edges} edges", args.targets.join(" "));
        for f in &written {
            println!("wrote {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print the errors (each problem on its own `error:` line) and fail.
fn fail(e: &GraphError, json: bool) -> ExitCode {
    let messages: Vec<String> = match e {
        GraphError::Unresolved(problems) => problems.iter().map(ToString::to_string).collect(),
        other => vec![other.to_string()],
    };
    if json {
        let out = json!({ "ok": false, "errors": messages });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    for m in &messages {
        eprintln!("error: {m}");
    }
    ExitCode::FAILURE
}

/// Write `name` in `dir` through a temporary file renamed into place.
fn write_atomic(dir: &Path, name: &str, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `pn-buildlist`: every PN of the graph, sorted, one per line.
fn pn_buildlist(g: &TaskGraph) -> String {
    let mut pns: Vec<&str> = g.recipes.iter().map(|r| r.pn.as_str()).collect();
    pns.sort_unstable();
    pns.dedup();
    if pns.is_empty() { String::new() } else { pns.join("\n") + "\n" }
}

/// `task-depends.dot` exactly as BitBake writes it: nodes `"pn.do_task"` sorted, each
/// with its label `pn do_task\n:PV-PR\nFILE` and its sorted dependencies.
fn dot(g: &TaskGraph) -> String {
    let name = |id: usize| {
        let n = g.graph.node(id);
        format!("{}.{}", g.recipes[n.recipe].pn, n.task)
    };
    let mut nodes: Vec<(String, usize)> = g.graph.nodes().map(|(id, _)| (name(id), id)).collect();
    nodes.sort();
    let mut out = String::from("digraph depends {\n");
    for (node, id) in &nodes {
        let n = g.graph.node(*id);
        let r = &g.recipes[n.recipe];
        let _ = writeln!(out, "\"{node}\" [label=\"{} {}\\n{}\\n{}\"]", r.pn, n.task, r.version, r.target);
        let mut deps: Vec<String> = g.graph.deps(*id).map(name).collect();
        deps.sort();
        for d in deps {
            let _ = writeln!(out, "\"{node}\" -> \"{d}\"");
        }
    }
    out.push_str("}\n");
    out
}

/// (basehash, taskhash) of every node: signatures from the parse (`recipes`, parsed
/// with the signatures of the graph's recipes), taskhashes from metadata alone (no host
/// fingerprint, no hash equivalence) combined in dependency order.
fn task_hashes(
    g: &TaskGraph,
    recipes: &[rstore_importer::session::RecipeInfo],
) -> anyhow::Result<Vec<(Basehash, Taskhash)>> {
    let build = rstore_importer::build::build_graph(g, recipes, false)?;
    let resolved = realise::resolve_hashes(&build, &realise::MemoryOutputs::default(), None)?;
    build
        .nodes()
        .zip(resolved)
        .map(|((_, t), r)| Ok((t.basehash, r.taskhash.context("every node is hashed")?)))
        .collect()
}

/// `task-depends.json`: targets, recipes, tasks and edges (`pn:do_task` ids).
fn graph_json(g: &TaskGraph, request: &Request, hashes: Option<&[(Basehash, Taskhash)]>) -> Value {
    let weights = g.graph.weights().unwrap_or_default();
    let tasks: Vec<Value> = g
        .graph
        .nodes()
        .map(|(id, n)| {
            json!({
                "id": g.task_id(id),
                "recipe": g.recipes[n.recipe].pn,
                "task": n.task,
                "noexec": n.noexec,
                "nostamp": n.nostamp,
                "fakeroot": n.fakeroot,
                "priority": weights.get(id),
                "basehash": hashes.map(|h| h[id].0),
                "taskhash": hashes.map(|h| h[id].1),
            })
        })
        .collect();
    let edges: Vec<Value> = g.graph.edges().into_iter().map(|(a, b)| json!([g.task_id(a), g.task_id(b)])).collect();
    json!({
        "request": request.targets,
        "targets": g.targets.iter().map(|&t| g.task_id(t)).collect::<Vec<_>>(),
        "recipes": g.recipes,
        "providers": g.providers,
        "tasks": tasks,
        "edges": edges,
    })
}
