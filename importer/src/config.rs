//! The configuration datastore, parsed in BitBake's order: `conf/bblayers.conf`, each
//! layer's `conf/layer.conf`, `conf/bitbake.conf` (found through BBPATH, with its
//! includes: local.conf, machine and distro), then the `base` class and INHERIT.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::bitbake_version::{self, Detected, VersionError};
use crate::datastore::{DataError, DataStore};
use crate::eval::{EvalError, Evaluator, absolute};
use crate::value::Value;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} has no conf/bblayers.conf: expected a BitBake build directory (create one with `rstore init`)")]
    NotABuildDir(PathBuf),
    #[error("conf/bblayers.conf sets no BBLAYERS")]
    NoLayers,
    #[error("layer directories in BBLAYERS do not exist: {}", .0.join(", "))]
    MissingLayers(Vec<String>),
    #[error("duplicate collection {0} in BBFILE_COLLECTIONS")]
    DuplicateCollection(String),
    #[error("layer {layer} is not compatible with the core layer's series {core} (it supports {supported})")]
    Incompatible { layer: String, core: String, supported: String },
    #[error("BBPATH is not set")]
    NoBbpath,
    #[error("layer {0} has no conf/layer.conf")]
    NoLayerConf(String),
    #[error("BBFILES_DYNAMIC entry {0} must be [!]COLLECTION:PATTERN")]
    BadDynamicEntry(String),
    #[error("conf/bitbake.conf not found in BBPATH ({0})")]
    NoBitbakeConf(String),
    /// Variables set under names BitBake renamed (BB_RENAMED_VARIABLES), one per line.
    #[error("{}", .0.join("\n"))]
    RenamedVariables(Vec<String>),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    BitBake(#[from] VersionError),
    /// The configuration failed, read with a BitBake checkout of another release than
    /// the layers are written for.
    #[error("{error}\n(note: {note})")]
    OtherBitBake { error: EvalError, note: String },
    /// The datastore or the embedded Python failed; its message (a Python error
    /// cannot leave the interpreter's thread, so only its text is kept).
    #[error("{0}")]
    Data(String),
}

impl From<DataError> for ConfigError {
    fn from(e: DataError) -> ConfigError {
        ConfigError::Data(e.to_string())
    }
}

/// The parsed configuration.
pub struct Config {
    /// The configuration datastore every recipe starts from.
    pub data: Rc<DataStore>,
    pub topdir: PathBuf,
    /// Layer directories in BBLAYERS order.
    pub layer_dirs: Vec<PathBuf>,
    /// Warnings produced while reading the configuration.
    pub warnings: Vec<String>,
    /// The BitBake release the layers are read as, and how it was found.
    pub bitbake: Detected,
}

/// Which environment variables the configuration sees (BitBake's approved variables).
pub fn approved_environment(env: &[(String, String)]) -> Vec<(String, String)> {
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("BB_PRESERVE_ENV").is_some() {
        return env.to_vec();
    }
    let mut approved: Vec<String> = match get("BB_ENV_PASSTHROUGH") {
        Some(list) => {
            let mut v: Vec<String> = list.split_whitespace().map(str::to_owned).collect();
            v.push("BB_ENV_PASSTHROUGH".into());
            v
        }
        None => ["BBPATH", "BB_PRESERVE_ENV", "BB_ENV_PASSTHROUGH_ADDITIONS"]
            .into_iter()
            .chain(EXPORTED_ENV)
            .map(str::to_owned)
            .collect(),
    };
    if let Some(extra) = get("BB_ENV_PASSTHROUGH_ADDITIONS") {
        approved.extend(extra.split_whitespace().map(str::to_owned));
        approved.push("BB_ENV_PASSTHROUGH_ADDITIONS".into());
    }
    env.iter().filter(|(k, _)| approved.contains(k)).cloned().collect()
}

const EXPORTED_ENV: [&str; 9] =
    ["BB_TASKHASH", "HOME", "LOGNAME", "PATH", "PWD", "SHELL", "USER", "LC_ALL", "BBSERVER"];

