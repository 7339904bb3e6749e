//! `rstore store …`: the content-addressed store.
//!
//! Where the store lives is decided by [`resolve_store_dir`], which every command
//! that needs the store uses.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rstore_store::{
    Access, Attributes, Digest, GcOptions, IngestOptions, Node, ObjectKind, Phase, Reporter, RootTarget, Store,
    TarOptions, TreeDigest, Unihash, VerifyOptions,
};
use serde::Serialize;

use crate::GlobalArgs;

/// The content-addressed store: ingest directories, inspect, export, verify, collect garbage.
///
/// The store is found with --store (or the RSTORE_STORE environment variable), else
/// RSTORE_STORE_DIR in the build directory's conf/local.conf, else
/// $XDG_CACHE_HOME/rstore/store (default ~/.cache/rstore/store). Several build
/// directories can share one store, and several rstore processes can use it at once.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Ingest a directory and print its root tree digest
    Add(AddArgs),
    /// List a directory of a tree (HASH is a tree digest or an entry's unihash)
    Ls(LsArgs),
    /// Write a file of a tree to stdout
    Cat(CatArgs),
    /// Write a tree as an archive (deterministic: sorted, fixed mtimes, numeric owners)
    Export(ExportArgs),
    /// Create a directory holding a tree (read-only hardlinks, or a writable copy)
    Materialise(MaterialiseArgs),
    /// Re-hash every object and report missing or corrupt objects and dangling records
    Verify(VerifyArgs),
    /// Delete everything that no GC root reaches and print the bytes freed
    Gc(GcArgs),
    /// Print counts and sizes: entries, blobs, logical and stored bytes, dedup ratio
    Stats(JsonArg),
    /// Keep a tree or an entry alive across garbage collection under a name
    Pin(PinArgs),
    /// Remove a pin
    Unpin(UnpinArgs),
    /// List the GC roots (pins and registered result links)
    Roots(JsonArg),
    /// Print the store directory that the other commands use
    Path(JsonArg),
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Directory to ingest (a symlink to a directory is followed)
    pub path: PathBuf,
    /// Record full permission bits, uid and gid (for fakeroot outputs); by default
    /// only the executable bit of files is recorded
    #[arg(long)]
    pub fakeroot: bool,
    /// Also pin the tree under this name so garbage collection keeps it
    #[arg(long, value_name = "NAME")]
    pub pin: Option<String>,
    /// zstd compression level for new blobs
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub level: i32,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Tree digest, or the unihash of an entry (its output tree is listed)
    pub hash: Digest,
    /// Directory inside the tree (slash-separated) [default: the root]
    #[arg(default_value = "")]
    pub path: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    /// Tree digest, or the unihash of an entry
    pub hash: Digest,
    /// File inside the tree (slash-separated)
    pub path: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// POSIX tar with GNU long names
    Tar,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Tree digest, or the unihash of an entry
    pub hash: Digest,
    /// Archive format
    #[arg(long, value_enum, default_value = "tar")]
    pub format: ExportFormat,
    /// mtime for every member, in seconds since the epoch
    #[arg(long, default_value_t = 0)]
    pub mtime: u64,
    /// Write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MaterialiseArgs {
    /// Tree digest, or the unihash of an entry
    pub hash: Digest,
    /// Directory to create (must not exist)
    pub dest: PathBuf,
    /// Make an independent writable copy (reflinks where the filesystem has them)
    /// instead of read-only hardlinks into the store's checkout cache
    #[arg(long)]
    pub writable: bool,
    /// Register DEST as a result link: the tree stays alive across garbage
    /// collection while DEST exists
    #[arg(long)]
    pub result_link: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Remove corrupt objects, corrupt index records and every record that depends
    /// on a missing or corrupt object, so they get rebuilt or substituted again
    #[arg(long)]
    pub repair: bool,
    /// Skip re-hashing the uncompressed checkout cache
    #[arg(long)]
    pub no_checkouts: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only report what would be deleted
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// Name of the pin (replaces an existing pin of that name)
    pub name: String,
    /// Tree digest, or the unihash of an entry
    pub hash: Digest,
}

#[derive(Debug, Args)]
pub struct UnpinArgs {
    /// Name of the pin
    pub name: String,
}

/// Where the store directory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreDirSource {
    /// `--store` or `RSTORE_STORE`.
    Option,
    /// `RSTORE_STORE_DIR` of the build directory's configuration.
    Configuration,
    /// The per-user default (outside a build directory).
    Default,
}

