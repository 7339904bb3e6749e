//! `rstore show`: the derivation of a task — inputs, referenced variables with values,
//! script, flags and hashes.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Show the derivation of a task: what it reads, with values, and its hashes
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  rstore show zlib:do_compile\n  rstore show busybox            (the default task, do_build)\n  rstore show zlib-native:do_install --json"
)]
pub struct ShowArgs {
    /// RECIPE[:TASK] (RECIPE is a PN, e.g. zlib or zlib-native; TASK defaults to do_build)
    pub target: String,
    /// Print the derivation as JSON
    #[arg(long)]
    pub json: bool,
    /// Only list the names of the variables and functions the task reads
    #[arg(long)]
    pub names: bool,
    /// Print the task's log as the store keeps it (from the build that produced its output)
    #[arg(long, conflicts_with_all = ["json", "names"])]
    pub log: bool,
}

pub fn run(global: &GlobalArgs, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let (recipe, task) = match args.target.rsplit_once(':') {
        Some((r, t)) if !r.starts_with("virtual") || t.starts_with("do_") => (r.to_owned(), t.to_owned()),
        _ => (args.target.clone(), "do_build".to_owned()),
    };
    let task = if task.starts_with("do_") { task } else { format!("do_{task}") };
    let session = metadata::open(global, false)?;
    let (file, v) = metadata::recipe_variant(&session, &recipe)?;
    if let Some(reason) = &v.skipped {
        bail!("{recipe} is skipped: {reason}");
    }
    let derived = session.derive(&v).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(drv) = derived.derivation(&task) else {
        bail!("{recipe} has no task {task} (tasks: {})", derived.deps.tasks.join(" "));
    };
    let basehash = drv.basehash();
    let (built, store) = match realised(global, &format!("{recipe}:{task}"), &drv.id)? {
        Some((b, s)) => (Some(b), Some(s)),
        None => (None, None),
    };
    if args.log {
        return print_log(&drv.id, built.as_ref(), store.as_deref());
    }
    if args.json {
        let out = json!({
            "recipe": drv.id.recipe,
            "task": drv.id.task,
            "file": file,
            "variant": v.name,
            "kind": drv.kind,
            "basehash": basehash,
            "inputs": drv.inputs,
            "files": drv.files,
            "flags": drv.flags,
            "fixed_output": drv.fixed_output,
            "taskhash": built.as_ref().and_then(|b| b.taskhash.clone()),
            "unihash": built.as_ref().and_then(|b| b.unihash.clone()),
            "output_root": built.as_ref().and_then(|b| b.root.clone()),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.names {
        for k in drv.inputs.keys() {
            println!("{k}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("task:       {}", drv.id);
    println!("recipe:     {}", file.display());
    println!("kind:       {:?}", drv.kind);
    println!("basehash:   {basehash}");
    if let Some(b) = &built {
        println!("taskhash:   {}", b.taskhash.as_deref().unwrap_or("-"));
        println!("unihash:    {}", b.unihash.as_deref().unwrap_or("-"));
        println!("output root: {}", b.root.as_deref().unwrap_or("(not built)"));
    }
    if !drv.flags.is_empty() {
        println!("flags:");
        for (k, v) in &drv.flags {
            println!("    {k} = {v:?}");
        }
    }
    if !drv.fixed_output.is_empty() {
        println!("fixed output:");
        for (k, v) in &drv.fixed_output {
            println!("    {k} = {v}");
        }
    }
    if !drv.files.is_empty() {
        println!("files:");
        for (k, v) in &drv.files {
            println!("    {k} {v}");
        }
    }
    println!("script ({}):", drv.id.task);
    if let Some(Some(body)) = drv.inputs.get(&drv.id.task) {
        for line in body.lines() {
            println!("    {line}");
        }
    }
    println!("inputs ({}):", drv.inputs.len() - 1);
    for (k, v) in &drv.inputs {
        if *k == drv.id.task {
            continue;
        }
        match v {
            Some(v) if v.contains('\n') => {
                println!("    {k} =");
                for line in v.lines() {
                    println!("        {line}");
                }
            }
            Some(v) => println!("    {k} = {v:?}"),
            None => println!("    {k} (unset)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The task's taskhash, unihash and output root as a build would compute them now
/// (None when the task graph cannot be computed, e.g. a dependency has no provider).
fn realised(
    global: &GlobalArgs,
    target: &str,
    id: &rstore_evaluator::derivation::TaskId,
) -> anyhow::Result<Option<(rstore_evaluator::realise::TaskResult, std::sync::Arc<rstore_store::Store>)>> {
    let request = rstore_importer::taskgraph::Request { targets: vec![target.to_owned()], task: None };
    let plan = match crate::commands::build::plan(global, &request, None) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("cannot compute the task's taskhash: {e:#}");
            return Ok(None);
        }
    };
    let results = rstore_evaluator::realise::resolve_hashes(&plan.nodes, &plan.store, &plan.host_fingerprint)?;
    Ok(plan.nodes.iter().position(|n| n.id == *id).map(|i| (results[i].clone(), plan.store.clone())))
}

/// The log the store keeps with the task's entry.
fn print_log(
    id: &rstore_evaluator::derivation::TaskId,
    built: Option<&rstore_evaluator::realise::TaskResult>,
    store: Option<&rstore_store::Store>,
) -> anyhow::Result<ExitCode> {
    let (Some(built), Some(store)) = (built, store) else {
        bail!("{id}: its hashes cannot be computed, so its log cannot be found");
    };
    let Some(unihash) = built.unihash.as_deref().filter(|_| built.root.is_some()) else {
        bail!("{id} has not been built: the store has no output for it");
    };
    let unihash: rstore_store::Digest = unihash.parse().map_err(|e| anyhow::anyhow!("{unihash}: {e}"))?;
    let entry = store.entry(&unihash)?.with_context(|| format!("{id}: the store has no entry {unihash}"))?;
    let Some(log) = entry.log else {
        bail!("{id} wrote no log (a task that only orders others)");
    };
    let bytes = store.read_blob(&log)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?;
    Ok(ExitCode::SUCCESS)
}
