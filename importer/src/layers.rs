//! Layers and the recipe files they provide: BBFILE_COLLECTIONS with their patterns and
//! priorities (explicit, or derived from LAYERDEPENDS as BitBake derives them), BBFILES
//! globs, BBMASK, and `.bbappend` matching with `%` wildcards.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;

use crate::datastore::{DataError, DataStore};

/// One BBFILE_COLLECTIONS entry.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Collection {
    pub name: String,
    /// BBFILE_PATTERN_name (a regular expression matched at the start of file paths).
    pub pattern: String,
    pub priority: i64,
    pub depends: Vec<String>,
    pub version: Option<String>,
    pub compat: Vec<String>,
    /// The layer directory the pattern belongs to, when it can be told.
    pub path: Option<PathBuf>,
    #[serde(skip)]
    regex: Option<regex::Regex>,
}

/// A collection as stored in the parse cache.
pub type CollectionSpec = Collection;

/// Problems found in the layer configuration.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("invalid BBFILE_PRIORITY_{0}: {1:?} is not an integer")]
    BadPriority(String, String),
    #[error("layer {0} depends on layer {1}, which is not enabled in bblayers.conf")]
    MissingDependency(String, String),
    #[error("BBFILE_PATTERN_{0} is not a valid regular expression: {1}")]
    BadPattern(String, String),
    #[error("{0}")]
    Data(String),
}

impl From<DataError> for LayerError {
    fn from(e: DataError) -> LayerError {
        LayerError::Data(e.to_string())
    }
}

/// The recipe files of the enabled layers.
#[derive(Debug, Default, Serialize)]
pub struct RecipeFiles {
    /// `.bb` files in BBFILES order (lowest priority first), not masked.
    pub recipes: Vec<PathBuf>,
    /// (`name.bb` or `name_%.bb` pattern, `.bbappend` path) pairs.
    pub appends: Vec<(String, PathBuf)>,
    pub masked: usize,
}

fn get(d: &Rc<DataStore>, var: &str) -> Result<Option<String>, DataError> {
    d.get_str(var)
}

/// Read the collections of the configuration, priorities resolved.
pub fn collections(d: &Rc<DataStore>, layer_dirs: &[PathBuf]) -> Result<Vec<Collection>, LayerError> {
    let names: Vec<String> =
        get(d, "BBFILE_COLLECTIONS")?.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let mut out: Vec<Collection> = Vec::new();
    let mut explicit: HashMap<String, Option<i64>> = HashMap::new();
    let mut min_prio = 0i64;
    for name in &names {
        let prio = match get(d, &format!("BBFILE_PRIORITY_{name}"))? {
            Some(p) if !p.is_empty() => {
                let v: i64 = p.trim().parse().map_err(|_| LayerError::BadPriority(name.clone(), p.clone()))?;
                if min_prio == 0 || v < min_prio {
                    min_prio = v;
                }
                Some(v)
            }
            _ => None,
        };
        explicit.insert(name.clone(), prio);
        let depends: Vec<String> = get(d, &format!("LAYERDEPENDS_{name}"))?
            .unwrap_or_default()
            .split_whitespace()
            .filter(|w| {
                !w.starts_with('(')
                    && !w.ends_with(')')
                    && !w.starts_with(['<', '>', '='])
                    && !w.chars().next().is_some_and(|c| c.is_ascii_digit())
            })
            .map(str::to_owned)
            .collect();
        for dep in &depends {
            if !names.contains(dep) {
                return Err(LayerError::MissingDependency(name.clone(), dep.clone()));
            }
        }
        let pattern = get(d, &format!("BBFILE_PATTERN_{name}"))?.unwrap_or_default();
        let regex = if pattern.is_empty() {
            None
        } else {
            Some(
                regex::Regex::new(&format!("^(?:{pattern})"))
                    .map_err(|e| LayerError::BadPattern(name.clone(), e.to_string()))?,
            )
        };
        let path = layer_dirs
            .iter()
            .find(|l| regex.as_ref().is_some_and(|r| r.is_match(&format!("{}/", l.display()))))
            .cloned();
        out.push(Collection {
            name: name.clone(),
            pattern,
            priority: 0,
            depends,
            version: get(d, &format!("LAYERVERSION_{name}"))?,
            compat: get(d, &format!("LAYERSERIES_COMPAT_{name}"))?
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            path,
            regex,
        });
    }
    // Layers without an explicit priority get one more than the highest of their
    // dependencies (recursively), starting from the lowest explicit priority.
    fn calc(
        name: &str,
        out: &[Collection],
        explicit: &mut HashMap<String, Option<i64>>,
        min_prio: i64,
        depth: usize,
    ) -> i64 {
        if let Some(Some(p)) = explicit.get(name) {
            return *p;
        }
        let mut max = min_prio;
        if depth < 64
            && let Some(c) = out.iter().find(|c| c.name == name)
        {
            for dep in &c.depends {
                max = max.max(calc(dep, out, explicit, min_prio, depth + 1));
            }
        }
        let p = max + 1;
        explicit.insert(name.to_owned(), Some(p));
        p
    }
    let snapshot = out.clone();
    for c in &mut out {
        c.priority = calc(&c.name, &snapshot, &mut explicit, min_prio, 0);
    }
    Ok(out)
}

