//! The recipes of a build directory, served from the parse cache when nothing they
//! depend on changed, parsed (in parallel) otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cache::{self, CacheData, CachedFile, FileHasher};
use crate::config::approved_environment;
use crate::layers::{self, Collection};
use crate::parallel::{self, FileResult};
use crate::session::{Options, ParseFailure, ParseReport, Reporter, Session, SessionError};

/// Variables every cached record carries, so common queries need no parse.
pub const CACHED_VARS: &[&str] = &[
    "DEPENDS",
    "PROVIDES",
    "RDEPENDS:${PN}",
    "RRECOMMENDS:${PN}",
    "RPROVIDES:${PN}",
    "PACKAGES",
    "PACKAGES_DYNAMIC",
    "SRC_URI",
    "S",
    "LICENSE",
    "SUMMARY",
    "DESCRIPTION",
    "HOMEPAGE",
    "SECTION",
    "BBCLASSEXTEND",
    "DEFAULT_PREFERENCE",
];

/// How a catalog was obtained.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CatalogStats {
    pub from_cache: usize,
    pub parsed: usize,
    pub config_parsed: bool,
    pub config_seconds: f64,
    pub seconds: f64,
}

/// What identifies a configuration besides its files: rstore's build and the approved
/// environment, except the variables named in `ignored`.
fn identity(env: &[(String, String)], ignored: &[String]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(crate::python::build_id().as_bytes());
    // The BitBake checkout decides the parse rules (its version file is one of the
    // configuration's files): another checkout is another configuration.
    if let Some(dir) = crate::bitbake_version::checkout_in_environment(env) {
        h.update(dir.as_os_str().as_encoded_bytes());
    }
    h.update(&[0]);
    let mut approved = approved_environment(env);
    approved.retain(|(k, _)| !ignored.contains(k));
    approved.sort();
    for (k, v) in approved {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex().to_string()
}

fn has_vars(r: &FileResult, vars: &[String]) -> bool {
    match &r.outcome {
        Err(_) => true,
        Ok(records) => records.iter().all(|rec| vars.iter().all(|v| rec.vars.iter().any(|(k, _)| k == v))),
    }
}

/// Which recipe files need task signatures (derivations and basehashes).
pub enum Signatures<'a> {
    None,
    All,
    /// Only these recipe files.
    For(&'a BTreeSet<PathBuf>),
}

impl Signatures<'_> {
    fn wanted(&self, file: &Path) -> bool {
        match self {
            Signatures::None => false,
            Signatures::All => true,
            Signatures::For(files) => files.contains(file),
        }
    }
}

/// Whether every parsed task of a cached result has its basehash.
fn has_signatures(r: &FileResult) -> bool {
    match &r.outcome {
        Err(_) => true,
        Ok(records) => {
            records.iter().filter(|rec| rec.skipped.is_none()).all(|rec| rec.tasks.iter().all(|t| t.basehash.is_some()))
        }
    }
}

/// Parse every recipe of `build_dir`, from the cache where possible.
pub fn parse_all(
    build_dir: &Path,
    options: &Options,
    vars: &[String],
    jobs: usize,
    reporter: &dyn Reporter,
) -> Result<(ParseReport, CatalogStats), SessionError> {
    parse_all_with(build_dir, options, vars, jobs, reporter, &Signatures::None)
}

/// [`parse_all`], also computing task signatures for the files `signatures` names.
pub fn parse_all_with(
    build_dir: &Path,
    options: &Options,
    vars: &[String],
    jobs: usize,
    reporter: &dyn Reporter,
    signatures: &Signatures<'_>,
) -> Result<(ParseReport, CatalogStats), SessionError> {
    let build_dir = crate::eval::absolute(build_dir);
    let mut cache = CacheData::load(&build_dir);
    let mut hasher = FileHasher::default();
    let out = parse_into(&build_dir, options, vars, jobs, reporter, signatures, &mut cache, &mut hasher);
    drop_in_background(cache);
    out
}

