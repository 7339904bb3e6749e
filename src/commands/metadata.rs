//! Shared pieces of the commands that read BitBake metadata.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rstore_importer::session::{Options, Reporter, Session};

use crate::GlobalArgs;

/// The build directory: `-C DIR` or the current directory.
pub fn build_dir(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    match &global.build_dir {
        Some(d) => Ok(d.clone()),
        None => std::env::current_dir().context("reading the current directory"),
    }
}

/// Open the build directory for parsing.
pub fn open(global: &GlobalArgs, tracking: bool) -> anyhow::Result<Session> {
    let dir = build_dir(global)?;
    let options = Options { env: std::env::vars().collect(), tracking };
    let session =
        Session::open(&dir, &options).with_context(|| format!("reading the configuration of {}", dir.display()))?;
    for w in &session.config.warnings {
        tracing::warn!("{w}");
    }
    for m in &session.config_messages {
        if m.level >= rstore_importer::python::LogLevel::Warn {
            tracing::warn!("{}", m.text);
        }
    }
    Ok(session)
}

/// Parse every recipe of the build directory (through the parse cache), also computing
/// task signatures where `signatures` says.
pub fn parse_all_with(
    global: &GlobalArgs,
    vars: &[String],
    jobs: Option<usize>,
    signatures: &rstore_importer::catalog::Signatures<'_>,
) -> anyhow::Result<(rstore_importer::session::ParseReport, rstore_importer::catalog::CatalogStats)> {
    let dir = build_dir(global)?;
    let options = Options { env: std::env::vars().collect(), tracking: false };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let progress = Progress::new(global.quiet);
    let result = rstore_importer::catalog::parse_all_with(&dir, &options, vars, jobs, &progress, signatures)
        .with_context(|| format!("reading the configuration of {}", dir.display()));
    progress.finish();
    let (report, stats) = result?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    Ok((report, stats))
}

/// Print each recipe file that failed to parse on an `error:` line, and fail if any did.
pub fn require_clean_parse(report: &rstore_importer::session::ParseReport) -> anyhow::Result<()> {
    if report.failures.is_empty() {
        return Ok(());
    }
    for f in &report.failures {
        eprintln!("error: {}", f.error);
    }
    anyhow::bail!("{} of {} recipe files failed to parse", report.failures.len(), report.files)
}

/// Parse everything, then compute signatures for the recipe files `pick` returns (the
/// recipes of a task graph) in the same pass over the parse cache.
pub fn parse_all_then(
    global: &GlobalArgs,
    jobs: Option<usize>,
    pick: &mut dyn FnMut(&rstore_importer::session::ParseReport) -> Option<std::collections::BTreeSet<PathBuf>>,
) -> anyhow::Result<rstore_importer::session::ParseReport> {
    let dir = build_dir(global)?;
    let options = Options { env: std::env::vars().collect(), tracking: false };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let progress = Progress::new(global.quiet);
    let result = rstore_importer::catalog::parse_all_then(&dir, &options, &[], jobs, &progress, pick)
        .with_context(|| format!("reading the configuration of {}", dir.display()));
    progress.finish();
    let (report, _) = result?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    Ok(report)
}

/// Parsing progress on stderr when it is a terminal.
pub struct Progress {
    enabled: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { enabled: !quiet && std::io::stderr().is_terminal() }
    }

    pub fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[K");
        }
    }
}

impl Reporter for Progress {
    fn parsing(&self, done: usize, total: usize, file: &Path) {
        if self.enabled {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            eprint!("\r\x1b[KParsing recipes: {done}/{total} {name}");
        }
    }
}

/// Resolve a recipe argument to (file, variant) or fail with a clear message.
fn find_recipe(session: &Session, name: &str) -> anyhow::Result<(PathBuf, String)> {
    session.find_recipe(name).with_context(|| {
        format!(
            "no recipe named {name}: give a PN (e.g. zlib, zlib-native), a path to a .bb file, or \
             virtual:VARIANT:FILE (a PN its file name does not give, such as binutils-cross-x86_64, is found \
             once `rstore parse` has run)"
        )
    })
}

/// Parse the recipe a recipe argument names: its file and the variant named (which may
/// be skipped: the caller decides what that means).
pub fn recipe_variant(session: &Session, name: &str) -> anyhow::Result<(PathBuf, rstore_importer::recipe::Variant)> {
    let (file, variant) = find_recipe(session, name)?;
    let (variants, _, _) = session.parse_file(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let v = variants
        .into_iter()
        .find(|v| v.name == variant)
        .with_context(|| format!("{} has no variant {variant:?}", file.display()))?;
    Ok((file, v))
}
