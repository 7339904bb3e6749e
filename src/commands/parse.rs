//! `rstore parse`: parse everything and report counts, errors and time.

use std::process::ExitCode;
use std::time::Instant;

use rstore_importer::catalog::Signatures;
use serde_json::json;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Parse every recipe of the enabled layers and report what happened
#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Parse with this many processes [default: number of CPUs]
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Ignore the parse cache (parse everything again and refresh it)
    #[arg(long)]
    pub no_cache: bool,
    /// Also compute every task's signature (its derivation's basehash), as BitBake does
    /// while parsing; otherwise signatures are computed when a graph or build needs them
    #[arg(long)]
    pub signatures: bool,
}

pub fn run(global: &GlobalArgs, args: ParseArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if args.no_cache {
        let cache = rstore_importer::cache::cache_path(&metadata::build_dir(global)?);
        if cache.exists() {
            std::fs::remove_file(&cache)?;
        }
    }
    let signatures = if args.signatures { Signatures::All } else { Signatures::None };
    let (report, stats) = metadata::parse_all_with(global, &[], args.jobs, &signatures)?;
    let total = started.elapsed();
    let targets = report.recipes.len();
    let skipped = report.recipes.iter().filter(|r| r.skipped.is_some()).count();
    if args.json {
        let out = json!({
            "files": report.files,
            "targets": targets,
            "skipped": skipped,
            "masked": report.masked,
            "errors": report.failures.len(),
            "failures": report.failures,
            "warnings": report.warnings,
            "bitbake": report.bitbake,
            "from_cache": stats.from_cache,
            "parsed": stats.parsed,
            "config_seconds": stats.config_seconds,
            "seconds": total.as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for f in &report.failures {
            eprintln!("error: {}", f.error);
        }
        println!(
            "Parsed {} .bb files ({} from cache, {} parsed): {} targets, {} skipped, {} masked, {} errors in {:.2}s",
            report.files,
            stats.from_cache,
            stats.parsed,
            targets,
            skipped,
            report.masked,
            report.failures.len(),
            total.as_secs_f64(),
        );
    }
    let code = if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    rstore_importer::catalog::drop_in_background(report);
    Ok(code)
}