/// Finds the store directory: `--store DIR` (or `RSTORE_STORE`), else
/// `RSTORE_STORE_DIR` of the build directory's configuration (evaluated as BitBake
/// would: `local.conf`, then the layers' `bitbake.conf`, whose default is
/// `${TOPDIR}/store`), else — outside a build directory — `$XDG_CACHE_HOME/rstore/store`,
/// else `$HOME/.cache/rstore/store`. `rstore build` uses the same rule.
pub fn resolve_store_dir(global: &GlobalArgs) -> anyhow::Result<(PathBuf, StoreDirSource)> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    if let Some(dir) = &global.store {
        return Ok((cwd.join(dir), StoreDirSource::Option));
    }
    let build_dir = match &global.build_dir {
        Some(dir) => cwd.join(dir),
        None => cwd,
    };
    if build_dir.join("conf").join("bblayers.conf").is_file() {
        let session = crate::commands::metadata::open(global, false)?;
        let configured =
            session.data().get_str("RSTORE_STORE_DIR").map_err(|e| anyhow::anyhow!("RSTORE_STORE_DIR: {e}"))?;
        if let Some(dir) = configured.filter(|d| !d.trim().is_empty()) {
            return Ok((build_dir.join(dir.trim()), StoreDirSource::Configuration));
        }
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home).join(".cache"),
            _ => bail!(
                "cannot find a store directory: use --store DIR, set RSTORE_STORE_DIR in conf/local.conf, or set HOME"
            ),
        },
    };
    Ok((cache.join("rstore").join("store"), StoreDirSource::Default))
}

