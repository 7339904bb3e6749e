//! Providers: which recipe satisfies a build-time name (a `DEPENDS` entry, a PN, a
//! `PROVIDES` entry such as `virtual/kernel`) or a run-time name (an `RDEPENDS` or
//! `RRECOMMENDS` entry: a package, an `RPROVIDES` entry, a `PACKAGES_DYNAMIC` match),
//! chosen the way BitBake chooses:
//!
//! * candidates are grouped by PN; for each PN the layer priority (BBFILE_PRIORITY)
//!   ranks its files, then `PREFERRED_VERSION_<pn>` / `REQUIRED_VERSION_<pn>` (a
//!   trailing `%` matches any suffix) picks a version, else the highest version among
//!   the highest-priority files wins, `DEFAULT_PREFERENCE` first;
//! * a PN equal to the wanted name comes first, then `PREFERRED_PROVIDER_<name>` (or a
//!   `PREFERRED_PROVIDERS` entry), and for run-time names `PREFERRED_RPROVIDER_<name>`
//!   or a `PREFERRED_PROVIDER` of anything the candidate provides;
//! * names listed in `ASSUME_PROVIDED` need no provider.
//!
//! [`ProviderInfo`] is what each parsed recipe contributes (BitBake keeps the same in
//! its recipe cache), [`ProviderConfig`] what the configuration contributes; both are
//! kept in the parse cache. [`ProviderIndex`] answers the questions.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::datastore::{DataError, DataStore};
use crate::layers::Collection;
use crate::session::RecipeInfo;

/// `bb.utils.explode_deps`: the names of an `RDEPENDS`-style list, version constraints
/// (`foo (>= 1.0)`) dropped.
pub fn explode_deps(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_version = false;
    for word in s.split_whitespace() {
        if word.starts_with('(') {
            in_version = true;
        }
        if !in_version {
            out.push(word.to_owned());
        }
        if in_version && word.ends_with(')') {
            in_version = false;
        }
    }
    out
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// What one package of a recipe adds to the recipe-wide run-time lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDeps {
    pub package: String,
    /// `RPROVIDES:<package>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rprovides: Vec<String>,
    /// `RDEPENDS:<package>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdepends: Vec<String>,
    /// `RRECOMMENDS:<package>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rrecommends: Vec<String>,
}

/// The provider data of one recipe variant (BitBake's `CoreRecipeInfo`): names it
/// provides at build and run time, and the names it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// `PROVIDES` (the PN is implied and not listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provides: Vec<String>,
    /// Recipe-wide `RPROVIDES`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rprovides: Vec<String>,
    /// `PACKAGES`, or the PN alone when it is empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// `PACKAGES_DYNAMIC`: regular expressions for packages made at packaging time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages_dynamic: Vec<String>,
    /// `DEPENDS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,
    /// Recipe-wide `RDEPENDS` (applies to every package).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdepends: Vec<String>,
    /// Recipe-wide `RRECOMMENDS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rrecommends: Vec<String>,
    /// Per-package lists; packages with nothing to add are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub package_deps: Vec<PackageDeps>,
    /// `DEFAULT_PREFERENCE` (an integer; `-1` makes a version a last resort).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub default_preference: i64,
    /// `EXCLUDE_FROM_WORLD` is true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclude_from_world: bool,
    /// The body of the `calculate_extra_depends` Python function, expanded: it may add
    /// build-time names to `deps` from `world_target`, `pkg_pn` and `self_pn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_depends: Option<String>,
}

impl ProviderInfo {
    /// Read the provider data of a finalised recipe datastore. A skipped recipe keeps
    /// only what it would have provided (so "nothing provides" can name it).
    pub fn read(d: &Rc<DataStore>, pn: &str, skipped: bool) -> ProviderInfo {
        let get = |name: &str| d.get_str(name).ok().flatten().unwrap_or_default();
        let mut packages: Vec<String> = get("PACKAGES").split_whitespace().map(str::to_owned).collect();
        if packages.is_empty() {
            packages.push(pn.to_owned());
        }
        let mut info = ProviderInfo {
            provides: explode_deps(&get("PROVIDES")),
            rprovides: explode_deps(&get("RPROVIDES")),
            packages_dynamic: get("PACKAGES_DYNAMIC").split_whitespace().map(str::to_owned).collect(),
            ..ProviderInfo::default()
        };
        for package in &packages {
            let mut p = PackageDeps {
                package: package.clone(),
                rprovides: explode_deps(&get(&format!("RPROVIDES:{package}"))),
                ..PackageDeps::default()
            };
            if !skipped {
                p.rdepends = explode_deps(&get(&format!("RDEPENDS:{package}")));
                p.rrecommends = explode_deps(&get(&format!("RRECOMMENDS:{package}")));
            }
            if !(p.rprovides.is_empty() && p.rdepends.is_empty() && p.rrecommends.is_empty()) {
                info.package_deps.push(p);
            }
        }
        info.packages = packages;
        if skipped {
            return info;
        }
        info.depends = explode_deps(&get("DEPENDS"));
        info.rdepends = explode_deps(&get("RDEPENDS"));
        info.rrecommends = explode_deps(&get("RRECOMMENDS"));
        let dp = get("DEFAULT_PREFERENCE");
        info.default_preference = match dp.trim() {
            "" => 0,
            v => v.parse().unwrap_or_else(|_| {
                tracing::warn!("{pn}: DEFAULT_PREFERENCE {v:?} is not an integer, using 0");
                0
            }),
        };
        info.exclude_from_world =
            matches!(get("EXCLUDE_FROM_WORLD").to_ascii_lowercase().as_str(), "1" | "yes" | "y" | "true" | "t" | "on");
        info.extra_depends = Some(get("calculate_extra_depends")).filter(|f| !f.is_empty());
        info
    }

