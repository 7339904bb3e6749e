//! A parsing session over one build directory: the configuration, the layers, and the
//! recipes they provide. This is the importer's entry point.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use serde::Serialize;

use crate::config::{self, Config, ConfigError};
use crate::datastore::DataStore;
use crate::eval::{Dependency, EvalError, Evaluator, Message};
use crate::layers::{self, Collection, LayerError, RecipeFiles};
use crate::python::{self, HostGuard, Snapshot};
use crate::recipe::{self, Variant};
use crate::tasks::Task;

/// Opening a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Python(#[from] python::InitError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Layers(#[from] LayerError),
    #[error("{0}")]
    Data(String),
}

/// Options for opening a session.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The environment BitBake would see (filtered by BB_ENV_PASSTHROUGH rules).
    pub env: Vec<(String, String)>,
    /// Record variable history (for `getvar --history`).
    pub tracking: bool,
}

/// Reports progress of long work.
pub trait Reporter {
    fn parsing(&self, _done: usize, _total: usize, _file: &Path) {}
}

/// A reporter that says nothing.
pub struct Quiet;
impl Reporter for Quiet {}

/// One parsed recipe (file × variant), as `rstore recipes` reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RecipeInfo {
    /// BitBake's virtual file name.
    pub target: String,
    pub file: PathBuf,
    pub variant: String,
    pub layer: Option<String>,
    pub skipped: Option<String>,
    pub pn: Option<String>,
    pub pv: Option<String>,
    pub pr: Option<String>,
    pub pe: Option<String>,
    pub provides: Option<String>,
    pub depends: Option<String>,
    /// Classes inherited, as class files (BitBake's `__inherit_cache`).
    pub inherits: Vec<String>,
    pub tasks: Vec<Task>,
    /// Extra variables requested by the caller, expanded.
    pub vars: Vec<(String, Option<String>)>,
    /// What the recipe provides and needs, for provider resolution.
    #[serde(default)]
    pub providers: crate::providers::ProviderInfo,
}

/// A recipe file that failed to parse.
#[derive(Debug, Clone, Serialize)]
pub struct ParseFailure {
    pub file: PathBuf,
    pub error: String,
}

/// Everything one parse of all recipes produced.
#[derive(Debug, Default, Serialize)]
pub struct ParseReport {
    pub recipes: Vec<RecipeInfo>,
    pub failures: Vec<ParseFailure>,
    pub files: usize,
    pub masked: usize,
    pub warnings: Vec<String>,
    /// What the configuration says about providers (for the task graph).
    #[serde(skip)]
    pub providers: crate::providers::ProviderConfig,
    /// The BitBake release the layers were read as.
    pub bitbake: Option<crate::bitbake_version::Detected>,
}

/// A parsed recipe file: its variants, the files it depended on, its messages.
pub type Parsed = (Vec<Variant>, Vec<Dependency>, Vec<Message>);

/// A build directory opened for parsing.
pub struct Session {
    eval: Rc<Evaluator>,
    pub config: Config,
    pub collections: Vec<Collection>,
    pub files: RecipeFiles,
    pub config_dependencies: Vec<Dependency>,
    pub config_messages: Vec<Message>,
    snapshot: Snapshot,
    build_dir: PathBuf,
    _host: HostGuard,
}

impl Session {
    /// Read the configuration of `build_dir` and list its recipes.
    pub fn open(build_dir: &Path, options: &Options) -> Result<Session, SessionError> {
        let runtime = python::runtime()?;
        runtime
            .cache_bytecode_in(&crate::cache::pycache_dir(&crate::eval::absolute(build_dir)))
            .map_err(|e| SessionError::Data(e.to_string()))?;
        let eval = Evaluator::new(runtime);
        let host = python::set_host(eval.clone());
        let config = config::parse(&eval, build_dir, &options.env, options.tracking)?;
        let (config_dependencies, config_messages) = eval.take_record();
        let collections = layers::collections(&config.data, &config.layer_dirs)?;
        let files = layers::recipe_files(&config.data, &collections)?;
        let snapshot = eval.runtime.snapshot().map_err(|e| SessionError::Data(e.to_string()))?;
        Ok(Session {
            eval,
            config,
            collections,
            files,
            config_dependencies,
            config_messages,
            snapshot,
            build_dir: crate::eval::absolute(build_dir),
            _host: host,
        })
    }

