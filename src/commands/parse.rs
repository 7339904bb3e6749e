//! `rstore parse`: parse everything and report counts, errors and time.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Parse every recipe of the enabled layers and report what happened
#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: ParseArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let session = metadata::open(global, false)?;
    let config_time = started.elapsed();
    let progress = metadata::Progress::new(global.quiet || args.json);
    let report = session.parse_all(&[], &progress);
    progress.finish();
    let total = started.elapsed();
    let targets = report.recipes.len();
    let skipped = report
        .recipes
        .iter()
        .filter(|r| r.skipped.is_some())
        .count();
    if args.json {
        let out = json!({
            "files": report.files,
            "targets": targets,
            "skipped": skipped,
            "masked": report.masked,
            "errors": report.failures.len(),
            "failures": report.failures,
            "warnings": report.warnings,
            "config_seconds": config_time.as_secs_f64(),
            "seconds": total.as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        for f in &report.failures {
            eprintln!("error: {}", f.error);
        }
        println!(
            "Parsed {} .bb files: {} targets, {} skipped, {} masked, {} errors in {:.2}s (configuration {:.2}s)",
            report.files,
            targets,
            skipped,
            report.masked,
            report.failures.len(),
            total.as_secs_f64(),
            config_time.as_secs_f64()
        );
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