impl Collection {
    /// Compile the pattern again (after loading from the cache).
    pub fn recompile(mut self) -> Collection {
        self.regex =
            if self.pattern.is_empty() { None } else { regex::Regex::new(&format!("^(?:{})", self.pattern)).ok() };
        self
    }

    pub fn matches(&self, file: &Path) -> bool {
        self.regex.as_ref().is_some_and(|r| r.is_match(&file.display().to_string()))
    }
}

/// The collection a file belongs to: the highest-priority one whose pattern matches.
pub fn collection_of<'a>(collections: &'a [Collection], file: &Path) -> Option<&'a Collection> {
    let mut sorted: Vec<&Collection> = collections.iter().collect();
    sorted.sort_by_key(|c| std::cmp::Reverse(c.priority));
    sorted.into_iter().find(|c| c.matches(file))
}

/// Expand BBFILES and BBMASK into the recipe and append files.
pub fn recipe_files(d: &Rc<DataStore>, collections: &[Collection]) -> Result<RecipeFiles, LayerError> {
    let bbfiles = get(d, "BBFILES")?.unwrap_or_default();
    let bbmask = get(d, "BBMASK")?.unwrap_or_default();
    Ok(recipe_files_from(&bbfiles, &bbmask, collections))
}

/// Expand BBFILES and BBMASK values into the recipe and append files.
pub fn recipe_files_from(bbfiles: &str, mask: &str, collections: &[Collection]) -> RecipeFiles {
    let mut patterns: Vec<String> = bbfiles.split_whitespace().map(str::to_owned).collect();
    patterns.sort_by_key(|p| collection_of(collections, Path::new(p)).map(|c| c.priority).unwrap_or(0));
    let options =
        glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for pattern in &patterns {
        let p = Path::new(pattern);
        if p.is_dir() {
            let mut found: Vec<PathBuf> = walkdir(p);
            found.sort();
            for f in found {
                if seen.insert(f.clone()) {
                    files.push(f);
                }
            }
            continue;
        }
        let mut globbed: Vec<PathBuf> = match glob::glob_with(pattern, options) {
            Ok(paths) => paths.filter_map(Result::ok).collect(),
            Err(_) => Vec::new(),
        };
        if globbed.is_empty() && p.exists() {
            globbed.push(p.to_path_buf());
        }
        globbed.sort();
        for g in globbed {
            if seen.insert(g.clone()) {
                files.push(g);
            }
        }
    }
    let masks: Vec<String> = mask
        .split_whitespace()
        .map(|m| m.strip_prefix('|').unwrap_or(m).to_owned())
        .filter(|m| regex::Regex::new(m).is_ok())
        .collect();
    let mask_re = if masks.is_empty() { None } else { regex::Regex::new(&masks.join("|")).ok() };
    let mut out = RecipeFiles::default();
    for f in files {
        let s = f.display().to_string();
        if mask_re.as_ref().is_some_and(|r| r.is_match(&s)) {
            out.masked += 1;
            continue;
        }
        match f.extension().and_then(|e| e.to_str()) {
            Some("bb") => out.recipes.push(f),
            Some("bbappend") => {
                let base = f.file_name().map(|n| n.to_string_lossy().replace(".bbappend", ".bb")).unwrap_or_default();
                out.appends.push((base, f));
            }
            _ => {}
        }
    }
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if !["SCCS", "CVS", ".svn"].iter().any(|i| name == *i) {
                out.extend(walkdir(&p));
            }
        } else if p.extension().is_some_and(|x| x == "bb" || x == "bbappend") {
            out.push(p);
        }
    }
    out
}

/// The `.bbappend` files that apply to a recipe file (`%` matches any version suffix).
pub fn appends_for(files: &RecipeFiles, recipe: &Path) -> Vec<PathBuf> {
    let f = recipe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    files
        .appends
        .iter()
        .filter(|(pattern, _)| pattern == &f || pattern.find('%').is_some_and(|i| f.starts_with(&pattern[..i])))
        .map(|(_, p)| p.clone())
        .collect()
}

/// Appends that apply to no recipe (BitBake reports these).
pub fn dangling_appends(files: &RecipeFiles) -> Vec<PathBuf> {
    files
        .appends
        .iter()
        .filter(|(pattern, _)| {
            !files.recipes.iter().any(|r| {
                let f = r.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                pattern == &f || pattern.find('%').is_some_and(|i| f.starts_with(&pattern[..i]))
            })
        })
        .map(|(_, p)| p.clone())
        .collect()
}