/// Parse everything, then compute signatures for the recipe files `pick` chooses from
/// the result (the recipes of a task graph), reading the cache and hashing files once.
pub fn parse_all_then(
    build_dir: &Path,
    options: &Options,
    vars: &[String],
    jobs: usize,
    reporter: &dyn Reporter,
    pick: &mut dyn FnMut(&ParseReport) -> Option<BTreeSet<PathBuf>>,
) -> Result<(ParseReport, CatalogStats), SessionError> {
    let build_dir = crate::eval::absolute(build_dir);
    let mut cache = CacheData::load(&build_dir);
    let mut hasher = FileHasher::default();
    let first = parse_into(&build_dir, options, vars, jobs, reporter, &Signatures::None, &mut cache, &mut hasher)?;
    let out = match pick(&first.0) {
        // The first pass left every record in the cache: when those of the picked files
        // already carry their signatures, the first report holds them too.
        Some(files) if !files.iter().all(|f| cache.files.get(f).is_some_and(|c| has_signatures(&c.result))) => {
            parse_into(&build_dir, options, vars, jobs, reporter, &Signatures::For(&files), &mut cache, &mut hasher)
        }
        _ => Ok(first),
    };
    drop_in_background(cache);
    out
}

/// Free `value` on a thread of its own. The parse cache holds hundreds of thousands
/// of small allocations; freeing them takes tens of milliseconds a command need not
/// wait for (if the process ends first, the system reclaims the memory anyway).
pub fn drop_in_background<T: Send + 'static>(value: T) {
    // When no thread can be started, the value comes back in the error and is dropped here.
    let _ = std::thread::Builder::new().name("free".into()).spawn(move || drop(value));
}

#[allow(clippy::too_many_arguments)]
fn parse_into(
    build_dir: &Path,
    options: &Options,
    vars: &[String],
    jobs: usize,
    reporter: &dyn Reporter,
    signatures: &Signatures<'_>,
    cache: &mut CacheData,
    hasher: &mut FileHasher,
) -> Result<(ParseReport, CatalogStats), SessionError> {
    let started = Instant::now();
    let build_dir = build_dir.to_path_buf();
    let ident = identity(&options.env, &cache.identity_ignores);
    let mut wanted: Vec<String> = CACHED_VARS.iter().map(|s| (*s).to_owned()).collect();
    for v in vars {
        if !wanted.contains(v) {
            wanted.push(v.clone());
        }
    }
    let mut stats = CatalogStats::default();

    // Warm path: the configuration is unchanged, so the recipe list comes from the
    // cached BBFILES and every unchanged recipe from its cached record.
    if cache.identity == ident && !cache.config_key.is_empty() && hasher.unchanged(&cache.config_deps) {
        let collections: Vec<Collection> = cache.collections.iter().cloned().map(Collection::recompile).collect();
        let files = layers::recipe_files_from(&cache.bbfiles, &cache.bbmask, &collections);
        let all_cached = files.recipes.iter().all(|f| {
            cache.files.get(f).is_some_and(|c| {
                c.config_key == cache.config_key
                    && hasher.unchanged(&c.deps)
                    && has_vars(&c.result, vars)
                    && (!signatures.wanted(f) || has_signatures(&c.result))
                    && appends_match(&files, f, &c.deps)
            })
        });
        if all_cached {
            let results: Vec<FileResult> = files.recipes.iter().map(|f| cache.files[f].result.clone()).collect();
            stats.from_cache = results.len();
            stats.seconds = started.elapsed().as_secs_f64();
            let mut out = report(results, files.masked, vars, Vec::new());
            out.failures.extend(dangling_appends(&files));
            out.providers = cache.providers.clone();
            out.bitbake = cache.bitbake.clone();
            return Ok((out, stats));
        }
    }

    let t = Instant::now();
    let session = Session::open(&build_dir, options)?;
    stats.config_parsed = true;
    stats.config_seconds = t.elapsed().as_secs_f64();
    // As BitBake's cache, ignore the environment variables BB_HASHCONFIG_IGNORE_VARS
    // names (PWD, PATH, HOME… in openembedded-core): running from another directory
    // or with another PATH does not parse everything again.
    let listed = session.data().get_str("BB_HASHCONFIG_IGNORE_VARS").ok().flatten().unwrap_or_default();
    let listed: Vec<&str> = listed.split_whitespace().collect();
    let ignores: Vec<String> = approved_environment(&options.env)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| listed.contains(&k.as_str()))
        .collect();
    let ident = identity(&options.env, &ignores);
    let config_deps = hasher.hash_all(&session.config_dependencies);
    let key = cache::config_key(&ident, &config_deps);
    let mut todo: Vec<PathBuf> = Vec::new();
    for f in &session.files.recipes {
        let ok = cache.files.get(f).is_some_and(|c| {
            c.config_key == key
                && hasher.unchanged(&c.deps)
                && has_vars(&c.result, vars)
                && (!signatures.wanted(f) || has_signatures(&c.result))
                && appends_match(&session.files, f, &c.deps)
        });
        if !ok {
            todo.push(f.clone());
        }
    }
    let wants = |f: &Path| signatures.wanted(f);
    let parsed = parallel::parse_files(&session, &todo, &wanted, jobs, reporter, &wants);
    stats.parsed = parsed.len();
    stats.from_cache = session.files.recipes.len() - parsed.len();
    for r in parsed {
        let deps = hasher.hash_all(&r.deps);
        cache.files.insert(r.file.clone(), CachedFile { config_key: key.clone(), deps, result: r });
    }
    let known: BTreeSet<&PathBuf> = session.files.recipes.iter().collect();
    cache.files.retain(|f, _| known.contains(f));
    cache.identity = ident;
    cache.identity_ignores = ignores;
    cache.config_deps = config_deps;
    cache.config_key = key;
    cache.bbfiles = session.data().get_str("BBFILES").ok().flatten().unwrap_or_default();
    cache.bbmask = session.data().get_str("BBMASK").ok().flatten().unwrap_or_default();
    cache.collections = session.collections.clone();
    cache.layer_dirs = session.config.layer_dirs.clone();
    cache.bitbake = Some(session.config.bitbake.clone());
    let mut warnings = session.config.warnings.clone();
    cache.providers =
        crate::providers::ProviderConfig::read(session.data(), &session.collections).unwrap_or_else(|e| {
            warnings.push(format!("reading the provider configuration: {e}"));
            Default::default()
        });
    // Writing the cache (serialise, compress) and copying the results out of it take
    // about the same time: they run side by side on the cores the workers have left.
    let cache = &*cache;
    let (saved, results) = std::thread::scope(|s| {
        let saver = s.spawn(|| cache.save(&build_dir));
        let results: Vec<FileResult> = session.files.recipes.iter().map(|f| cache.files[f].result.clone()).collect();
        (saver.join(), results)
    });
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("could not write the parse cache: {e}"),
        Err(_) => tracing::warn!("could not write the parse cache: the writer failed"),
    }
    warnings.extend(
        session.config_messages.iter().filter(|m| m.level >= crate::python::LogLevel::Warn).map(|m| m.text.clone()),
    );
    stats.seconds = started.elapsed().as_secs_f64();
    let mut out = report(results, session.files.masked, vars, warnings);
    out.failures.extend(dangling_appends(&session.files));
    out.providers = cache.providers.clone();
    out.bitbake = cache.bitbake.clone();
    Ok((out, stats))
}