pub fn run(global: &GlobalArgs, cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    let (dir, source) = resolve_store_dir(global)?;
    if let StoreCommand::Path(args) = &cmd {
        if args.json {
            print_json(&serde_json::json!({ "path": dir, "source": source }))?;
        } else {
            println!("{}", dir.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    tracing::debug!("store: {} ({source:?})", dir.display());
    let store = Store::open(&dir).with_context(|| format!("opening the store at {}", dir.display()))?;
    let reporter = BarReporter::new(global.quiet);
    match cmd {
        StoreCommand::Path(_) => unreachable!("handled above"),
        StoreCommand::Add(args) => add(&store, args, &reporter),
        StoreCommand::Ls(args) => ls(&store, args),
        StoreCommand::Cat(args) => cat(&store, args),
        StoreCommand::Export(args) => export(&store, args),
        StoreCommand::Materialise(args) => materialise(&store, args, &reporter),
        StoreCommand::Verify(args) => verify(&store, args, &reporter),
        StoreCommand::Gc(args) => gc(&store, args, &reporter),
        StoreCommand::Stats(args) => stats(&store, args),
        StoreCommand::Pin(args) => {
            let target = root_target(&store, &args.hash)?;
            store.pin(&args.name, target)?;
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Unpin(args) => {
            store.unpin(&args.name)?;
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Roots(args) => roots(&store, args),
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A tree digest as given, or the output tree of the entry with that unihash.
/// (A digest given on the command line may be either: which it is, the store says.)
fn tree_of(store: &Store, hash: &Digest) -> anyhow::Result<TreeDigest> {
    if store.has_object(ObjectKind::Tree, hash) {
        return Ok(TreeDigest::from_digest(*hash));
    }
    match store.entry(&Unihash::from_digest(*hash))? {
        Some(entry) => Ok(entry.root),
        None => Err(rstore_store::StoreError::UnknownDigest { digest: *hash }.into()),
    }
}

fn root_target(store: &Store, hash: &Digest) -> anyhow::Result<RootTarget> {
    let unihash = Unihash::from_digest(*hash);
    if store.entry(&unihash)?.is_some() {
        return Ok(RootTarget::Entry(unihash));
    }
    if store.has_object(ObjectKind::Tree, hash) {
        return Ok(RootTarget::Tree(TreeDigest::from_digest(*hash)));
    }
    Err(rstore_store::StoreError::UnknownDigest { digest: *hash }.into())
}

fn add(store: &Store, args: AddArgs, reporter: &BarReporter) -> anyhow::Result<ExitCode> {
    let options = IngestOptions {
        attributes: if args.fakeroot { Attributes::Full } else { Attributes::Plain },
        compression_level: args.level,
    };
    let outcome = store.ingest(&args.path, &options, reporter)?;
    reporter.clear();
    if let Some(name) = &args.pin {
        store.pin(name, RootTarget::Tree(outcome.root))?;
    }
    if args.json.json {
        print_json(&outcome)?;
    } else {
        println!("{}", outcome.root);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct LsEntry {
    name: String,
    kind: &'static str,
    mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

fn ls(store: &Store, args: LsArgs) -> anyhow::Result<ExitCode> {
    let root = tree_of(store, &args.hash)?;
    let digest = match store.resolve(&root, &args.path)? {
        (Node::Directory { digest, .. }, _) => digest,
        (other, _) => bail!("{:?} in tree {root} is a {}, not a directory", args.path, other.kind_name()),
    };
    let tree = store.read_tree(&digest)?;
    let entries: Vec<LsEntry> = tree
        .entries()
        .iter()
        .map(|e| {
            let (kind, size, digest, target) = match &e.node {
                Node::File { digest, size } => ("file", Some(*size), Some(*digest.digest()), None),
                Node::Directory { digest, size } => ("directory", Some(*size), Some(*digest.digest()), None),
                Node::Symlink { target } => ("symlink", None, None, Some(target.to_string())),
            };
            LsEntry {
                name: e.name.to_string(),
                kind,
                mode: format!("{:04o}", e.mode),
                uid: e.owner.map(|o| o.uid),
                gid: e.owner.map(|o| o.gid),
                size,
                digest,
                target,
            }
        })
        .collect();
    if args.json.json {
        print_json(&serde_json::json!({ "tree": digest, "entries": entries }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for e in &entries {
        let type_char = match e.kind {
            "directory" => 'd',
            "symlink" => 'l',
            _ => '-',
        };
        let owner = match (e.uid, e.gid) {
            (Some(u), Some(g)) => format!(" {u:>5} {g:>5}"),
            _ => String::new(),
        };
        let size = e.size.map(|s| s.to_string()).unwrap_or_default();
        let digest = e.digest.map(|d| d.to_string()).unwrap_or_else(|| "-".repeat(67));
        match &e.target {
            Some(t) => writeln!(out, "{type_char}{}{owner} {size:>12} {digest} {} -> {t}", e.mode, e.name)?,
            None => writeln!(out, "{type_char}{}{owner} {size:>12} {digest} {}", e.mode, e.name)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cat(store: &Store, args: CatArgs) -> anyhow::Result<ExitCode> {
    let root = tree_of(store, &args.hash)?;
    let reader = store.open_file(&root, &args.path)?;
    let mut out = std::io::stdout().lock();
    reader.copy_to(&mut out, Path::new("<stdout>"))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn export(store: &Store, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let root = tree_of(store, &args.hash)?;
    let ExportFormat::Tar = args.format;
    let options = TarOptions { mtime: args.mtime };
    match &args.output {
        Some(path) => {
            // Written next to the destination and renamed, so a failed export leaves nothing.
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".rstore-export")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .tempfile_in(parent)
                .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
            {
                let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
                store.export_tar(&root, &mut buffered, &options)?;
                buffered.flush().with_context(|| format!("writing {}", path.display()))?;
            }
            tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("refusing to write a tar archive to a terminal; redirect stdout or use -o FILE");
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            store.export_tar(&root, &mut out, &options)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn materialise(store: &Store, args: MaterialiseArgs, reporter: &BarReporter) -> anyhow::Result<ExitCode> {
    let root = tree_of(store, &args.hash)?;
    let access = if args.writable { Access::Writable } else { Access::ReadOnly };
    let outcome = store.materialise(&root, &args.dest, access, reporter)?;
    reporter.clear();
    if args.result_link {
        store.register_result_link(&args.dest, root_target(store, &args.hash)?)?;
    }
    if args.json.json {
        print_json(&outcome)?;
    } else {
        println!("{}", args.dest.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &Store, args: VerifyArgs, reporter: &BarReporter) -> anyhow::Result<ExitCode> {
    let options = VerifyOptions { repair: args.repair, checkouts: !args.no_checkouts };
    let report = store.verify(&options, reporter)?;
    reporter.clear();
    if args.json.json {
        print_json(&report)?;
    } else {
        let mut out = std::io::stdout().lock();
        for p in &report.problems {
            writeln!(out, "{}", describe_problem(p))?;
        }
        for d in &report.dangling {
            writeln!(out, "dangling {} record {} (depends on {})", d.table.name(), d.key, d.broken)?;
        }
        writeln!(
            out,
            "checked {} objects ({}), {} checkout files, {} index records: {}",
            report.objects,
            human_bytes(report.object_bytes),
            report.checkout_files,
            report.records,
            if report.is_clean() {
                "clean".to_owned()
            } else {
                format!("{} problems, {} dangling records", report.problems.len(), report.dangling.len())
            }
        )?;
        if report.repaired && !report.is_clean() {
            writeln!(
                out,
                "repaired: removed {} files and {} index records",
                report.removed_files, report.removed_records
            )?;
        }
    }
    Ok(if report.is_clean() || report.repaired { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn describe_problem(p: &rstore_store::Problem) -> String {
    use rstore_store::Problem;
    match p {
        Problem::CorruptObject { kind, digest, reason } => format!("corrupt {kind} {digest}: {reason}"),
        Problem::MissingObject { kind, digest } => format!("missing {kind} {digest}"),
        Problem::StrayFile { path } => format!("stray file {}", path.display()),
        Problem::CorruptIndexValue { table, key, reason } => {
            format!("corrupt index record {}/{key}: {reason}", table.name())
        }
        Problem::CorruptCheckout { path, reason } => {
            format!("corrupt checkout {}: {reason}", path.display())
        }
    }
}

fn gc(store: &Store, args: GcArgs, reporter: &BarReporter) -> anyhow::Result<ExitCode> {
    let report = store.gc(&GcOptions { dry_run: args.dry_run }, reporter)?;
    reporter.clear();
    if args.json.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if report.dry_run { "would remove" } else { "removed" };
    for stale in &report.stale_roots {
        println!("{verb} stale root {stale}");
    }
    println!(
        "{verb} {} entries, {} blobs, {} trees, {} checkouts; kept {} entries, {} trees, {} blobs from {} roots",
        report.removed_entries,
        report.removed_blobs,
        report.removed_trees,
        report.removed_checkouts,
        report.live_entries,
        report.live_trees,
        report.live_blobs,
        report.roots
    );
    println!(
        "{} {} bytes ({})",
        if report.dry_run { "would free" } else { "freed" },
        report.bytes_freed,
        human_bytes(report.bytes_freed)
    );
    Ok(ExitCode::SUCCESS)
}

fn stats(store: &Store, args: JsonArg) -> anyhow::Result<ExitCode> {
    let s = store.stats()?;
    if args.json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("store           {}", store.dir().display());
    println!("entries         {}", s.entries);
    println!("taskhashes      {}", s.taskhashes);
    println!("complete trees  {}", s.complete_trees);
    println!("GC roots        {}", s.roots);
    println!("blobs           {}", s.blobs);
    println!("tree objects    {}", s.trees);
    println!("logical bytes   {} ({})", s.logical_bytes, human_bytes(s.logical_bytes));
    println!("unique bytes    {} ({})", s.unique_bytes, human_bytes(s.unique_bytes));
    println!("stored bytes    {} ({})", s.stored_bytes, human_bytes(s.stored_bytes));
    println!("checkout bytes  {} ({})", s.checkout_bytes, human_bytes(s.checkout_bytes));
    println!("dedup ratio     {:.2}", s.dedup_ratio);
    println!("logical/stored  {:.2}", s.total_ratio);
    Ok(ExitCode::SUCCESS)
}

fn roots(store: &Store, args: JsonArg) -> anyhow::Result<ExitCode> {
    let roots = store.roots()?;
    if args.json {
        print_json(&roots)?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in roots {
        println!("{} {}", r.name, r.target);
    }
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// Draws store progress on stderr when it is a terminal.
struct BarReporter {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl BarReporter {
    fn new(quiet: bool) -> Self {
        Self { bar: Mutex::new(None), enabled: !quiet && std::io::stderr().is_terminal() }
    }

    fn clear(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for BarReporter {
    fn start(&self, phase: Phase, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        let (label, bytes) = match phase {
            Phase::Scanning => ("scanning", false),
            Phase::Ingesting => ("ingesting", true),
            Phase::Syncing => ("syncing", false),
            Phase::CheckingOut => ("checking out", true),
            Phase::Linking => ("linking", false),
            Phase::Verifying => ("verifying", true),
            Phase::WaitingForLock => ("waiting for other rstore processes", false),
            Phase::Collecting => ("deleting", false),
        };
        let bar = match total {
            Some(total) => {
                let template = if bytes {
                    "{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
                } else {
                    "{msg:>14} [{bar:30}] {pos}/{len}"
                };
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            }
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(label);
        let mut slot = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, amount: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.inc(amount);
        }
    }

    fn finish(&self, _phase: Phase) {
        self.clear();
    }
}