    fn package(&self, name: &str) -> Option<&PackageDeps> {
        self.package_deps.iter().find(|p| p.package == name)
    }

    /// Every run-time name the recipe provides: RPROVIDES, then each package's.
    pub fn all_rprovides(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.rprovides.iter().map(String::as_str).collect();
        for p in &self.packages {
            if let Some(pd) = self.package(p) {
                out.extend(pd.rprovides.iter().map(String::as_str));
            }
        }
        out
    }

    /// Every run-time name the recipe needs (RDEPENDS and RRECOMMENDS of all its
    /// packages), each once, with whether it is only recommended.
    pub fn all_rdepends(&self) -> Vec<(&str, bool)> {
        let mut out: Vec<(&str, bool)> = Vec::new();
        fn add<'s>(out: &mut Vec<(&'s str, bool)>, name: &'s str, recommended: bool) {
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 &= recommended,
                None => out.push((name, recommended)),
            }
        }
        for p in &self.packages {
            let pd = self.package(p);
            for r in self.rdepends.iter().chain(pd.iter().flat_map(|pd| pd.rdepends.iter())) {
                add(&mut out, r, false);
            }
        }
        for p in &self.packages {
            let pd = self.package(p);
            for r in self.rrecommends.iter().chain(pd.iter().flat_map(|pd| pd.rrecommends.iter())) {
                add(&mut out, r, true);
            }
        }
        out
    }
}

/// A layer's file pattern and priority, as BitBake matches recipe files to layers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPriority {
    pub name: String,
    pub pattern: String,
    pub priority: i64,
}

/// Prefixes of the configuration variables provider selection reads.
const CONFIG_PREFIXES: [&str; 4] =
    ["PREFERRED_PROVIDER", "PREFERRED_RPROVIDER", "PREFERRED_VERSION", "REQUIRED_VERSION"];
/// Other configuration variables the task graph needs.
const CONFIG_VARS: [&str; 16] = [
    "ASSUME_PROVIDED",
    "BB_MULTI_PROVIDER_ALLOWED",
    "BB_DEFAULT_TASK",
    // Where a build keeps its files, for `rstore build`.
    "TMPDIR",
    "DL_DIR",
    "RSTORE_STORE_DIR",
    "BB_NUMBER_THREADS",
    // The user's BitBake, to run the layers' own tasks with.
    "RSTORE_BITBAKE_DIR",
    // Binary caches to substitute from, and the keys they must be signed by.
    "RSTORE_SUBSTITUTERS",
    "RSTORE_TRUSTED_KEYS",
    // Limits of every task.
    "RSTORE_TASK_CPUS",
    "RSTORE_TASK_MEMORY",
    "RSTORE_TASK_PROCESSES",
    "RSTORE_TASK_TMPFS_SIZE",
    "RSTORE_TASK_LOG_SIZE",
    "RSTORE_TASK_OUTPUT_SIZE",
];

/// What the configuration says about providers: the `PREFERRED_*` / `REQUIRED_VERSION*`
/// variables (keys expanded, as BitBake reads them), `ASSUME_PROVIDED`,
/// `BB_MULTI_PROVIDER_ALLOWED`, `BB_DEFAULT_TASK`, and the layer priorities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub vars: BTreeMap<String, String>,
    pub layers: Vec<LayerPriority>,
}

