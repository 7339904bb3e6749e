//! `rstore cache …` and `rstore key …`: binary caches (push, serve, verify) and the
//! signing keys their records carry. Substitution itself happens in `rstore build`,
//! from the caches `RSTORE_SUBSTITUTERS` names, trusting `RSTORE_TRUSTED_KEYS`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rstore_evaluator::realise;
use rstore_importer::taskgraph::Request;
use rstore_store::cache::transfer::{self, Progress, PushItem, Substituters};
use rstore_store::cache::{self, Key, SecretKey, TrustedKeys};
use serde_json::json;

use crate::GlobalArgs;

/// Binary caches: push what targets need, serve a store over HTTP, verify a cache
///
/// A cache is a directory (a path or file:///path), a web server (http://, https://)
/// that answers GET and HEAD and, to be pushed to, PUT (nginx with WebDAV, an object
/// store, or `rstore cache serve`), or a Remote Execution API server's CAS and
/// ActionCache (grpc://HOST:PORT[/INSTANCE]: buildbox-casd, BuildGrid, Buildbarn). Builds substitute from the caches
/// RSTORE_SUBSTITUTERS names (in conf/local.conf or the environment), and use only
/// records signed by a key RSTORE_TRUSTED_KEYS lists.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Push the outputs the targets' tasks have in the store, with their hash equivalences
    Push(PushArgs),
    /// Serve the store over HTTP, read-only unless --allow-push is given
    Serve(ServeArgs),
    /// Check a cache: records decode, carry trusted signatures, and name complete, intact outputs
    Verify(VerifyArgs),
}

/// Signing keys for binary caches
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a key pair: DIR/NAME.secret (keep it private) and DIR/NAME.public
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The key's name, which signatures carry (for example ci.example.org-1)
    pub name: String,
    /// Directory to write the two files into
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  rstore cache push file:///srv/cache core-image-minimal --key ci-1.secret\n  \
                         rstore cache push http://cache.local:8080 zlib --key ci-1.secret --token \"$TOKEN\"")]
pub struct PushArgs {
    /// The cache: a directory, file:///path, http://, https:// or grpc://
    pub url: String,
    /// Targets whose tasks' outputs are pushed (recipe, or recipe:do_task)
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Task for targets given without one [default: BB_DEFAULT_TASK, else build]
    #[arg(short = 'c', long = "cmd", value_name = "TASK")]
    pub task: Option<String>,
    /// Secret key file to sign entries and equivalence records with
    #[arg(long, value_name = "FILE", env = "RSTORE_SIGNING_KEY")]
    pub key: Option<PathBuf>,
    /// Bearer token for pushing to a web server
    #[arg(long, env = "RSTORE_CACHE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5050", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Accept pushes (PUT) that carry this bearer token
    #[arg(long, value_name = "TOKEN", env = "RSTORE_CACHE_TOKEN", hide_env_values = true)]
    pub allow_push: Option<String>,
    /// Secret key file to sign the records served with (the store's own are unsigned)
    #[arg(long, value_name = "FILE", env = "RSTORE_SIGNING_KEY")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The cache: a directory, file:///path, http://, https:// or grpc://
    pub url: String,
    /// Check only the records these targets need (a web server's records cannot be
    /// listed, so it needs targets) [default: every record of a directory cache]
    pub targets: Vec<String>,
    /// Task for targets given without one
    #[arg(short = 'c', long = "cmd", value_name = "TASK")]
    pub task: Option<String>,
    /// Trust this public key (NAME:BASE64) too, besides RSTORE_TRUSTED_KEYS
    #[arg(long = "trusted-key", value_name = "KEY")]
    pub trusted_keys: Vec<String>,
    /// Print machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
}

fn read_secret(path: &Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?;
    SecretKey::parse(&text).with_context(|| format!("reading the key file {}", path.display()))
}

/// The caches and trusted keys a build uses: `RSTORE_SUBSTITUTERS` and
/// `RSTORE_TRUSTED_KEYS` from the environment, else from the configuration `vars`.
pub fn substituters(vars: &std::collections::BTreeMap<String, String>) -> anyhow::Result<Option<Substituters>> {
    let urls = setting(vars, "RSTORE_SUBSTITUTERS");
    if urls.trim().is_empty() {
        return Ok(None);
    }
    open_substituters(&urls, vars, "RSTORE_SUBSTITUTERS").map(Some)
}

/// A setting from the environment, else the configuration (empty when neither has it).
fn setting(vars: &std::collections::BTreeMap<String, String>, name: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).or_else(|| vars.get(name).cloned()).unwrap_or_default()
}

