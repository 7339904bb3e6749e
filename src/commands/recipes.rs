//! `rstore recipes`: every recipe and variant with its main variables.

use std::process::ExitCode;

use serde_json::{Map, Value, json};

use rstore_importer::catalog::Signatures;
use rstore_importer::session::RecipeInfo;

use crate::GlobalArgs;
use crate::commands::metadata;

/// List every recipe and variant (BBCLASSEXTEND) of the enabled layers
#[derive(Debug, clap::Args)]
pub struct RecipesArgs {
    /// One JSON object per line, variables under their own names
    #[arg(long)]
    pub json: bool,
    /// Also show these variables, expanded (comma separated; `${PN}` is allowed, e.g. RDEPENDS:${PN})
    #[arg(long, value_delimiter = ',', value_name = "V1,V2,…")]
    pub vars: Vec<String>,
    /// Also show each task with its ordering (`deps`) and flags
    #[arg(long)]
    pub tasks: bool,
    /// Also show the inherited classes
    #[arg(long)]
    pub inherits: bool,
    /// Also compute each task's signature and show its basehash (implies --tasks)
    #[arg(long)]
    pub signatures: bool,
    /// Parse with this many processes [default: number of CPUs]
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Only recipes whose PN is one of these (comma separated)
    #[arg(long, value_delimiter = ',', value_name = "PN,…")]
    pub only: Vec<String>,
}

pub fn task_json(t: &rstore_importer::tasks::Task) -> Value {
    let mut m = Map::new();
    m.insert("task".into(), json!(t.name));
    m.insert("deps".into(), json!(t.deps));
    for (k, v) in &t.flags {
        m.insert(k.clone(), json!(v));
    }
    if let Some(h) = &t.basehash {
        m.insert("basehash".into(), json!(h));
    }
    Value::Object(m)
}

pub fn recipe_json(r: &RecipeInfo, tasks: bool, inherits: bool) -> Value {
    let mut m = Map::new();
    m.insert("target".into(), json!(r.target));
    m.insert("file".into(), json!(r.file));
    m.insert("variant".into(), json!(r.variant));
    m.insert("layer".into(), json!(r.layer));
    m.insert("skipped".into(), json!(r.skipped.is_some()));
    if let Some(reason) = &r.skipped {
        m.insert("skipreason".into(), json!(reason));
    }
    m.insert("PN".into(), json!(r.pn));
    m.insert("PV".into(), json!(r.pv));
    m.insert("PR".into(), json!(r.pr));
    m.insert("PE".into(), json!(r.pe));
    for (k, v) in &r.vars {
        m.insert(k.clone(), json!(v));
    }
    if inherits {
        m.insert("inherits".into(), json!(r.inherits));
    }
    if tasks {
        m.insert("tasks".into(), Value::Array(r.tasks.iter().map(task_json).collect()));
    }
    Value::Object(m)
}

pub fn run(global: &GlobalArgs, args: RecipesArgs) -> anyhow::Result<ExitCode> {
    let signatures = if args.signatures { Signatures::All } else { Signatures::None };
    let (report, _) = metadata::parse_all_with(global, &args.vars, args.jobs, &signatures)?;
    let args = RecipesArgs { tasks: args.tasks || args.signatures, ..args };
    let keep = |r: &RecipeInfo| args.only.is_empty() || r.pn.as_ref().is_some_and(|pn| args.only.contains(pn));
    for r in report.recipes.iter().filter(|r| keep(r)) {
        if args.json {
            println!("{}", serde_json::to_string(&recipe_json(r, args.tasks, args.inherits))?);
            continue;
        }
        let pn = r.pn.as_deref().unwrap_or("?");
        let pv = r.pv.as_deref().unwrap_or("?");
        let layer = r.layer.as_deref().unwrap_or("-");
        match &r.skipped {
            Some(reason) => println!("{pn:<32} {pv:<16} {layer:<12} skipped: {reason}"),
            None => println!("{pn:<32} {pv:<16} {layer:<12} {}", r.target),
        }
        for (k, v) in &r.vars {
            println!("    {k} = {}", v.as_deref().map(|v| format!("{v:?}")).unwrap_or_else(|| "(unset)".into()));
        }
        if args.inherits {
            println!("    inherits: {}", r.inherits.join(" "));
        }
        if args.tasks {
            for t in &r.tasks {
                let flags: Vec<String> =
                    t.flags.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={v:?}")).collect();
                println!("    {} after [{}] {}", t.name, t.deps.join(" "), flags.join(" "));
            }
        }
    }
    for f in &report.failures {
        eprintln!("error: {}", f.error);
    }
    if !report.failures.is_empty() {
        eprintln!("{} of {} recipe files failed to parse", report.failures.len(), report.files);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