impl ProviderConfig {
    /// Read from the configuration datastore and the layer collections.
    pub fn read(config: &Rc<DataStore>, collections: &[Collection]) -> Result<ProviderConfig, DataError> {
        let d = config.create_copy();
        d.expand_keys()?;
        let mut vars = BTreeMap::new();
        for key in d.keys()?.iter().cloned() {
            let wanted = CONFIG_PREFIXES.iter().any(|p| key.starts_with(p)) || CONFIG_VARS.contains(&&*key);
            if !wanted {
                continue;
            }
            match d.get_str(&key) {
                Ok(Some(v)) => {
                    vars.insert(key.to_string(), v);
                }
                Ok(None) => {}
                // BitBake only fails when it reads the variable; an entry that cannot be
                // expanded counts as unset here, and says so.
                Err(e) => tracing::warn!("ignoring {key}: {e}"),
            }
        }
        let layers = collections
            .iter()
            .map(|c| LayerPriority { name: c.name.clone(), pattern: c.pattern.clone(), priority: c.priority })
            .collect();
        Ok(ProviderConfig { vars, layers })
    }

    /// A variable's value; unset and empty are the same (as `getVar(...) or ""`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `ASSUME_PROVIDED`, split.
    pub fn assume_provided(&self) -> Vec<String> {
        self.get("ASSUME_PROVIDED").unwrap_or_default().split_whitespace().map(str::to_owned).collect()
    }

    /// `BB_DEFAULT_TASK`, or `build`.
    pub fn default_task(&self) -> String {
        self.get("BB_DEFAULT_TASK").unwrap_or("build").trim().to_owned()
    }

    /// `REQUIRED_VERSION` or `PREFERRED_VERSION` of a PN: `KEYWORD_VERSION:pn-PN`,
    /// then `KEYWORD_VERSION_PN`, then `KEYWORD_VERSION`.
    fn version_for(&self, keyword: &str, pn: &str) -> Option<&str> {
        self.get(&format!("{keyword}_VERSION:pn-{pn}"))
            .or_else(|| self.get(&format!("{keyword}_VERSION_{pn}")))
            .or_else(|| self.get(&format!("{keyword}_VERSION")))
    }
}

/// `bb.utils.vercmp_part`: compare version strings piecewise — digits numerically,
/// letters alphabetically, `~` before anything, other characters after letters.
pub fn vercmp_part(a: &str, b: &str) -> Ordering {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Piece<'a> {
        Tilde,
        Number(&'a str),
        Alpha(&'a str),
        Other(char),
    }
    fn explode(s: &str) -> Vec<Piece<'_>> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if c.is_ascii_digit() {
                let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
                out.push(Piece::Number(rest[..end].trim_start_matches('0')));
                rest = &rest[end..];
            } else if c.is_ascii_alphabetic() {
                let end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
                out.push(Piece::Alpha(&rest[..end]));
                rest = &rest[end..];
            } else {
                out.push(if c == '~' { Piece::Tilde } else { Piece::Other(c) });
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }
    fn rank(p: &Piece<'_>) -> i8 {
        match p {
            Piece::Tilde => -1,
            Piece::Number(_) => 0,
            Piece::Alpha(_) => 1,
            Piece::Other(_) => 2,
        }
    }
    let (va, vb) = (explode(a), explode(b));
    let mut i = 0;
    loop {
        let (pa, pb) = (va.get(i), vb.get(i));
        i += 1;
        // A missing piece counts as (0, None): below any piece of rank 0, above `~`.
        let (ra, rb) = (pa.map_or(0, rank), pb.map_or(0, rank));
        match (pa, pb) {
            (None, None) => return Ordering::Equal,
            _ if ra != rb => return ra.cmp(&rb),
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(Piece::Number(x)), Some(Piece::Number(y))) => {
                let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(x), Some(y)) => {
                let o = x.cmp(y);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// A recipe version: PE, PV, PR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    pub pe: String,
    pub pv: String,
    pub pr: String,
}

impl Version {
    /// `PE:PV-PR` as BitBake prints it in graphs (`:1.0-r0` when PE is empty).
    pub fn label(&self) -> String {
        format!("{}:{}-{}", self.pe, self.pv, self.pr)
    }

    /// `bb.utils.vercmp`: epoch numerically, then PV, then PR.
    pub fn cmp_bitbake(&self, other: &Version) -> Ordering {
        let epoch = |e: &str| e.trim().parse::<i64>().unwrap_or(0);
        epoch(&self.pe)
            .cmp(&epoch(&other.pe))
            .then_with(|| vercmp_part(&self.pv, &other.pv))
            .then_with(|| vercmp_part(&self.pr, &other.pr))
    }
}

/// Index of a recipe (a parsed, not skipped variant) in a [`ProviderIndex`].
pub type RecipeId = usize;

/// One recipe as provider selection sees it.
#[derive(Debug)]
pub struct Candidate<'a> {
    pub info: &'a RecipeInfo,
    /// BitBake's file name (`virtual:native:/…/x.bb` for variants).
    pub target: &'a str,
    pub pn: &'a str,
    pub version: Version,
    pub priority: i64,
    pub preference: i64,
}

/// The provider questions over a set of parsed recipes and a configuration.
pub struct ProviderIndex<'a> {
    pub config: &'a ProviderConfig,
    pub recipes: Vec<Candidate<'a>>,
    /// Recipes skipped at parse time (to explain why nothing provides a name).
    pub skipped: Vec<&'a RecipeInfo>,
    by_pn: HashMap<&'a str, Vec<RecipeId>>,
    providers: HashMap<&'a str, Vec<RecipeId>>,
    rproviders: HashMap<&'a str, Vec<RecipeId>>,
    packages: HashMap<&'a str, Vec<RecipeId>>,
    dynamic: Vec<DynamicPattern>,
    preferred: HashMap<String, String>,
    ignored: Vec<IgnoredName>,
    /// Warnings met while choosing (a preferred version that does not exist, …).
    pub warnings: std::cell::RefCell<Vec<String>>,
}