    /// The configuration datastore.
    pub fn data(&self) -> &Rc<DataStore> {
        &self.config.data
    }

    /// Parse one recipe file into its variants; also returns the files the parse read
    /// or looked for, and the messages it logged (also when it fails).
    pub fn parse_file_recorded(&self, file: &Path) -> (Result<Vec<Variant>, EvalError>, Vec<Dependency>, Vec<Message>) {
        self.parse_file_with(file, false)
    }

    /// Like [`Session::parse_file_recorded`]; with `signatures`, each task's derivation
    /// is computed and its basehash recorded in the task list.
    pub fn parse_file_with(
        &self,
        file: &Path,
        signatures: bool,
    ) -> (Result<Vec<Variant>, EvalError>, Vec<Dependency>, Vec<Message>) {
        if let Err(e) = self.eval.runtime.restore(&self.snapshot) {
            return (Err(EvalError::Other(e.to_string())), Vec::new(), Vec::new());
        }
        let _ = self.eval.take_record();
        let appends = layers::appends_for(&self.files, file);
        let layer = layers::collection_of(&self.collections, file).map(|c| c.name.clone());
        let result = recipe::parse(&self.eval, &self.config.data, file, &appends, layer.as_deref())
            .and_then(|variants| if signatures { self.with_basehashes(file, variants) } else { Ok(variants) });
        let (deps, messages) = self.eval.take_record();
        (result, deps, messages)
    }

    /// Compute each task's derivation and record its basehash in the task list.
    fn with_basehashes(&self, file: &Path, mut variants: Vec<Variant>) -> Result<Vec<Variant>, EvalError> {
        for v in variants.iter_mut().filter(|v| v.skipped.is_none()) {
            let derived = self.derive(v).map_err(|e| EvalError::from_data_unlocated(file, e))?;
            for h in derived.tasks {
                if let Some(t) = v.tasks.iter_mut().find(|t| t.name == h.task) {
                    t.basehash = Some(h.basehash);
                }
            }
        }
        Ok(variants)
    }

    /// The `.bbappend` files that apply to a recipe file, in layer order.
    pub fn appends_for(&self, file: &Path) -> Vec<PathBuf> {
        layers::appends_for(&self.files, file)
    }

    /// Parse one recipe file into its variants.
    pub fn parse_file(&self, file: &Path) -> Result<Parsed, EvalError> {
        let (result, deps, messages) = self.parse_file_recorded(file);
        result.map(|v| (v, deps, messages))
    }

    /// The derivation of every task of a parsed variant.
    pub fn derive(&self, v: &Variant) -> Result<crate::derive::RecipeDerivations, crate::datastore::DataError> {
        let funcs = self.eval.module_funcs()?;
        let mut seen = |p: &Path, exists: bool| self.eval.note_dependency(p, exists);
        crate::derive::derive(&v.data, &funcs, &mut seen)
    }

    /// Summarise a parsed variant, reading `vars` from it.
    pub fn info(&self, file: &Path, v: &Variant, vars: &[String]) -> RecipeInfo {
        let d = &v.data;
        let get = |name: &str| d.get_str(name).ok().flatten();
        let layer = layers::collection_of(&self.collections, file).map(|c| c.name.clone());
        let mut values = Vec::new();
        let pn = get("PN");
        for var in vars {
            let name = match (&pn, var.contains("${PN}")) {
                (Some(pn), true) => var.replace("${PN}", pn),
                _ => var.clone(),
            };
            let value = if v.skipped.is_some() { None } else { get(&name) };
            values.push((var.clone(), value));
        }
        let providers = crate::providers::ProviderInfo::read(d, pn.as_deref().unwrap_or_default(), v.skipped.is_some());
        RecipeInfo {
            target: v.virtual_name(file),
            file: file.to_path_buf(),
            variant: v.name.clone(),
            layer,
            skipped: v.skipped.clone(),
            pn,
            pv: get("PV"),
            pr: get("PR"),
            pe: get("PE"),
            provides: get("PROVIDES"),
            depends: get("DEPENDS"),
            inherits: crate::eval::inherit_cache(d).unwrap_or_default(),
            tasks: v.tasks.clone(),
            vars: values,
            providers,
        }
    }

