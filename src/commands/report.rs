//! `rstore report reproducibility`: what `build --check` found for every task of the
//! targets, per recipe, with totals: text, JSON, or a self-contained HTML page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rstore_evaluator::realise;
use rstore_evaluator::treediff::Difference;
use rstore_importer::taskgraph::Request;
use serde::Serialize;

use crate::GlobalArgs;
use crate::commands::check::{self, Record};

/// Reports on builds
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Per recipe and task: reproducible or not, and why, from `rstore build --check`
    Reproducibility(ReproducibilityArgs),
}

/// Reads the verdicts `rstore build --check` recorded for the current outputs of every
/// task the targets need (a task whose output changed since its check is "not
/// checked"), and reports them per recipe with totals: the share of checked tasks
/// that are reproducible, as Yocto publishes for its own builds.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  rstore build --check rstore-image-minimal\n  rstore report reproducibility rstore-image-minimal\n  \
                  rstore report reproducibility rstore-image-minimal --html report.html"
)]
pub struct ReproducibilityArgs {
    /// Targets: a recipe or a name one provides, optionally with a task (zlib:do_install)
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Task for targets given without one [default: BB_DEFAULT_TASK, else build]
    #[arg(short = 'c', long = "cmd", value_name = "TASK")]
    pub task: Option<String>,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Write the report as a self-contained HTML page (no network needed to view it)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// One task's line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct TaskLine {
    pub task: String,
    /// `reproducible`, `unreproducible`, `not-checked` or `skipped`.
    pub status: &'static str,
    pub causes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub differences: Vec<Difference>,
}

/// Counts over a set of tasks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub tasks: usize,
    pub checked: usize,
    pub reproducible: usize,
    pub unreproducible: usize,
    pub not_checked: usize,
    pub skipped: usize,
    /// Reproducible share of the checked tasks, in percent (100 when none was checked).
    pub percent: f64,
}