/// An `ASSUME_PROVIDED` entry: a name, or a regular expression when it starts with
/// `^` or ends with `$`.
enum IgnoredName {
    Exact(String),
    Pattern(fancy_regex::Regex),
}

/// A `PACKAGES_DYNAMIC` pattern, compiled when a name could match it: most patterns
/// start with a literal (`^perl-module-.*`) that rules out nearly every name cheaply.
struct DynamicPattern {
    source: String,
    /// What every matching name starts with.
    prefix: String,
    regex: std::cell::OnceCell<Option<fancy_regex::Regex>>,
    ids: Vec<RecipeId>,
}

impl DynamicPattern {
    fn new(source: &str, ids: Vec<RecipeId>) -> DynamicPattern {
        let prefix = literal_prefix(&source.replace('+', "\\+"));
        DynamicPattern { source: source.to_owned(), prefix, regex: Default::default(), ids }
    }
}

/// The literal text every match of a Python regular expression (matched at the start
/// of a string) begins with; empty when that cannot be told simply.
fn literal_prefix(pattern: &str) -> String {
    if pattern.contains('|') {
        return String::new();
    }
    let mut out = String::new();
    let mut chars = pattern.strip_prefix('^').unwrap_or(pattern).chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if !e.is_ascii_alphanumeric() => out.push(e),
                _ => break,
            },
            '*' | '?' | '{' => {
                // The last literal was optional or repeated.
                out.pop();
                break;
            }
            '.' | '^' | '$' | '+' | '(' | ')' | '[' | ']' | '}' => break,
            c => out.push(c),
        }
        if matches!(chars.peek(), Some('*' | '?' | '{')) {
            out.pop();
            break;
        }
    }
    out
}

/// A regular expression in Python's syntax (lookaround included), matched at the start
/// of a name as `re.match` does.
fn python_regex(pattern: &str) -> Result<fancy_regex::Regex, Box<fancy_regex::Error>> {
    fancy_regex::Regex::new(&format!("^(?:{pattern})")).map_err(Box::new)
}

/// The layer of a recipe file: the first collection, by pattern in reverse order, whose
/// pattern matches the start of the path (BitBake's `calc_bbfile_priority`).
fn layer_priority(layers: &[(regex::Regex, &LayerPriority)], file: &str) -> i64 {
    layers.iter().find(|(re, _)| re.is_match(file)).map_or(0, |(_, l)| l.priority)
}