/// Read the configuration of the build directory `topdir`.
pub fn parse(eval: &Evaluator, topdir: &Path, env: &[(String, String)], tracking: bool) -> Result<Config, ConfigError> {
    let topdir = absolute(topdir);
    let hooks = eval.runtime.clone() as Rc<dyn crate::datastore::Hooks>;
    let base = DataStore::new(Some(hooks));
    if tracking {
        base.enable_tracking();
    }
    for (k, v) in approved_environment(env) {
        base.set_var(&k, Value::str(v), false, None, "from env")?;
        if EXPORTED_ENV.contains(&k.as_str()) {
            base.set_var_flag(&k, "export", Value::Bool(true), None, "auto env export")?;
        }
    }
    // BB_ORIGENV: the whole environment rstore started with, as a datastore.
    let origenv = DataStore::new(base.hooks().cloned());
    for (k, v) in env {
        origenv.set_var(k, Value::str(v.as_str()), false, None, "set")?;
    }
    let origenv = crate::python::datasmart::to_value(origenv).map_err(|e| ConfigError::Data(e.to_string()))?;
    base.set_var("BB_ORIGENV", origenv, false, None, "set")?;
    base.set_var("__bbclasstype", Value::str("global"), false, None, "set")?;
    let mut data = base.create_copy();
    let mut warnings = Vec::new();

    let layerconf = topdir.join("conf/bblayers.conf");
    if !layerconf.is_file() {
        return Err(ConfigError::NotABuildDir(topdir));
    }
    data.set_var("TOPDIR", Value::str(topdir.display().to_string()), false, None, "set")?;
    eval.note_dependency(&layerconf, true);
    eval.handle_include(&data, &layerconf, true)?;
    if data.get_var("BB_CACHEDIR", true)?.is_none() {
        data.set_var("BB_CACHEDIR", Value::str("${TOPDIR}/cache"), false, None, "set")?;
    }
    let layers: Vec<String> =
        data.get_str("BBLAYERS")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if layers.is_empty() {
        return Err(ConfigError::NoLayers);
    }
    data = data.create_copy();
    let missing: Vec<String> = layers.iter().filter(|l| !Path::new(l.as_str()).is_dir()).cloned().collect();
    if !missing.is_empty() {
        return Err(ConfigError::MissingLayers(missing));
    }
    let mut layerseries: Vec<String> = Vec::new();
    let mut compat: Vec<(String, Vec<String>)> = Vec::new();
    let mut layer_dirs = Vec::new();
    for layer in &layers {
        let layer = layer.trim_end_matches('/');
        layer_dirs.push(PathBuf::from(layer));
        data.set_var("LAYERDIR", Value::str(layer), false, None, "set")?;
        data.set_var("LAYERDIR_RE", Value::str(regex::escape(layer)), false, None, "set")?;
        let conf = Path::new(layer).join("conf/layer.conf");
        eval.note_dependency(&conf, conf.is_file());
        if !conf.is_file() {
            return Err(ConfigError::NoLayerConf(layer.to_owned()));
        }
        eval.handle_include(&data, &conf, true)?;
        data.expand_varref("LAYERDIR")?;
        data.expand_varref("LAYERDIR_RE")?;
        for c in data.get_str("BBFILE_COLLECTIONS")?.unwrap_or_default().split_whitespace() {
            let key = format!("LAYERSERIES_COMPAT_{c}");
            if let Some(v) = data.get_str(&key)?
                && !v.is_empty()
            {
                compat.push((c.to_owned(), v.split_whitespace().map(str::to_owned).collect()));
                data.del_var(&key, None);
            }
        }
        if layerseries.is_empty() {
            layerseries = data
                .get_str("LAYERSERIES_CORENAMES")?
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !layerseries.is_empty() {
                data.del_var("LAYERSERIES_CORENAMES", None);
            }
        }
    }
    data.del_var("LAYERDIR_RE", None);
    data.del_var("LAYERDIR", None);
    for (c, v) in &compat {
        let mut sorted = v.clone();
        sorted.sort();
        sorted.dedup();
        data.set_var(&format!("LAYERSERIES_COMPAT_{c}"), Value::str(sorted.join(" ")), false, None, "set")?;
    }
    let collections: Vec<String> =
        data.get_str("BBFILE_COLLECTIONS")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    for entry in data.get_str("BBFILES_DYNAMIC")?.unwrap_or_default().split_whitespace() {
        let Some((l, f)) = entry.split_once(':') else {
            return Err(ConfigError::BadDynamicEntry(entry.to_owned()));
        };
        let (invert, l) = match l.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, l),
        };
        if collections.iter().any(|c| c == l) != invert {
            data.append_var("BBFILES", Value::str(format!(" {f}")), None)?;
        }
    }
    for (i, c) in collections.iter().enumerate() {
        if collections[i + 1..].contains(c) {
            return Err(ConfigError::DuplicateCollection(c.clone()));
        }
        let supported = compat.iter().find(|(n, _)| n == c).map(|(_, v)| v.clone()).unwrap_or_default();
        if !supported.is_empty() && !layerseries.is_empty() && !supported.iter().any(|s| layerseries.contains(s)) {
            return Err(ConfigError::Incompatible {
                layer: c.clone(),
                core: layerseries.join(" "),
                supported: supported.join(" "),
            });
        }
        if supported.is_empty() {
            warnings.push(format!("layer {c} should set LAYERSERIES_COMPAT_{c} in its conf/layer.conf"));
        }
    }
    let mut series = layerseries.clone();
    series.sort();
    data.set_var("LAYERSERIES_CORENAMES", Value::str(series.join(" ")), false, None, "set")?;

    // Which BitBake the layers are written for decides the rules from bitbake.conf on.
    let checkout = bitbake_version::checkout_in_environment(env);
    if let Some(dir) = &checkout {
        let file = bitbake_version::version_file(dir);
        eval.note_dependency(&file, file.is_file());
    }
    let bitbake = bitbake_version::detect(checkout.as_deref(), &layerseries)?;
    let mismatch = bitbake_version::mismatch(&bitbake, &layerseries);
    warnings.extend(mismatch.clone());
    eval.use_bitbake(&data, bitbake.version)?;
    data.set_var("BB_CURRENT_MC", Value::str(bitbake.version.default_multiconfig()), false, None, "set")?;

    if data.get_var("BBPATH", true)?.is_none_or(|v| !v.truthy()) {
        return Err(ConfigError::NoBbpath);
    }
    let bitbake_conf = "conf/bitbake.conf";
    let bbpath = data.get_str("BBPATH")?.unwrap_or_default();
    let mut attempts = Vec::new();
    let found = crate::eval::which(&bbpath, bitbake_conf, &mut attempts);
    for a in &attempts {
        eval.note_dependency(a, Some(a) == found.as_ref());
    }
    let Some(found) = found else {
        return Err(ConfigError::NoBitbakeConf(bbpath));
    };
    eval.handle_include(&data, &found, true).map_err(|error| match &mismatch {
        Some(note) => ConfigError::OtherBitBake { error, note: note.clone() },
        None => error.into(),
    })?;
    let bitbake = bitbake_version::at_least_minimum(bitbake, data.get_str("BB_MIN_VERSION")?.as_deref());
    eval.use_bitbake(&data, bitbake.version)?;

    let inherit = data.get_str("INHERIT")?.unwrap_or_default();
    for class in std::iter::once("base").chain(inherit.split_whitespace()) {
        eval.inherit(&data, class, Path::new("configuration INHERITs"), 0, false)?;
    }
    register_handlers(eval, &data)?;
    eval.runtime
        .fire(&data, "ConfigParsed", vec![])
        .map_err(|e| EvalError::from_data_unlocated(&topdir.join("conf/local.conf"), e))?;

    let renamed = data.renamed_variable_errors();
    if !renamed.is_empty() {
        return Err(ConfigError::RenamedVariables(renamed));
    }
    eval.runtime.update_module_dependencies(&data)?;
    data.rename_var("__depends", "__base_depends", None)?;
    data.set_var("__bbclasstype", Value::str("recipe"), false, None, "set")?;
    let data = data.create_copy();
    Ok(Config { data, topdir, layer_dirs, warnings, bitbake })
}