/// The caches `urls` (space-separated), trusting the keys RSTORE_TRUSTED_KEYS lists;
/// `what` names where the URLs came from in errors.
pub fn open_substituters(
    urls: &str,
    vars: &std::collections::BTreeMap<String, String>,
    what: &str,
) -> anyhow::Result<Substituters> {
    let trusted = TrustedKeys::parse(&setting(vars, "RSTORE_TRUSTED_KEYS")).context("RSTORE_TRUSTED_KEYS")?;
    if trusted.is_empty() {
        tracing::warn!("{what} is set but RSTORE_TRUSTED_KEYS is empty: no record of the caches will be trusted");
    }
    let caches = urls
        .split_whitespace()
        .map(|u| rstore_reapi::open(u, None).with_context(|| what.to_string()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Substituters::new(caches, trusted))
}

struct Ticker {
    live: bool,
    started: Instant,
}

impl Ticker {
    fn show(&self, what: &str, progress: &Progress) {
        if self.live {
            eprint!(
                "\r\x1b[K{what}: {} objects, {:.1} MiB, {:.0}s",
                progress.objects.load(Ordering::Relaxed),
                progress.bytes.load(Ordering::Relaxed) as f64 / 1048576.0,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn done(&self) {
        if self.live {
            eprint!("\r\x1b[K");
        }
    }
}

/// Runs `work` while a line on stderr shows `progress` once a second.
fn with_progress<R: Send>(
    global: &GlobalArgs,
    json: bool,
    what: &str,
    progress: &Progress,
    work: impl FnOnce() -> R + Send,
) -> R {
    let ticker = Ticker { live: !json && !global.quiet && std::io::stderr().is_terminal(), started: Instant::now() };
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                ticker.show(what, progress);
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        });
        let r = work();
        done.store(true, Ordering::Relaxed);
        r
    });
    ticker.done();
    result
}