impl<'a> ProviderIndex<'a> {
    /// Index `recipes` under `config`.
    pub fn new(recipes: &'a [RecipeInfo], config: &'a ProviderConfig) -> ProviderIndex<'a> {
        let mut layers: Vec<&LayerPriority> = config.layers.iter().collect();
        layers.sort_by(|a, b| b.pattern.cmp(&a.pattern));
        let layers: Vec<(regex::Regex, &LayerPriority)> = layers
            .into_iter()
            .filter_map(|l| {
                let pattern = if l.pattern.is_empty() { "^NULL$" } else { l.pattern.as_str() };
                regex::Regex::new(&format!("^(?:{pattern})")).ok().map(|r| (r, l))
            })
            .collect();
        let mut index = ProviderIndex {
            config,
            recipes: Vec::new(),
            skipped: Vec::new(),
            by_pn: HashMap::new(),
            providers: HashMap::new(),
            rproviders: HashMap::new(),
            packages: HashMap::new(),
            dynamic: Vec::new(),
            preferred: HashMap::new(),
            ignored: Vec::new(),
            warnings: Default::default(),
        };
        let mut dynamic: Vec<(&'a str, Vec<RecipeId>)> = Vec::new();
        for r in recipes {
            if r.skipped.is_some() {
                index.skipped.push(r);
                continue;
            }
            let Some(pn) = r.pn.as_deref() else { continue };
            let id = index.recipes.len();
            let file = r.file.display().to_string();
            index.recipes.push(Candidate {
                info: r,
                target: &r.target,
                pn,
                version: Version {
                    pe: r.pe.clone().unwrap_or_default(),
                    pv: r.pv.clone().unwrap_or_default(),
                    pr: r.pr.clone().unwrap_or_default(),
                },
                priority: layer_priority(&layers, &file),
                preference: r.providers.default_preference,
            });
            index.by_pn.entry(pn).or_default().push(id);
            let p = &r.providers;
            let mut provides: Vec<&'a str> = vec![pn];
            for name in &p.provides {
                if !provides.contains(&name.as_str()) {
                    provides.push(name);
                }
            }
            for name in provides {
                index.providers.entry(name).or_default().push(id);
            }
            for name in &p.packages {
                index.packages.entry(name).or_default().push(id);
            }
            for name in p.all_rprovides() {
                let list = index.rproviders.entry(name).or_default();
                if !list.contains(&id) {
                    list.push(id);
                }
            }
            for pattern in &p.packages_dynamic {
                match dynamic.iter_mut().find(|(pat, _)| *pat == pattern.as_str()) {
                    Some((_, ids)) => ids.push(id),
                    None => dynamic.push((pattern, vec![id])),
                }
            }
        }
        index.dynamic = dynamic.into_iter().map(|(pattern, ids)| DynamicPattern::new(pattern, ids)).collect();
        for entry in config.get("PREFERRED_PROVIDERS").unwrap_or_default().split_whitespace() {
            match entry.split_once(':') {
                Some((providee, provider)) if !provider.contains(':') => {
                    if let Some(old) = index.preferred.get(providee)
                        && old != provider
                    {
                        index.warnings.borrow_mut().push(format!(
                            "conflicting preferences for {providee}: both {provider} and {old} specified"
                        ));
                    }
                    index.preferred.insert(providee.to_owned(), provider.to_owned());
                }
                _ => index
                    .warnings
                    .borrow_mut()
                    .push(format!("malformed entry in PREFERRED_PROVIDERS: {entry:?} (expected NAME:PROVIDER)")),
            }
        }
        for name in config.assume_provided() {
            if name.starts_with('^') || name.ends_with('$') {
                match python_regex(&name) {
                    Ok(re) => index.ignored.push(IgnoredName::Pattern(re)),
                    Err(e) => index
                        .warnings
                        .borrow_mut()
                        .push(format!("ASSUME_PROVIDED entry {name:?} is not a valid regular expression ({e})")),
                }
            } else {
                index.ignored.push(IgnoredName::Exact(name));
            }
        }
        index
    }

    /// Every PN with its recipes (BitBake's `pkg_pn`).
    pub fn by_pn(&self) -> impl Iterator<Item = (&'a str, &[RecipeId])> {
        self.by_pn.iter().map(|(pn, ids)| (*pn, ids.as_slice()))
    }

