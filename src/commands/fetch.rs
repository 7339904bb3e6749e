//! `rstore fetch --import DIR`: add a folder of source files to the download cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use rstore_evaluator::builtin::fetch::downloads::{DownloadCache, Imported};
use serde::Serialize;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Work with the download cache (DL_DIR)
///
/// Every file rstore downloads is kept in the download cache under its file name and
/// indexed by its sha256 and md5 checksums, so any file with the checksum a recipe
/// expects satisfies its fetch, whatever its name or where it came from.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  rstore fetch --import /media/usb/tarballs\n  rstore fetch --import ../old-build/downloads --json"
)]
pub struct FetchArgs {
    /// Add every file in DIR (not in its subdirectories; hidden files, BitBake's .done and
    /// .lock files are skipped) to the download cache: under its own name when that name
    /// is free (or already holds the same contents), and in the checksum index in any case
    #[arg(long, value_name = "DIR")]
    pub import: PathBuf,
    /// The download cache [default: DL_DIR of the build directory's configuration]
    #[arg(long, value_name = "DIR")]
    pub downloads: Option<PathBuf>,
    /// Print a JSON object (files with their checksums and what happened to each)
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct FileReport {
    path: PathBuf,
    name: String,
    status: Imported,
    size: u64,
    sha256: String,
    md5: String,
}

#[derive(Serialize)]
struct Report {
    downloads: PathBuf,
    files: Vec<FileReport>,
    added: usize,
    present: usize,
    indexed_only: usize,
}

pub fn run(global: &GlobalArgs, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let downloads = match &args.downloads {
        Some(d) => d.clone(),
        None => {
            let session = metadata::open(global, false)?;
            let dl = session
                .data()
                .get_str("DL_DIR")
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .filter(|s| !s.is_empty())
                .context("DL_DIR is not set in the configuration; give --downloads")?;
            PathBuf::from(dl)
        }
    };
    if !args.import.is_dir() {
        anyhow::bail!("{} is not a directory", args.import.display());
    }
    let cache = DownloadCache::open(&downloads)
        .with_context(|| format!("opening the download cache {}", downloads.display()))?;
    let mut files = Vec::new();
    collect(&args.import, &mut files).with_context(|| format!("listing {}", args.import.display()))?;
    files.sort();
    let mut report = Report { downloads: downloads.clone(), files: Vec::new(), added: 0, present: 0, indexed_only: 0 };
    for (i, path) in files.iter().enumerate() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !global.quiet {
            eprintln!("[{}/{}] {}", i + 1, files.len(), path.display());
        }
        let (status, digests) = cache.import(path, &name).with_context(|| format!("importing {}", path.display()))?;
        match status {
            Imported::Added => report.added += 1,
            Imported::Present => report.present += 1,
            Imported::IndexedOnly => report.indexed_only += 1,
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        report.files.push(FileReport {
            path: path.clone(),
            name,
            status,
            size,
            sha256: digests.sha256.hex().to_owned(),
            md5: digests.md5.hex().to_owned(),
        });
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::from).and_then(|_| writeln!(out))
    } else {
        report.files.iter().try_for_each(|f| {
            let status = match f.status {
                Imported::Added => "added",
                Imported::Present => "present",
                Imported::IndexedOnly => "indexed",
            };
            writeln!(out, "{status:8} {} {}", f.sha256, f.name)
        })
    };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.context("writing the report")?,
    }
    if !args.json && !global.quiet {
        eprintln!(
            "{} files: {} added, {} already present, {} indexed only (their names hold other files) in {}",
            report.files.len(),
            report.added,
            report.present,
            report.indexed_only,
            downloads.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Regular files in `dir` (following symbolic links to files), skipping hidden names
/// and BitBake's stamps and locks.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".lock") || name.ends_with(".done") {
            continue;
        }
        let path = entry.path();
        if std::fs::metadata(&path)?.is_file() {
            out.push(path);
        }
    }
    Ok(())
}
