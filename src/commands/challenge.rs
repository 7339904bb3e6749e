//! `rstore challenge`: compare the outputs the local store holds for the targets' tasks
//! with those a binary cache vouches for, and show what differs.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rstore_evaluator::realise;
use rstore_evaluator::treediff::{self, Difference};
use rstore_importer::taskgraph::Request;
use rstore_store::cache::transfer::Progress;
use serde::Serialize;
use serde_json::json;

use crate::GlobalArgs;

/// Compare local outputs with a binary cache's
///
/// For every task the targets need whose output the local store holds, asks the cache
/// which output it has for the same taskhash (records signed by a key RSTORE_TRUSTED_KEYS
/// lists) and compares the two output trees. A task whose outputs differ was built
/// differently here and there: rstore lists the differing paths, fetching the cache's
/// tree to compare it. Exit status 1 when any task differs.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  rstore challenge rstore-image-minimal --substituter https://cache.example.org\n  \
                  rstore challenge zlib:do_compile --substituter file:///srv/cache --json"
)]
pub struct ChallengeArgs {
    /// Targets: a recipe or a name one provides, optionally with a task (zlib:do_install)
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Task for targets given without one [default: BB_DEFAULT_TASK, else build]
    #[arg(short = 'c', long = "cmd", value_name = "TASK")]
    pub task: Option<String>,
    /// The cache to compare with: a directory, file://, http://, https:// or grpc://
    #[arg(long, required = true, value_name = "URL")]
    pub substituter: String,
    /// One JSON event per task compared, then a summary
    #[arg(long)]
    pub json: bool,
}

/// One task compared.
#[derive(Clone, Debug, Serialize)]
struct Compared {
    task: String,
    /// `same`, `different`, or `not-in-cache`.
    status: &'static str,
    local: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<String>,
    differences: Vec<Difference>,
}

pub fn run(global: &GlobalArgs, args: ChallengeArgs) -> anyhow::Result<ExitCode> {
    let request = Request { targets: args.targets.clone(), task: args.task.clone() };
    let plan = crate::commands::build::plan(global, &request, None)?;
    let results = realise::resolve_hashes(&plan.build, &*plan.store, Some(&plan.host_fingerprint))?;
    let cache = crate::commands::cache::open_substituters(&args.substituter, &plan.vars, "--substituter")?;
    let below = plan.build.closure(plan.graph.targets.iter().copied());
    let mut asks = Vec::new();
    let mut locals = Vec::new();
    for (i, reached) in below.iter().enumerate() {
        let r = &results[i];
        if let (true, Some(root), Some(taskhash)) = (*reached, r.root, r.taskhash) {
            asks.push((plan.build.node(i).id.to_string(), taskhash));
            locals.push(root);
        }
    }
    let not_local = below.iter().filter(|b| **b).count() - asks.len();
    // The cache's unihash of each taskhash: its equivalence record, else the taskhash
    // itself (as in a build).
    let entry_asks: Vec<(String, rstore_store::Unihash)> = asks
        .iter()
        .zip(cache.equivalences(&asks))
        .map(|((id, taskhash), e)| {
            (id.clone(), e.map_or(rstore_store::Unihash::from_taskhash(*taskhash), |e| e.unihash))
        })
        .collect();
    let entries = cache.entries(&entry_asks);
    let mut compared = Vec::new();
    let progress = Progress::default();
    for (((task, _), local), found) in asks.iter().zip(&locals).zip(entries) {
        let Some(found) = found else {
            compared.push(Compared {
                task: task.clone(),
                status: "not-in-cache",
                local: local.to_string(),
                cache: None,
                differences: Vec::new(),
            });
            continue;
        };
        let theirs = found.record.entry.root;
        let mut c = Compared {
            task: task.clone(),
            status: if theirs == *local { "same" } else { "different" },
            local: local.to_string(),
            cache: Some(theirs.to_string()),
            differences: Vec::new(),
        };
        if theirs != *local {
            // Their tree, to compare: fetched into the store (verified like any substitute).
            let fetched = cache.fetch(&plan.store, std::slice::from_ref(&found), &progress);
            c.differences = match fetched.into_iter().next() {
                Some(Ok(())) => {
                    treediff::differences(&plan.store, local, &theirs, rstore_evaluator::check::MAX_DIFFERENCES)
                        .with_context(|| format!("comparing the outputs of {task}"))?
                }
                Some(Err(e)) => {
                    vec![Difference { path: String::new(), summary: format!("fetching the cache's output: {e}") }]
                }
                None => Vec::new(),
            };
        }
        compared.push(c);
    }
    let count = |s: &str| compared.iter().filter(|c| c.status == s).count();
    let (same, different, absent) = (count("same"), count("different"), count("not-in-cache"));
    if args.json {
        for c in &compared {
            println!(
                "{}",
                json!({"event": "challenge", "task": c.task, "status": c.status, "local": c.local,
                                  "cache": c.cache, "differences": c.differences})
            );
        }
        println!(
            "{}",
            json!({"event": "summary", "compared": same + different, "same": same, "different": different,
                              "not_in_cache": absent, "not_in_store": not_local})
        );
    } else {
        for c in compared.iter().filter(|c| c.status == "different") {
            println!("DIFFERENT {}: local {} cache {}", c.task, c.local, c.cache.as_deref().unwrap_or("-"));
            for d in c.differences.iter().take(20) {
                let mut lines = d.summary.lines();
                println!("    {}: {}", d.path, lines.next().unwrap_or_default());
                for line in lines {
                    println!("        {line}");
                }
            }
        }
        println!(
            "Challenge of {} against {}: {} tasks compared, {} the same, {} different; {} not in the cache, {} not in \
             the local store",
            args.targets.join(" "),
            args.substituter,
            same + different,
            same,
            different,
            absent,
            not_local
        );
    }
    Ok(if different > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