    /// The recipe with this id.
    pub fn recipe(&self, id: RecipeId) -> &Candidate<'a> {
        &self.recipes[id]
    }

    /// Whether a name is in ASSUME_PROVIDED.
    pub fn is_assumed(&self, name: &str) -> bool {
        self.ignored.iter().any(|i| match i {
            IgnoredName::Exact(n) => n == name,
            IgnoredName::Pattern(re) => re.is_match(name).unwrap_or(false),
        })
    }

    /// The build-time names a recipe provides: its PN, then PROVIDES.
    pub fn provides_of(&self, id: RecipeId) -> Vec<&'a str> {
        let c = &self.recipes[id];
        let mut out = vec![c.pn];
        for p in &c.info.providers.provides {
            if !out.contains(&p.as_str()) {
                out.push(p);
            }
        }
        out
    }

    /// Every recipe providing a build-time name, if any.
    pub fn build_providers(&self, item: &str) -> Option<&[RecipeId]> {
        self.providers.get(item).map(Vec::as_slice)
    }

    /// Whether any recipe provides `item` at build time.
    pub fn knows(&self, item: &str) -> bool {
        self.providers.contains_key(item)
    }

    /// Every recipe providing a run-time name: RPROVIDES and PACKAGES, or failing those
    /// the recipes whose PACKAGES_DYNAMIC matches (BitBake's `getRuntimeProviders`).
    pub fn runtime_providers(&self, item: &str) -> Vec<RecipeId> {
        let mut out: Vec<RecipeId> = Vec::new();
        out.extend(self.rproviders.get(item).into_iter().flatten());
        out.extend(self.packages.get(item).into_iter().flatten());
        if !out.is_empty() {
            return out;
        }
        for pattern in &self.dynamic {
            if !item.starts_with(&pattern.prefix) {
                continue;
            }
            let re = pattern.regex.get_or_init(|| match python_regex(&pattern.source.replace('+', "\\+")) {
                Ok(re) => Some(re),
                Err(e) => {
                    self.warn(format!(
                        "PACKAGES_DYNAMIC entry {:?} is not a valid regular expression ({e}); it matches nothing",
                        pattern.source
                    ));
                    None
                }
            });
            if re.as_ref().is_some_and(|re| re.is_match(item).unwrap_or(false)) {
                out.extend(&pattern.ids);
            }
        }
        out
    }

    /// BitBake's `sortPriorities`: the files, grouped by layer priority (highest
    /// first), each group ordered by DEFAULT_PREFERENCE (lowest first).
    fn sort_priorities(&self, files: &[RecipeId]) -> Vec<Vec<RecipeId>> {
        let mut by_priority: BTreeMap<i64, BTreeMap<i64, Vec<RecipeId>>> = BTreeMap::new();
        for &f in files {
            let c = &self.recipes[f];
            by_priority.entry(c.priority).or_default().entry(c.preference).or_default().push(f);
        }
        by_priority.into_values().rev().map(|prefs| prefs.into_values().flatten().collect()).collect()
    }

    /// BitBake's `findPreferredProvider`: the first file (in priority order) with the
    /// REQUIRED_VERSION or PREFERRED_VERSION of `pn`, and whether it was required.
    fn preferred_version(&self, pn: &str, sorted: &[Vec<RecipeId>], item: &str) -> (Option<RecipeId>, bool) {
        let required_v = self.config.version_for("REQUIRED", pn);
        let preferred_v = self.config.version_for("PREFERRED", pn);
        let itemstr = if item.is_empty() { String::new() } else { format!(" (for item {item})") };
        let (wanted, required) = match (required_v, preferred_v) {
            (Some(r), Some(_)) => {
                self.warn(format!(
                    "REQUIRED_VERSION and PREFERRED_VERSION for package {pn}{itemstr} are both set using REQUIRED_VERSION {r}"
                ));
                (r, true)
            }
            (Some(r), None) => (r, true),
            (None, Some(p)) => (p, false),
            (None, None) => return (None, false),
        };
        // `(\d+:)*(.*)(_.*)*` as BitBake matches it: leading epochs (the last one counts),
        // then everything else is the version; the revision group never matches.
        let mut rest = wanted;
        let mut epoch: Option<&str> = None;
        while let Some((e, tail)) = rest.split_once(':') {
            if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
                break;
            }
            epoch = Some(e);
            rest = tail;
        }
        let version = rest;
        let matches = |v: &Version| {
            (epoch.is_none() || epoch == Some(v.pe.as_str()))
                && (version == v.pv || version.strip_suffix('%').is_some_and(|prefix| v.pv.starts_with(prefix)))
        };
        let found = sorted.iter().flatten().copied().find(|&f| matches(&self.recipes[f].version));
        if found.is_none() {
            let shown = match epoch {
                Some(e) => format!("{e}:{version}"),
                None => version.to_owned(),
            };
            if !required {
                self.warn(format!("preferred version {shown} of {pn} not available{itemstr}"));
            }
            let mut available: Vec<String> = Vec::new();
            for &f in sorted.iter().flatten() {
                let v = &self.recipes[f].version;
                let s = if v.pe.is_empty() { v.pv.clone() } else { format!("{}:{}", v.pe, v.pv) };
                if !available.contains(&s) {
                    available.push(s);
                }
            }
            if !available.is_empty() {
                available.sort();
                self.warn(format!("versions of {pn} available: {}", available.join(" ")));
            }
            if required {
                self.warn(format!("required version {shown} of {pn} not available{itemstr}"));
            }
        }
        (found, required)
    }

    /// BitBake's `findLatestProvider`: the highest version in `files`, a higher
    /// DEFAULT_PREFERENCE first.
    fn latest(&self, files: &[RecipeId]) -> Option<RecipeId> {
        let mut best: Option<RecipeId> = None;
        let mut best_pref = 0;
        for &f in files {
            let c = &self.recipes[f];
            let better = match best {
                None => true,
                Some(b) => {
                    (best_pref == c.preference && self.recipes[b].version.cmp_bitbake(&c.version) == Ordering::Less)
                        || c.preference > best_pref
                }
            };
            if better {
                best = Some(f);
                best_pref = c.preference;
            }
        }
        best
    }

    /// BitBake's `_filterProviders`: one file per PN (its preferred or latest version),
    /// a PN equal to `item` first. Empty when a REQUIRED_VERSION is not available.
    fn eligible(&self, providers: &[RecipeId], item: &str) -> Vec<RecipeId> {
        let mut sorted_files: Vec<RecipeId> = providers.to_vec();
        sorted_files.sort_by(|a, b| self.recipes[*a].target.cmp(self.recipes[*b].target));
        sorted_files.dedup();
        let mut by_pn: BTreeMap<&str, Vec<RecipeId>> = BTreeMap::new();
        for &f in &sorted_files {
            by_pn.entry(self.recipes[f].pn).or_default().push(f);
        }
        let mut chosen: BTreeMap<&str, Option<RecipeId>> = BTreeMap::new();
        let mut eligible = Vec::new();
        let mut sorted_by_pn: BTreeMap<&str, Vec<Vec<RecipeId>>> = BTreeMap::new();
        for (pn, files) in &by_pn {
            let sorted = self.sort_priorities(files);
            let (preferred, required) = self.preferred_version(pn, &sorted, item);
            if required && preferred.is_none() {
                return Vec::new();
            }
            chosen.insert(pn, preferred);
            if let Some(f) = preferred {
                eligible.push(f);
            }
            sorted_by_pn.insert(pn, sorted);
        }
        for (pn, sorted) in &sorted_by_pn {
            if chosen.get(pn).is_some_and(Option::is_some) {
                continue;
            }
            let latest = sorted.first().and_then(|s| self.latest(s));
            chosen.insert(pn, latest);
            eligible.extend(latest);
        }
        if eligible.is_empty() {
            return eligible;
        }
        // A PN equal to the wanted name is a slight default preference.
        for &f in &sorted_files {
            if self.recipes[f].pn != item {
                continue;
            }
            let Some(Some(pf)) = chosen.get(item) else { continue };
            if let Some(pos) = eligible.iter().position(|e| e == pf) {
                let pf = eligible.remove(pos);
                eligible.insert(0, pf);
            }
        }
        eligible
    }

    /// BitBake's `filterProviders` for a build-time name: the eligible providers, best
    /// first, and whether a PREFERRED_PROVIDER made the choice unique.
    pub fn filter_build(&self, providers: &[RecipeId], item: &str) -> (Vec<RecipeId>, bool) {
        let mut eligible = self.eligible(providers, item);
        let preferred = self
            .config
            .get(&format!("PREFERRED_PROVIDER_{item}"))
            .map(str::to_owned)
            .or_else(|| self.preferred.get(item).cloned());
        let mut unique = false;
        if let Some(preferred) = preferred
            && let Some(pos) = eligible.iter().position(|&f| self.recipes[f].pn == preferred)
        {
            let f = eligible.remove(pos);
            eligible.insert(0, f);
            unique = true;
        }
        (eligible, unique)
    }

    /// BitBake's `filterProvidersRunTime` for a run-time name: the eligible providers,
    /// best first, and the PREFERRED_(R)PROVIDER entries that picked one (more than one
    /// is a conflict).
    pub fn filter_runtime(&self, providers: &[RecipeId], item: &str) -> (Vec<RecipeId>, Vec<String>) {
        let mut eligible = self.eligible(providers, item);
        if let Some(preferred) = self.config.get(&format!("PREFERRED_RPROVIDER_{item}"))
            && let Some(pos) = eligible.iter().position(|&f| self.recipes[f].pn == preferred)
        {
            let f = eligible.remove(pos);
            eligible.insert(0, f);
            return (eligible, vec![format!("PREFERRED_RPROVIDER_{item} = {preferred}")]);
        }
        // Look for a PREFERRED_PROVIDER of anything each candidate provides. BitBake
        // walks the candidate list while the first promotion removes an entry from that
        // very list (later ones work on a copy), so the entry after it is not looked at;
        // the walk below keeps that behaviour.
        let pns: HashMap<&str, RecipeId> = eligible.iter().map(|&f| (self.recipes[f].pn, f)).collect();
        let mut walked = eligible;
        let mut reordered: Option<Vec<RecipeId>> = None;
        let mut preferred: Vec<RecipeId> = Vec::new();
        let mut reasons = Vec::new();
        let mut i = 0;
        while i < walked.len() {
            let pn = self.recipes[walked[i]].pn;
            i += 1;
            for provide in self.pn_provides(pn) {
                let Some(prefer) = self.config.get(&format!("PREFERRED_PROVIDER_{provide}")) else { continue };
                let Some(&pref) = pns.get(prefer) else { continue };
                if preferred.contains(&pref) {
                    continue;
                }
                reasons.push(format!("PREFERRED_PROVIDER_{provide} = {prefer}"));
                match &mut reordered {
                    None => {
                        if let Some(pos) = walked.iter().position(|&e| e == pref) {
                            walked.remove(pos);
                        }
                        let mut list = vec![pref];
                        list.extend(walked.iter().copied());
                        reordered = Some(list);
                    }
                    Some(list) => {
                        if let Some(pos) = list.iter().position(|&e| e == pref) {
                            list.remove(pos);
                        }
                        list.insert(0, pref);
                    }
                }
                preferred.push(pref);
                break;
            }
        }
        (reordered.unwrap_or(walked), reasons)
    }

    /// Every build-time name any recipe of this PN provides (BitBake's `pn_provides`).
    pub fn pn_provides(&self, pn: &str) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = Vec::new();
        for &id in self.by_pn.get(pn).into_iter().flatten() {
            for p in self.provides_of(id) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Names similar to `item` among the build-time names and skipped PNs.
    pub fn close_matches(&self, item: &str) -> Vec<String> {
        let mut names: Vec<&str> = self.providers.keys().copied().collect();
        names.extend(self.skipped.iter().filter_map(|r| r.pn.as_deref()));
        let mut scored: Vec<(usize, &str)> = names
            .into_iter()
            .filter(|n| *n != item)
            .filter_map(|n| {
                let d = edit_distance(item, n);
                let longest = item.chars().count().max(n.chars().count());
                (longest > 0 && d * 10 <= longest * 3).then_some((d, n))
            })
            .collect();
        scored.sort();
        scored.dedup();
        scored.into_iter().take(3).map(|(_, n)| n.to_owned()).collect()
    }

    /// Why skipped recipes do not provide `item` (BitBake's `get_reasons`).
    pub fn skip_reasons(&self, item: &str, runtime: bool) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.skipped {
            let pn = r.pn.as_deref().unwrap_or_default();
            let reason = r.skipped.as_deref().unwrap_or_default();
            if pn == item {
                out.push(format!("{pn} was skipped: {reason}"));
            } else if runtime && r.providers.all_rprovides().contains(&item) {
                out.push(format!("{pn} RPROVIDES {item} but was skipped: {reason}"));
            } else if !runtime && r.providers.provides.iter().any(|p| p == item) {
                out.push(format!("{pn} PROVIDES {item} but was skipped: {reason}"));
            }
        }
        out
    }

    fn warn(&self, message: String) {
        let mut w = self.warnings.borrow_mut();
        if !w.contains(&message) {
            w.push(message);
        }
    }
}

