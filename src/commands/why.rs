//! `rstore why`: why a task's hash changed since a saved graph (`rstore graph --save`),
//! following the chain down to the root causes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use rstore_evaluator::snapshot::{self, Cause, Snapshot};
use rstore_importer::build::derivations;
use rstore_importer::session::{Options, Session};
use rstore_importer::taskgraph::{self, Request, TaskGraph};

use crate::GlobalArgs;
use crate::commands::metadata;

/// Explain why a task's hash changed since a saved graph
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  rstore graph rstore-image-minimal --save before.json.zst\n  (update a layer)\n  rstore why zlib:do_compile --since before.json.zst"
)]
pub struct WhyArgs {
    /// RECIPE[:TASK]; TASK defaults to do_build
    pub target: String,
    /// A graph saved with `rstore graph … --save FILE`
    #[arg(long, value_name = "FILE")]
    pub since: PathBuf,
    /// Print the explanation as JSON
    #[arg(long)]
    pub json: bool,
}

/// Read a snapshot written by [`write_snapshot`].
pub fn read_snapshot(path: &Path) -> anyhow::Result<Snapshot> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let json =
        zstd::decode_all(&bytes[..]).with_context(|| format!("{} is not a saved graph (zstd)", path.display()))?;
    let snap: Snapshot =
        serde_json::from_slice(&json).with_context(|| format!("{} is not a saved graph", path.display()))?;
    if snap.format != snapshot::FORMAT {
        bail!("{} has snapshot format {}, this rstore reads {}", path.display(), snap.format, snapshot::FORMAT);
    }
    Ok(snap)
}

/// Write a snapshot (zstd-compressed JSON), atomically.
pub fn write_snapshot(path: &Path, snap: &Snapshot) -> anyhow::Result<()> {
    let json = serde_json::to_vec(snap)?;
    let compressed = zstd::encode_all(&json[..], 9)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, compressed).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}

/// The snapshot of the current metadata for `targets`.
pub fn current_snapshot(global: &GlobalArgs, targets: &[String], task: Option<String>) -> anyhow::Result<Snapshot> {
    let request = Request { targets: targets.to_vec(), task };
    let mut graph = None;
    // Signatures of the graph's recipes are computed (or read from the parse cache) in
    // the same pass over the cache as the parse.
    metadata::parse_all_then(global, None, &mut |report| {
        let g = taskgraph::build(&report.recipes, &report.providers, &request, &taskgraph::Quiet);
        let files = g.as_ref().ok().map(|g| g.recipes.iter().map(|r| r.file.clone()).collect());
        graph = Some(g);
        files
    })?;
    let graph = graph.context("no task graph was computed")?.map_err(|e| anyhow::anyhow!("{e}"))?;
    snapshot_of(global, &graph, targets)
}

/// The snapshot of `graph` (the graph of `targets`), whose recipes' signatures are in
/// the parse cache.
pub fn snapshot_of(global: &GlobalArgs, graph: &TaskGraph, targets: &[String]) -> anyhow::Result<Snapshot> {
    let build_dir = metadata::build_dir(global)?;
    let session = Session::open(&build_dir, &Options { env: std::env::vars().collect(), tracking: false })?;
    let derivations = derivations(&session, graph).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Snapshot::new(targets.to_vec(), &derivations))
}

fn short(v: &Option<String>) -> String {
    match v {
        None => "(absent)".into(),
        Some(s) if s.chars().count() > 160 || s.contains('\n') => {
            let one: String = s.replace('\n', "\\n").chars().take(160).collect();
            format!("{one:?}…")
        }
        Some(s) => format!("{s:?}"),
    }
}

/// The path from `task` down to the first task whose own derivation changed.
fn chain_to_root(causes: &[Cause], task: &str) -> Option<Vec<String>> {
    let mut parents: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([task.to_owned()]);
    let mut seen = std::collections::BTreeSet::from([task.to_owned()]);
    while let Some(t) = queue.pop_front() {
        if causes.iter().any(|c| matches!(c, Cause::Derivation { task, .. } | Cause::New { task } if *task == t)) {
            let mut chain = vec![t.clone()];
            let mut cur = t;
            while let Some(p) = parents.get(&cur) {
                chain.push(p.clone());
                cur = p.clone();
            }
            chain.reverse();
            return Some(chain);
        }
        for c in causes {
            if let Cause::Dependencies { task: from, changed, added, .. } = c
                && *from == t
            {
                for next in changed.iter().chain(added) {
                    if seen.insert(next.clone()) {
                        parents.insert(next.clone(), t.clone());
                        queue.push_back(next.clone());
                    }
                }
            }
        }
    }
    None
}

/// One root cause: what changed, its old and new value, and the tasks it reached.
type RootCause = (String, Option<String>, Option<String>, Vec<String>);

pub fn run(global: &GlobalArgs, args: WhyArgs) -> anyhow::Result<ExitCode> {
    let old = read_snapshot(&args.since)?;
    let (recipe, task) = match args.target.rsplit_once(':') {
        Some((r, t)) if t.starts_with("do_") || !t.contains('/') => {
            (r.to_owned(), if t.starts_with("do_") { t.to_owned() } else { format!("do_{t}") })
        }
        _ => (args.target.clone(), "do_build".to_owned()),
    };
    let id = format!("{recipe}:{task}");
    let new = current_snapshot(global, &[format!("{recipe}:{task}")], None)?;
    if !new.tasks.contains_key(&id) {
        bail!("{id} is not a task of the current metadata");
    }
    let causes = snapshot::explain(&old, &new, &id);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"task": id, "changed": !causes.is_empty(), "causes": causes})
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if causes.is_empty() {
        println!("{id}: unchanged since {}", args.since.display());
        return Ok(ExitCode::SUCCESS);
    }
    // Root causes: each change to a derivation, with the tasks it reached.
    let mut roots: Vec<RootCause> = Vec::new();
    let mut new_tasks = Vec::new();
    for cause in &causes {
        match cause {
            Cause::Derivation { task, changes } => {
                for c in changes {
                    match roots.iter_mut().find(|r| r.0 == c.what && r.1 == c.old && r.2 == c.new) {
                        Some(r) => r.3.push(task.clone()),
                        None => roots.push((c.what.clone(), c.old.clone(), c.new.clone(), vec![task.clone()])),
                    }
                }
            }
            Cause::New { task } => new_tasks.push(task.clone()),
            Cause::Dependencies { task, added, removed, .. } if !added.is_empty() || !removed.is_empty() => {
                let mut what = Vec::new();
                if !added.is_empty() {
                    what.push(format!("now depends on {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    what.push(format!("no longer depends on {}", removed.join(", ")));
                }
                roots.push((format!("dependencies of {task}"), None, Some(what.join("; ")), vec![task.clone()]));
            }
            Cause::Dependencies { .. } => {}
        }
    }
    println!("{id} changed since {}:", args.since.display());
    for (what, old, new, tasks) in &roots {
        if what.starts_with("dependencies of ") {
            println!("  {what}: {}", new.as_deref().unwrap_or_default());
        } else {
            println!("  {what}: {} -> {}", short(old), short(new));
            println!("      read by {}", tasks.join(", "));
        }
    }
    for t in &new_tasks {
        println!("  {t} is new (not in the saved graph)");
    }
    if let Some(chain) = chain_to_root(&causes, &id)
        && chain.len() > 1
    {
        println!("  through {}", chain.join(" <- "));
    }
    Ok(ExitCode::SUCCESS)
}