/// `.bbappend` files that apply to no recipe file: BitBake stops with "No recipes
/// available for" them, so they are failures here too.
fn dangling_appends(files: &layers::RecipeFiles) -> Vec<ParseFailure> {
    layers::dangling_appends(files)
        .into_iter()
        .map(|file| {
            let name = file.file_name().map(|n| n.to_string_lossy().replace(".bbappend", ".bb")).unwrap_or_default();
            let error = format!(
                "{}: no recipe for this .bbappend: expected a recipe file named {name} (`%` stands for any version)",
                file.display()
            );
            ParseFailure { file, error }
        })
        .collect()
}

/// The appends that apply to a file are part of its dependencies: a new or removed
/// `.bbappend` makes the cached record stale.
fn appends_match(files: &layers::RecipeFiles, recipe: &Path, deps: &[(PathBuf, Option<String>)]) -> bool {
    layers::appends_for(files, recipe).iter().all(|a| deps.iter().any(|(p, _)| p == a))
        && deps.iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "bbappend")).all(|(p, _)| p.exists())
}

fn report(results: Vec<FileResult>, masked: usize, vars: &[String], mut warnings: Vec<String>) -> ParseReport {
    let mut out = ParseReport { files: results.len(), masked, ..ParseReport::default() };
    for r in results {
        for m in r.messages.iter().filter(|m| m.level >= crate::python::LogLevel::Warn) {
            warnings.push(format!("{}: {}", r.file.display(), m.text));
        }
        match r.outcome {
            Ok(records) => {
                for mut rec in records {
                    rec.vars.retain(|(k, _)| vars.contains(k));
                    rec.vars.sort_by_key(|(k, _)| vars.iter().position(|v| v == k));
                    out.recipes.push(rec);
                }
            }
            Err(error) => out.failures.push(ParseFailure { file: r.file, error: error.message }),
        }
    }
    out.warnings = warnings;
    out
}