pub fn run_key(cmd: KeyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCommand::Generate(a) => {
            let key = SecretKey::generate(&a.name)?;
            std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
            let secret = a.out.join(format!("{}.secret", a.name));
            let public = a.out.join(format!("{}.public", a.name));
            for p in [&secret, &public] {
                if p.exists() {
                    bail!("{} exists already: not overwriting a key", p.display());
                }
            }
            {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&secret)
                    .with_context(|| format!("creating {}", secret.display()))?;
                writeln!(f, "{}", key.to_text()).with_context(|| format!("writing {}", secret.display()))?;
            }
            std::fs::write(&public, format!("{}\n", key.public().to_text()))
                .with_context(|| format!("writing {}", public.display()))?;
            println!("{}", key.public().to_text());
            eprintln!("wrote {} and {}", secret.display(), public.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Per task of the targets' graph: its task id, taskhash, unihash and whether the store
/// has its output.
fn resolved(
    global: &GlobalArgs,
    targets: &[String],
    task: &Option<String>,
) -> anyhow::Result<(crate::commands::build::Plan, Vec<realise::TaskResult>)> {
    let request = Request { targets: targets.to_vec(), task: task.clone() };
    let plan = crate::commands::build::plan(global, &request, None)?;
    let results = realise::resolve_hashes(&plan.build, &*plan.store, Some(&plan.host_fingerprint))?;
    Ok((plan, results))
}

pub fn run(global: &GlobalArgs, cmd: CacheCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CacheCommand::Push(a) => push(global, a),
        CacheCommand::Serve(a) => serve(global, a),
        CacheCommand::Verify(a) => verify(global, a),
    }
}

fn push(global: &GlobalArgs, a: PushArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let key = a.key.as_deref().map(read_secret).transpose()?;
    if key.is_none() {
        tracing::warn!("pushing unsigned records (no --key): no build will trust them");
    }
    let target = rstore_reapi::open(&a.url, a.token.clone())?;
    let (plan, results) = resolved(global, &a.targets, &a.task)?;
    let mut items = Vec::new();
    let mut absent = 0usize;
    for r in &results {
        match (r.root, r.unihash, r.taskhash) {
            (Some(_), Some(unihash), Some(taskhash)) => items.push(PushItem { unihash, taskhashes: vec![taskhash] }),
            _ => absent += 1,
        }
    }
    let progress = Progress::default();
    let report = with_progress(global, a.json, "pushing", &progress, || {
        transfer::push(&plan.store, &*target, &items, key.as_ref(), &progress)
    })
    .with_context(|| format!("pushing to {}", a.url))?;
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            json!({"event": "push", "url": a.url, "tasks": results.len(), "not_in_store": absent,
                              "report": report, "seconds": seconds})
        );
    } else {
        println!(
            "pushed to {}: {} entries ({} there already), {} equivalences, {} objects, {:.1} MiB in {:.1}s; \
             {} of {} tasks not in the store",
            a.url,
            report.entries,
            report.entries_present,
            report.equivalences,
            report.objects,
            report.bytes as f64 / 1048576.0,
            seconds,
            absent,
            results.len()
        );
        if report.entries_unknown > 0 {
            eprintln!(
                "warning: {} entries were recorded before the store kept which task made them; they were not pushed",
                report.entries_unknown
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(global: &GlobalArgs, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let (dir, _) = crate::commands::store::resolve_store_dir(global)?;
    let store: &'static rstore_store::Store = Box::leak(Box::new(
        rstore_store::Store::open(&dir).with_context(|| format!("opening the store at {}", dir.display()))?,
    ));
    let key = a.key.as_deref().map(read_secret).transpose()?;
    let listener = std::net::TcpListener::bind(&a.listen).with_context(|| format!("listening on {}", a.listen))?;
    let address = listener.local_addr().context("reading the listening address")?;
    eprintln!(
        "serving {} at http://{address}/ ({}{})",
        dir.display(),
        if a.allow_push.is_some() { "pushes accepted with the token" } else { "read-only" },
        match &key {
            Some(k) => format!(", records signed by {}", k.name()),
            None => ", records unsigned".into(),
        }
    );
    let cache: Arc<dyn cache::Cache> = Arc::new(cache::local::LocalCache { store, url: format!("http://{address}") });
    cache::serve::serve(listener, cache, cache::serve::ServeOptions { key, push_token: a.allow_push })
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

fn verify(global: &GlobalArgs, a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let target = rstore_reapi::open(&a.url, None)?;
    let mut trusted_text = a.trusted_keys.join(" ");
    if let Ok(env) = std::env::var("RSTORE_TRUSTED_KEYS") {
        trusted_text = format!("{trusted_text} {env}");
    }
    if let Some(conf) = configured_trusted_keys(global)? {
        trusted_text = format!("{trusted_text} {conf}");
    }
    let keys: Vec<Key> = if a.targets.is_empty() {
        match target.list_records()? {
            Some(keys) => keys,
            None => bail!("{} cannot be listed (a web server): name the targets whose records to check", a.url),
        }
    } else {
        let (_, results) = resolved(global, &a.targets, &a.task)?;
        let mut keys = Vec::new();
        for r in results {
            keys.extend(
                r.taskhash.filter(|t| Some(*t.digest()) != r.unihash.map(|u| *u.digest())).map(Key::Equivalence),
            );
            keys.extend(r.unihash.map(Key::Entry));
        }
        // Only the records the cache has are checked (a target's tasks need not all be there).
        let present = target.contains(&keys)?;
        keys.into_iter().zip(present).filter(|(_, p)| *p).map(|(k, _)| k).collect()
    };
    let trusted = TrustedKeys::parse(&trusted_text).context("trusted keys")?;
    if trusted.is_empty() {
        tracing::warn!("no trusted key (--trusted-key, RSTORE_TRUSTED_KEYS): every record will be reported unsigned");
    }
    let progress = Progress::default();
    let report = with_progress(global, a.json, "verifying", &progress, || {
        transfer::verify(&*target, &keys, &trusted, &progress)
    });
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        println!("{}", json!({"event": "verify", "url": a.url, "report": report, "seconds": seconds}));
    } else {
        println!(
            "{}: {} entries, {} equivalences ({} signed by a trusted key), {} objects ({:.1} MiB) checked in {:.1}s: {}",
            a.url,
            report.entries,
            report.equivalences,
            report.trusted,
            report.objects,
            report.bytes as f64 / 1048576.0,
            seconds,
            if report.problems.is_empty() {
                "no problems".to_owned()
            } else {
                format!("{} problems", report.problems.len())
            }
        );
        for p in &report.problems {
            println!("    {}: {}", p.key, p.problem);
        }
    }
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// RSTORE_TRUSTED_KEYS from the build directory's configuration, if there is one.
fn configured_trusted_keys(global: &GlobalArgs) -> anyhow::Result<Option<String>> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let build_dir = global.build_dir.as_ref().map(|d| cwd.join(d)).unwrap_or(cwd);
    if !build_dir.join("conf").join("bblayers.conf").is_file() {
        return Ok(None);
    }
    let session = crate::commands::metadata::open(global, false)?;
    session.data().get_str("RSTORE_TRUSTED_KEYS").map_err(|e| anyhow::anyhow!("RSTORE_TRUSTED_KEYS: {e}"))
}