/// The Levenshtein distance between two names (for "close matches" hints).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explode_deps_drops_versions() {
        assert_eq!(explode_deps("a (>= 1.0) b (= 2) c"), vec!["a", "b", "c"]);
        assert_eq!(explode_deps("  "), Vec::<String>::new());
    }

    #[test]
    fn vercmp_orders_like_bitbake() {
        use Ordering::*;
        assert_eq!(vercmp_part("1.10", "1.9"), Greater);
        assert_eq!(vercmp_part("1.0", "1.0"), Equal);
        assert_eq!(vercmp_part("1.0~rc1", "1.0"), Less);
        assert_eq!(vercmp_part("1.0", "1.0a"), Less);
        assert_eq!(vercmp_part("1.0a", "1.0.1"), Less);
        assert_eq!(vercmp_part("007", "7"), Equal);
        assert_eq!(vercmp_part("1.0+git", "1.0"), Greater);
        let v = |pe: &str, pv: &str, pr: &str| Version { pe: pe.into(), pv: pv.into(), pr: pr.into() };
        assert_eq!(v("1", "1.0", "r0").cmp_bitbake(&v("", "9.0", "r0")), Greater);
        assert_eq!(v("", "1.0", "r10").cmp_bitbake(&v("", "1.0", "r9")), Greater);
    }

    #[test]
    fn literal_prefixes_are_safe() {
        assert_eq!(literal_prefix("^perl-module-.*(?<!native)$"), "perl-module-");
        assert_eq!(literal_prefix("^gtk\\+3-locale-.*"), "gtk+3-locale-");
        assert_eq!(literal_prefix("^abc?d"), "ab");
        assert_eq!(literal_prefix("^ab+c"), "ab");
        assert_eq!(literal_prefix("^a|b"), "");
        assert_eq!(literal_prefix("(?i)^x"), "");
        assert_eq!(literal_prefix("kernel-module-.*"), "kernel-module-");
    }

    #[test]
    fn close_names_are_found() {
        assert_eq!(edit_distance("zlib", "zlibb"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