/// Register the `addhandler` event handlers collected so far.
pub fn register_handlers(eval: &Evaluator, d: &Rc<DataStore>) -> Result<(), EvalError> {
    let handlers = d
        .get_var("__BBHANDLERS", false)
        .map_err(|e| EvalError::Other(e.to_string()))?
        .map(|v| v.string_list())
        .unwrap_or_default();
    for name in handlers {
        let read = |flag: &str| -> Result<Option<String>, EvalError> {
            Ok(d.get_var_flag(&name, flag, crate::datastore::Read::RAW)
                .map_err(|e| EvalError::Other(e.to_string()))?
                .map(|v| v.to_string()))
        };
        let Some(file) = read("filename")? else {
            return Err(EvalError::Other(format!(
                "event handler {name} is not defined: addhandler names a function no file defines"
            )));
        };
        let line: u32 = read("lineno")?.and_then(|l| l.parse().ok()).unwrap_or(1);
        let body = d
            .get_var(&name, false)
            .map_err(|e| EvalError::Other(e.to_string()))?
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mask: Vec<String> = d
            .get_var_flag(&name, "eventmask", crate::datastore::Read::EXPANDED)
            .map_err(|e| EvalError::Other(e.to_string()))?
            .map(|v| v.to_string().split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        eval.runtime
            .register_handler(d, &name, &body, &mask, &file, line)
            .map_err(|e| EvalError::from_data_unlocated(Path::new(&file), e))?;
    }
    Ok(())
}
