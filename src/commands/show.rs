//! `rstore show`: the derivation of a task — inputs, referenced variables with values,
//! script, flags and hashes.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Show the derivation of a task: what it reads, with values, and its hashes
///
/// Lists the variables and functions the task's hash covers, with their values, then
/// what the task sees that its hash leaves out (BB_BASEHASH_IGNORE_VARS,
/// [vardepsexclude], [vardepvalue], ...), with the reason: a change to those does not
/// rerun the task. With --script, a shell task's script exactly as it runs.
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
    /// Only list the names of the variables and functions the task reads (hashed)
    #[arg(long)]
    pub names: bool,
    /// Also print a shell task's script, exactly as it runs (BitBake's run.do_TASK)
    #[arg(long)]
    pub script: bool,
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
    let view = rstore_importer::runfile::sandbox_view(&v.data).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(drv) = derived.derivation_to_run(&task, &view).map_err(|e| anyhow::anyhow!("{recipe}:{task}: {e}"))?
    else {
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
            "unhashed": drv.unhashed,
            "script": drv.script,
            "taskhash": built.as_ref().and_then(|b| b.taskhash),
            "unihash": built.as_ref().and_then(|b| b.unihash),
            "output_root": built.as_ref().and_then(|b| b.root),
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
    let or_dash = |d: Option<String>| d.unwrap_or_else(|| "-".to_owned());
    println!("task:       {}", drv.id);
    println!("recipe:     {}", file.display());
    println!("kind:       {:?}", drv.kind);
    println!("basehash:   {basehash}");
    if let Some(b) = &built {
        println!("taskhash:   {}", or_dash(b.taskhash.map(|h| h.to_string())));
        println!("unihash:    {}", or_dash(b.unihash.map(|h| h.to_string())));
        println!("output root: {}", b.root.map(|h| h.to_string()).unwrap_or_else(|| "(not built)".to_owned()));
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
    println!("function ({}):", drv.id.task);
    if let Some(Some(body)) = drv.inputs.get(&drv.id.task) {
        for line in body.lines() {
            println!("    {line}");
        }
    }
    println!("inputs, hashed ({}):", drv.inputs.len() - 1);
    for (k, v) in &drv.inputs {
        if *k == drv.id.task {
            continue;
        }
        print_value(k, v.as_deref(), None);
    }
    match drv.kind {
        rstore_evaluator::derivation::TaskKind::Python => {
            println!(
                "visible, not hashed: the rest of the recipe's datastore (a Python task reads all of it, as in BitBake)"
            );
        }
        rstore_evaluator::derivation::TaskKind::Noexec => {}
        rstore_evaluator::derivation::TaskKind::Shell => {
            println!("visible, not hashed ({}): a change to these does not rerun the task", drv.unhashed.len());
            for (k, u) in &drv.unhashed {
                print_value(k, u.value.as_deref(), Some(&u.reason.to_string()));
            }
            if args.script
                && let Some(script) = &drv.script
            {
                println!("script (run.{}):", drv.id.task);
                for line in script.lines() {
                    println!("    {line}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One `NAME = value` line (or block, for several lines), with why it is not hashed.
fn print_value(name: &str, value: Option<&str>, why: Option<&str>) {
    let why = why.map(|w| format!("  [{w}]")).unwrap_or_default();
    match value {
        Some(v) if v.contains('\n') => {
            println!("    {name} ={why}");
            for line in v.lines() {
                println!("        {line}");
            }
        }
        Some(v) => println!("    {name} = {v:?}{why}"),
        None => println!("    {name} (unset){why}"),
    }
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
    let results = rstore_evaluator::realise::resolve_hashes(&plan.build, &*plan.store, Some(&plan.host_fingerprint))?;
    Ok(plan.build.nodes().position(|(_, t)| t.id == *id).map(|i| (results[i].clone(), plan.store.clone())))
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
    let Some(unihash) = built.unihash.filter(|_| built.root.is_some()) else {
        bail!("{id} has not been built: the store has no output for it");
    };
    let entry = store.entry(&unihash)?.with_context(|| format!("{id}: the store has no entry {unihash}"))?;
    let Some(log) = entry.log else {
        bail!("{id} wrote no log (a task that only orders others)");
    };
    let bytes = store.read_blob(&log)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?;
    Ok(ExitCode::SUCCESS)
}