impl Totals {
    fn add(&mut self, line: &TaskLine) {
        self.tasks += 1;
        match line.status {
            "reproducible" => self.reproducible += 1,
            "unreproducible" => self.unreproducible += 1,
            "skipped" => self.skipped += 1,
            _ => self.not_checked += 1,
        }
        self.checked = self.reproducible + self.unreproducible;
        self.percent = if self.checked == 0 { 100.0 } else { 100.0 * self.reproducible as f64 / self.checked as f64 };
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub targets: Vec<String>,
    pub totals: Totals,
    /// Per recipe (by name): totals and tasks.
    pub recipes: BTreeMap<String, RecipeReport>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RecipeReport {
    pub totals: Totals,
    pub tasks: Vec<TaskLine>,
}

pub fn run(global: &GlobalArgs, cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCommand::Reproducibility(args) => reproducibility(global, args),
    }
}

fn reproducibility(global: &GlobalArgs, args: ReproducibilityArgs) -> anyhow::Result<ExitCode> {
    let request = Request { targets: args.targets.clone(), task: args.task.clone() };
    let plan = crate::commands::build::plan(global, &request, None)?;
    let results = realise::resolve_hashes(&plan.build, &*plan.store, Some(&plan.host_fingerprint))?;
    let below = plan.build.closure(plan.graph.targets.iter().copied());
    let mut report = Report { targets: args.targets.clone(), totals: Totals::default(), recipes: BTreeMap::new() };
    for (i, reached) in below.iter().enumerate() {
        if !reached {
            continue;
        }
        let id = &plan.build.node(i).id;
        let record = results[i].unihash.and_then(|u| check::read_record(&plan.tmpdir, &u));
        // A record of another output of the task (rebuilt since) says nothing of this one.
        let record = record.filter(|r| Some(r.stored) == results[i].root);
        let line = task_line(id.to_string(), record);
        report.totals.add(&line);
        let recipe = report.recipes.entry(id.recipe.clone()).or_default();
        recipe.totals.add(&line);
        recipe.tasks.push(line);
    }
    for recipe in report.recipes.values_mut() {
        recipe.tasks.sort_by(|a, b| a.task.cmp(&b.task));
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html(&report)).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        if !args.json && !global.quiet {
            eprintln!("wrote {}", path.display());
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn task_line(task: String, record: Option<Record>) -> TaskLine {
    let Some(r) = record else {
        return TaskLine { task, status: "not-checked", causes: Vec::new(), note: None, differences: Vec::new() };
    };
    if let Some(why) = r.skipped {
        return TaskLine { task, status: "skipped", causes: Vec::new(), note: Some(why), differences: Vec::new() };
    }
    TaskLine {
        task,
        status: if r.reproducible { "reproducible" } else { "unreproducible" },
        causes: r.causes.iter().map(|c| c.name().to_owned()).collect(),
        note: r.note.or(r.failure.map(|f| format!("the rebuild failed: {}", f.lines().next().unwrap_or_default()))),
        differences: r.differences,
    }
}

fn summary_line(t: &Totals) -> String {
    format!(
        "{:.1}% reproducible: {} of {} checked tasks ({} not reproducible, {} not checked, {} skipped)",
        t.percent, t.reproducible, t.checked, t.unreproducible, t.not_checked, t.skipped
    )
}

fn text(report: &Report) -> String {
    let mut out = format!("Reproducibility of {}: {}\n", report.targets.join(" "), summary_line(&report.totals));
    for (name, recipe) in &report.recipes {
        let _ = writeln!(out, "\n{name}: {}", summary_line(&recipe.totals));
        for t in &recipe.tasks {
            let task = t.task.rsplit(':').next().unwrap_or(&t.task);
            match t.status {
                "unreproducible" => {
                    let _ = writeln!(out, "    {task:<28} NOT REPRODUCIBLE ({})", t.causes.join(", "));
                    for d in t.differences.iter().take(5) {
                        let _ = writeln!(out, "        {}: {}", d.path, d.summary.lines().next().unwrap_or_default());
                    }
                }
                status => {
                    let _ = writeln!(out, "    {task:<28} {status}");
                }
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A self-contained page: inline style, no script, no external resource.
fn html(report: &Report) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Reproducibility report</title>\n<style>\n\
         body{font:15px/1.4 sans-serif;margin:0;color:#1b1b1b;background:#fff}\n\
         header{background:#203040;color:#fff;padding:18px 28px}\nheader h1{margin:0 0 6px;font-size:22px}\n\
         main{padding:12px 28px 40px}\n.bar{height:14px;background:#c62828;border-radius:3px;overflow:hidden;margin:8px 0 4px;max-width:640px}\n\
         .bar span{display:block;height:100%;background:#2e7d32}\nh2{font-size:17px;margin:26px 0 6px}\n\
         table{border-collapse:collapse;width:100%;max-width:1100px}\ntd,th{text-align:left;padding:5px 10px;vertical-align:top;border-bottom:1px solid #ddd}\n\
         tr.reproducible td{background:#c8e6c9}\ntr.unreproducible td{background:#ffcdd2}\n\
         tr.not-checked td,tr.skipped td{background:#eeeeee;color:#555}\npre{margin:4px 0;white-space:pre-wrap;font-size:13px}\n\
         </style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<header><h1>Reproducibility of {}</h1><div>{}</div></header>\n<main>",
        escape(&report.targets.join(" ")),
        escape(&summary_line(&report.totals))
    );
    let _ = writeln!(out, "<div class=\"bar\"><span style=\"width:{:.1}%\"></span></div>", report.totals.percent);
    for (name, recipe) in &report.recipes {
        let _ = writeln!(
            out,
            "<h2 id=\"{0}\">{0}</h2><div>{1}</div>\n<table><tr><th>Task</th><th>Status</th><th>Why</th></tr>",
            escape(name),
            escape(&summary_line(&recipe.totals))
        );
        for t in &recipe.tasks {
            let mut why = String::new();
            if !t.causes.is_empty() {
                let _ = write!(why, "<b>{}</b>", escape(&t.causes.join(", ")));
            }
            if let Some(note) = &t.note {
                let _ = write!(why, "<div>{}</div>", escape(note));
            }
            for d in t.differences.iter().take(10) {
                let _ = write!(why, "<pre>{}: {}</pre>", escape(&d.path), escape(&d.summary));
            }
            let _ = writeln!(
                out,
                "<tr class=\"{0}\"><td>{1}</td><td>{0}</td><td>{2}</td></tr>",
                t.status,
                escape(&t.task),
                why
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</main></body></html>\n");
    out
}