    /// Parse every recipe file; a failing file is reported and the rest still parse.
    pub fn parse_all(&self, vars: &[String], reporter: &dyn Reporter) -> ParseReport {
        let started = Instant::now();
        let mut report =
            ParseReport { files: self.files.recipes.len(), masked: self.files.masked, ..ParseReport::default() };
        match crate::providers::ProviderConfig::read(self.data(), &self.collections) {
            Ok(p) => report.providers = p,
            Err(e) => report.warnings.push(format!("reading the provider configuration: {e}")),
        }
        for (i, file) in self.files.recipes.iter().enumerate() {
            reporter.parsing(i, self.files.recipes.len(), file);
            match self.parse_file(file) {
                Ok((variants, _, messages)) => {
                    for m in messages.iter().filter(|m| m.level >= python::LogLevel::Warn) {
                        report.warnings.push(format!("{}: {}", file.display(), m.text));
                    }
                    for v in &variants {
                        report.recipes.push(self.info(file, v, vars));
                    }
                }
                Err(e) => report.failures.push(ParseFailure { file: file.clone(), error: e.to_string() }),
            }
        }
        tracing::debug!("parsed {} files in {:?}", report.files, started.elapsed());
        report
    }

    /// Find the recipe files providing a name: a PN, a path to a `.bb`, or a virtual
    /// name (`virtual:native:…`). Returns (file, variant).
    /// The build directory (absolute).
    pub fn build_dir(&self) -> &Path {
        &self.build_dir
    }

    pub fn find_recipe(&self, name: &str) -> Option<(PathBuf, String)> {
        let p = Path::new(name);
        if name.ends_with(".bb") && p.exists() {
            return Some((crate::eval::absolute(p), String::new()));
        }
        if let Some(rest) = name.strip_prefix("virtual:")
            && let Some((variant, file)) = rest.rsplit_once(':')
        {
            return Some((PathBuf::from(file), variant.to_owned()));
        }
        // By PN: the file name gives BitBake's default PN (`m4-native_1.4.21.bb` is
        // m4-native); else a variant by its suffix or prefix (`zlib-native` is the
        // native variant of `zlib_1.3.1.bb`).
        if let Some(file) = self.recipe_file_named(name) {
            return Some((file, String::new()));
        }
        let (base, variant) = ["native", "nativesdk"]
            .iter()
            .find_map(|v| {
                if *v == "nativesdk" {
                    name.strip_prefix("nativesdk-").map(|b| (b.to_owned(), (*v).to_owned()))
                } else {
                    name.strip_suffix("-native").map(|b| (b.to_owned(), (*v).to_owned()))
                }
            })
            .unwrap_or((name.to_owned(), String::new()));
        if let Some(file) = self.recipe_file_named(&base) {
            return Some((file, variant));
        }
        // A PN the file name does not give (`PN = "binutils-cross-${TARGET_ARCH}"`): the
        // parse cache knows every variant's PN (the caller parses the file it names).
        let cache = crate::cache::CacheData::load(&self.build_dir);
        let current = cache.files.values().filter(|f| f.config_key == cache.config_key);
        current.filter_map(|f| f.result.outcome.as_ref().ok()).flatten().find_map(|info| {
            (info.pn.as_deref() == Some(name) && info.skipped.is_none())
                .then(|| (info.file.clone(), info.variant.clone()))
        })
    }

    /// The recipe file whose name gives `pn` as its default PN, from the layer of the
    /// highest priority.
    fn recipe_file_named(&self, pn: &str) -> Option<PathBuf> {
        let mut candidates: Vec<&PathBuf> = self
            .files
            .recipes
            .iter()
            .filter(|f| {
                let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                stem.split('_').next() == Some(pn)
            })
            .collect();
        candidates.sort_by_key(|f| {
            std::cmp::Reverse(layers::collection_of(&self.collections, f).map(|c| c.priority).unwrap_or(0))
        });
        candidates.first().map(|f| (*f).clone())
    }
}
