//! The BitBake datastore ("DataSmart"), with BitBake's exact semantics.
//!
//! * A variable is a map of flags; its value is the `_content` flag, a `??=` weak
//!   default is `_defaultval`, and `:append` / `:prepend` / `:remove` operations are
//!   kept as lists of conditional values and applied when the variable is read.
//! * Override-qualified assignments (`FOO:arm = …`) are recorded in `overridedata` when
//!   they are set; reading `FOO` selects the highest-priority active override
//!   (OVERRIDES are listed lowest priority first), then applies appends, prepends, the
//!   expansion of `${…}` and `${@…}`, removes, and finally any filter.
//! * Expansion is lazy (values are stored unexpanded) and cached until the next write.
//! * [`DataStore::create_copy`] gives a copy-on-write layer: lookups fall through to the
//!   parent, writes shadow-copy the variable into the new layer. A recipe's datastore is
//!   such a layer over the configuration datastore.
//!
//! Python enters only through [`Hooks`] (inline `${@…}` code and filters), so this
//! module is plain Rust and is tested without an interpreter.

use crate::bitbake_version::BitBakeVersion;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;
use std::rc::Rc;

use indexmap::IndexMap;

use crate::value::{Conditional, Str, Value};

/// The flags of one variable, in insertion order (as Python dicts keep them).
pub type Var = IndexMap<Str, Value>;

const CONTENT: &str = "_content";
const DEFAULTVAL: &str = "_defaultval";
const DEFAULTVAL_FLAG: &str = "_defaultval_flag_";
const APPEND: &str = ":append";
const PREPEND: &str = ":prepend";
const REMOVE: &str = ":remove";

/// How deeply expansions may nest (a variable whose value references a variable
/// whose value references …). BitBake itself stops at Python's recursion limit,
/// a little below this depth; the limit keeps a runaway chain from exhausting the
/// stack.
const MAX_EXPANSION_DEPTH: usize = 256;

thread_local! {
    /// Writes to any datastore of this thread; a cached `keys()` is valid while this
    /// count is unchanged (a layer sees its parents' writes).
    static WRITES: Cell<u64> = const { Cell::new(0) };
    /// Expansions in progress on this thread, across every datastore.
    static EXPANSION_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Leaves one level of [`EXPANSION_DEPTH`] when dropped.
struct DepthGuard;

impl Drop for DepthGuard {
    fn drop(&mut self) {
        EXPANSION_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Variables renamed by BitBake; using the old name is an error.
const RENAMED_VARS: [(&str, &str); 9] = [
    ("BB_ENV_WHITELIST", "BB_ENV_PASSTHROUGH"),
    ("BB_ENV_EXTRAWHITE", "BB_ENV_PASSTHROUGH_ADDITIONS"),
    ("BB_HASHBASE_WHITELIST", "BB_BASEHASH_IGNORE_VARS"),
    ("BB_HASHCONFIG_WHITELIST", "BB_HASHCONFIG_IGNORE_VARS"),
    ("BB_HASHTASK_WHITELIST", "BB_TASKHASH_IGNORE_TASKS"),
    ("BB_SETSCENE_ENFORCE_WHITELIST", "BB_SETSCENE_ENFORCE_IGNORE_TASKS"),
    ("MULTI_PROVIDER_WHITELIST", "BB_MULTI_PROVIDER_ALLOWED"),
    ("BB_STAMP_WHITELIST", "is a deprecated variable and support has been removed"),
    ("BB_STAMP_POLICY", "is a deprecated variable and support has been removed"),
];

/// Why reading or writing the datastore failed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Expansion(Box<ExpansionError>),
    /// `bb.parse.SkipRecipe` was raised: the recipe is skipped with this reason.
    #[error("recipe skipped: {0}")]
    SkipRecipe(String),
    /// A fatal error already explained (bb.fatal, a renamed variable, …).
    #[error("{0}")]
    Fatal(String),
    /// An exception raised by Python code, with its formatted traceback.
    #[error("{message}")]
    Python {
        message: String,
        /// The exception object, kept so it can be re-raised unchanged into Python.
        exception: Option<Rc<pyo3::PyErr>>,
    },
}

/// A failure while expanding a variable, with the chain of variables that led to it.
#[derive(Debug, Clone)]
pub struct ExpansionError {
    /// The variable whose expansion failed first, then each variable that referenced it.
    pub chain: Vec<String>,
    /// The expression being expanded when it failed.
    pub expression: Option<String>,
    /// What went wrong.
    pub cause: String,
}

impl fmt::Display for ExpansionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.chain.first().filter(|v| !v.is_empty()), &self.expression) {
            (Some(var), Some(expr)) => {
                write!(f, "failure expanding variable {var}, expression was {expr}: {}", self.cause)?
            }
            (Some(var), None) => write!(f, "failure expanding variable {var}: {}", self.cause)?,
            (None, Some(expr)) => write!(f, "failure expanding expression {expr}: {}", self.cause)?,
            (None, None) => write!(f, "failure expanding: {}", self.cause)?,
        }
        if self.chain.len() > 1 {
            write!(f, "; variable dependency chain: {}", self.chain.join(" -> "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ExpansionError {}

impl DataError {
    fn expansion(var: Option<&str>, expression: Option<&str>, cause: String) -> DataError {
        DataError::Expansion(Box::new(ExpansionError {
            chain: vec![var.unwrap_or_default().to_owned()],
            expression: expression.map(str::to_owned),
            cause,
        }))
    }

    /// Add a variable to an expansion error's chain as it propagates outwards.
    fn through(mut self, var: Option<&str>) -> DataError {
        if let (DataError::Expansion(e), Some(var)) = (&mut self, var) {
            e.chain.push(var.to_owned());
        }
        self
    }
}

/// The result of one inline Python expression.
pub enum InlineResult {
    Value(String),
    /// The code has an unterminated string literal: BitBake leaves such code unexpanded.
    Unterminated,
}

/// What the datastore needs from the Python side.
pub trait Hooks {
    /// Evaluate `${@code}` against `d`; `varname` is the variable being expanded.
    fn eval_inline(&self, d: &Rc<DataStore>, code: &str, varname: Option<&str>) -> Result<InlineResult, DataError>;
    /// Apply a variable filter expression (`d.setVarFilter`) to a value.
    fn apply_filter(&self, value: &str, expression: &str) -> Result<String, DataError>;
    /// What Python code reads and calls (BitBake's `codeparser.PythonParser`).
    fn python_deps(&self, code: &str, name: &str) -> Result<Rc<PythonDeps>, DataError>;
}

/// What a piece of Python code depends on, found from its syntax tree.
#[derive(Debug, Clone, Default)]
pub struct PythonDeps {
    /// Variables read with a literal name (`X`, or `X[flag]` for flags).
    pub references: BTreeSet<Str>,
    /// Functions called (dotted names) and functions run by name.
    pub execs: BTreeSet<Str>,
    /// `bb.utils.contains`-style tests: variable → items tested.
    pub contains: BTreeMap<Str, BTreeSet<Str>>,
}

/// Where a change came from, for `--history`.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Str,
    pub line: u32,
}

/// One recorded operation on a variable.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEvent {
    pub op: String,
    pub file: String,
    pub line: u32,
    pub flag: Option<String>,
    pub detail: String,
}

/// The result of expanding one value.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    /// The value before expansion (after appends and prepends).
    pub unexpanded: Option<Value>,
    pub value: Option<Value>,
    /// Variables referenced with `${VAR}` or read by inline Python.
    pub references: BTreeSet<Str>,
    /// Functions inline Python calls.
    pub execs: BTreeSet<Str>,
    /// `bb.utils.contains`-style tests in inline Python: variable → items.
    pub contains: BTreeMap<Str, BTreeSet<Str>>,
    /// `:remove` values that removed something (carried from an override to its base).
    pub removes: Vec<Value>,
}

#[derive(Debug, Clone, Default)]
struct Overrides {
    list: Vec<Str>,
    set: HashSet<Str>,
}

/// How to read a flag.
#[derive(Debug, Clone, Copy, Default)]
pub struct Read {
    pub expand: bool,
    /// Ignore `??=` weak defaults.
    pub noweakdefault: bool,
    /// Read the raw value: no override selection, appends, prepends or removes.
    pub parsing: bool,
}

impl Read {
    pub const EXPANDED: Read = Read { expand: true, noweakdefault: false, parsing: false };
    pub const RAW: Read = Read { expand: false, noweakdefault: false, parsing: false };
}

type OverrideData = HashMap<Str, Rc<Vec<(Str, Str)>>>;

/// One datastore layer. Always handled through `Rc` so that copies can point at their
/// parent and Python objects can hold on to it.
pub struct DataStore {
    parent: Option<Rc<DataStore>>,
    vars: RefCell<HashMap<Str, Rc<Var>>>,
    overridedata: RefCell<OverrideData>,
    overridevars: RefCell<HashSet<Str>>,
    overrides: RefCell<Option<Rc<Overrides>>>,
    inoverride: Cell<bool>,
    expand_cache: RefCell<HashMap<Str, Rc<Expansion>>>,
    filters: RefCell<HashMap<Str, Str>>,
    renames: Rc<RefCell<HashMap<Str, Str>>>,
    hooks: Option<Rc<dyn Hooks>>,
    /// Variables being expanded right now, innermost last (cycle detection).
    expanding: RefCell<Vec<Str>>,
    history: RefCell<Option<HashMap<Str, Vec<HistoryEvent>>>>,
    /// `keys()` as of a write count (see [`WRITES`]).
    keys_cache: RefCell<Option<(u64, Rc<Vec<Str>>)>>,
    /// Set after a renamed variable was used (BitBake fails the parse afterwards).
    pub(crate) renamed_var_used: RefCell<Vec<String>>,
    /// The BitBake release whose rules this datastore follows (copies inherit it).
    bitbake: Cell<BitBakeVersion>,
}

fn override_prefix_ok(o: &str) -> bool {
    // BitBake's `[a-z0-9]+` matched at the start of the override.
    o.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Split `VAR:append:o1:o2` into (`VAR`, `:append`, Some("o1:o2")), following BitBake's
/// `(?P<base>.*?)(?P<keyword>:append|:prepend|:remove)(:(?P<add>[^A-Z]*))?$`.
pub fn split_keyword(var: &str) -> Option<(&str, &'static str, Option<&str>)> {
    let mut search = 0;
    while let Some(idx) = var[search..].find(':').map(|i| i + search) {
        for kw in [APPEND, PREPEND, REMOVE] {
            if var[idx..].starts_with(kw) {
                let rest = &var[idx + kw.len()..];
                if rest.is_empty() {
                    return Some((&var[..idx], kw, None));
                }
                if let Some(add) = rest.strip_prefix(':')
                    && !add.chars().any(|c| c.is_ascii_uppercase())
                {
                    return Some((&var[..idx], kw, Some(add)));
                }
            }
        }
        search = idx + 1;
    }
    None
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_+./~:".contains(c)
}

/// Find `${NAME}` references (BitBake's `\$\{[a-zA-Z0-9\-_+./~:]+\}`).
fn next_var_ref(s: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut i = from;
    while let Some(off) = s[i..].find("${") {
        let start = i + off;
        let mut j = start + 2;
        while j < bytes.len() && is_var_char(bytes[j] as char) {
            j += 1;
        }
        if j > start + 2 && j < bytes.len() && bytes[j] == b'}' {
            return Some((start, j + 1));
        }
        i = start + 2;
    }
    None
}

/// Find `${@…}` (BitBake's lazy `\$\{@(?:\{.*?\}|.)+?\}`): the shortest run that ends
/// in `}`, where a `{` may open a group that skips to the next `}`.
fn next_python_ref(s: &str, from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(off) = s[i..].find("${@") {
        let start = i + off;
        if let Some(end) = match_python_body(s, start + 3) {
            return Some((start, end));
        }
        i = start + 1;
    }
    None
}

/// Matcher for `(?:\{.*?\}|.)+?\}` starting at `pos` (no newlines); returns the end.
///
/// Followed through the regex engine's preference order: an item starting with `{`
/// first tries to run to the next `}`, which succeeds whenever another `}` follows that
/// one on the line; otherwise every item is one character, and the match ends at the
/// first `}` after at least one item.
fn match_python_body(s: &str, pos: usize) -> Option<usize> {
    let line_end = s[pos..].find('\n').map_or(s.len(), |i| pos + i);
    let line = &s[..line_end];
    let mut p = pos;
    let mut count = 0usize;
    while p < line.len() {
        let c = line[p..].chars().next()?;
        if count > 0 && c == '}' {
            return Some(p + 1);
        }
        if c == '{'
            && let Some(q) = line[p + 1..].find('}').map(|i| p + 1 + i)
            && line[q + 1..].contains('}')
        {
            p = q + 1;
            count += 1;
            continue;
        }
        p += c.len_utf8();
        count += 1;
    }
    None
}

/// Split on single white-space characters, keeping them (Python's `re.split(r'(\s)', …)`).
fn split_keep_space(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if crate::parser::py_space(c) {
            out.push(&s[start..i]);
            out.push(&s[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

impl DataStore {
    /// An empty datastore.
    pub fn new(hooks: Option<Rc<dyn Hooks>>) -> Rc<DataStore> {
        Rc::new(DataStore {
            parent: None,
            vars: RefCell::default(),
            overridedata: RefCell::default(),
            overridevars: RefCell::new(["OVERRIDES".into(), "FILE".into()].into_iter().collect()),
            overrides: RefCell::default(),
            inoverride: Cell::new(false),
            expand_cache: RefCell::default(),
            filters: RefCell::default(),
            renames: Rc::new(RefCell::new(RENAMED_VARS.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect())),
            hooks,
            expanding: RefCell::default(),
            history: RefCell::default(),
            renamed_var_used: RefCell::default(),
            keys_cache: RefCell::default(),
            bitbake: Cell::new(crate::bitbake_version::NEWEST),
        })
    }

    /// The BitBake release whose rules this datastore follows.
    pub fn bitbake(&self) -> BitBakeVersion {
        self.bitbake.get()
    }

    /// Follow the rules of this BitBake release (copies made afterwards inherit it).
    pub fn set_bitbake(&self, version: BitBakeVersion) {
        self.bitbake.set(version);
    }

    /// A copy-on-write layer over `self` (BitBake's `createCopy`).
    pub fn create_copy(self: &Rc<Self>) -> Rc<DataStore> {
        Rc::new(DataStore {
            parent: Some(self.clone()),
            vars: RefCell::default(),
            overridedata: RefCell::new(self.overridedata.borrow().clone()),
            overridevars: RefCell::new(self.overridevars.borrow().clone()),
            overrides: RefCell::default(),
            inoverride: Cell::new(false),
            expand_cache: RefCell::default(),
            filters: RefCell::new(self.filters.borrow().clone()),
            renames: self.renames.clone(),
            hooks: self.hooks.clone(),
            expanding: RefCell::default(),
            history: RefCell::new(self.history.borrow().clone()),
            renamed_var_used: RefCell::default(),
            keys_cache: RefCell::default(),
            bitbake: Cell::new(self.bitbake.get()),
        })
    }

    pub fn hooks(&self) -> Option<&Rc<dyn Hooks>> {
        self.hooks.as_ref()
    }

    /// Start recording the history of every change (for `getvar --history`).
    pub fn enable_tracking(&self) {
        let mut h = self.history.borrow_mut();
        if h.is_none() {
            *h = Some(HashMap::default());
        }
    }

    pub fn tracking(&self) -> bool {
        self.history.borrow().is_some()
    }

    /// The recorded history of a variable.
    pub fn history(&self, var: &str) -> Vec<HistoryEvent> {
        self.history.borrow().as_ref().and_then(|h| h.get(var).cloned()).unwrap_or_default()
    }

    pub fn record(&self, var: &str, op: &str, flag: Option<&str>, detail: &Value, origin: Option<&Origin>) {
        let mut h = self.history.borrow_mut();
        let Some(h) = h.as_mut() else { return };
        let Some(origin) = origin else { return };
        h.entry(var.into()).or_default().push(HistoryEvent {
            op: op.to_owned(),
            file: origin.file.to_string(),
            line: origin.line,
            flag: flag.map(str::to_owned),
            detail: detail.to_string(),
        });
    }

    /// Replace the detail of the last recorded operation on `var`. An assignment
    /// statement records what it wrote (`"b"` for `A += "b"`), as BitBake does, while
    /// the value it stores is computed from it.
    pub fn amend_last_detail(&self, var: &str, detail: &str) {
        if let Some(h) = self.history.borrow_mut().as_mut()
            && let Some(event) = h.get_mut(var).and_then(|events| events.last_mut())
        {
            event.detail = detail.to_owned();
        }
    }

    fn clear_cache(&self) {
        WRITES.with(|w| w.set(w.get() + 1));
        let mut c = self.expand_cache.borrow_mut();
        if !c.is_empty() {
            c.clear();
        }
    }

    /// Drop cached expansions. Reads with `retparser` cache unfiltered values (as BitBake
    /// does); BitBake writes to the datastore after computing signatures, which clears
    /// them, and so must anything that reads signatures from a datastore it keeps using.
    pub fn forget_expansions(&self) {
        self.clear_cache();
    }

    /// The variable as seen from this layer (may be an empty map: deleted).
    pub fn find_var(&self, var: &str) -> Option<Rc<Var>> {
        let mut layer = self;
        loop {
            if let Some(v) = layer.vars.borrow().get(var) {
                return Some(v.clone());
            }
            layer = layer.parent.as_deref()?;
        }
    }

    /// Mutate the local copy of a variable, shadow-copying it from a parent first.
    fn with_local<R>(&self, var: &str, f: impl FnOnce(&mut Var) -> R) -> R {
        let existing = if self.vars.borrow().contains_key(var) { None } else { Some(self.find_var(var)) };
        let mut vars = self.vars.borrow_mut();
        let entry = match existing {
            None => vars.get_mut(var).expect("checked above"),
            Some(found) => {
                let copy = match found {
                    Some(v) if !v.is_empty() => (*v).clone(),
                    _ => Var::new(),
                };
                vars.entry(var.into()).or_insert(Rc::new(copy))
            }
        };
        f(Rc::make_mut(entry))
    }

    fn check_renamed(&self, var: &str, origin: Option<&Origin>) {
        let short = var.split(':').next().unwrap_or(var);
        let renames = self.renames.borrow();
        if let Some(new) = renames.get(short) {
            let at = origin.map(|o| format!(" ({}:{})", o.file, o.line)).unwrap_or_default();
            let msg = if new.contains(' ') {
                format!("variable {short} {new}{at}")
            } else {
                format!("variable {short} has been renamed to {new}{at}")
            };
            self.renamed_var_used.borrow_mut().push(msg);
        }
    }

    /// Errors recorded for uses of renamed variables.
    pub fn renamed_variable_errors(&self) -> Vec<String> {
        self.renamed_var_used.borrow().clone()
    }

    // ----- overrides -------------------------------------------------------------------

    fn need_overrides(self: &Rc<Self>) -> Result<(), DataError> {
        if self.overrides.borrow().is_some() || self.inoverride.get() {
            return Ok(());
        }
        // Computing OVERRIDES may re-expand a variable that is being expanded: with
        // the overrides unset that is a different expansion, not a cycle.
        let outer = std::mem::take(&mut *self.expanding.borrow_mut());
        let result = self.compute_overrides();
        *self.expanding.borrow_mut() = outer;
        result
    }

    fn compute_overrides(self: &Rc<Self>) -> Result<(), DataError> {
        let mut stack = Vec::new();
        for _ in 0..5 {
            self.inoverride.set(true);
            *self.overrides.borrow_mut() = Some(Rc::new(Overrides::default()));
            let first = self.read_overrides();
            self.inoverride.set(false);
            let first = match first {
                Ok(v) => v,
                Err(e) => {
                    *self.overrides.borrow_mut() = None;
                    return Err(e);
                }
            };
            *self.overrides.borrow_mut() = Some(Rc::new(first.clone()));
            stack.push(first.list.join(":"));
            self.clear_cache();
            let again = self.read_overrides()?;
            if again.list == first.list {
                return Ok(());
            }
            *self.overrides.borrow_mut() = Some(Rc::new(again));
        }
        Err(DataError::Fatal(format!(
            "OVERRIDES could not be expanded into a stable state after 5 iterations: \
             overrides must be referenced by other overridden variables recursively; the \
             failing expansions: {}",
            stack.join(" | ")
        )))
    }

    fn read_overrides(self: &Rc<Self>) -> Result<Overrides, DataError> {
        let v = self.get_var("OVERRIDES", true)?;
        let s = v.map(|v| v.to_string()).unwrap_or_default();
        let list: Vec<Str> = s.split(':').map(Str::from).collect();
        let set = list.iter().cloned().collect();
        Ok(Overrides { list, set })
    }

    fn current_overrides(self: &Rc<Self>) -> Result<Rc<Overrides>, DataError> {
        self.need_overrides()?;
        Ok(self.overrides.borrow().clone().unwrap_or_default())
    }

    /// The active overrides, lowest priority first.
    pub fn overrides(self: &Rc<Self>) -> Result<Vec<String>, DataError> {
        Ok(self.current_overrides()?.list.iter().map(|s| s.to_string()).collect())
    }

    fn conditions_hold(o: Option<&str>, ov: &Overrides) -> bool {
        match o {
            None | Some("") => true,
            Some(o) => o.split(':').all(|part| ov.list.iter().any(|x| &**x == part)),
        }
    }

    fn override_active(o: &str, ov: &Overrides) -> bool {
        ov.set.contains(o) || (o.contains(':') && o.split(':').all(|p| ov.set.contains(p)))
    }

    fn update_overrides(&self, var: &str) {
        // Register VAR:o1:o2 under VAR:o1 (override "o2") and VAR (override "o1:o2").
        let Some(idx) = var.rfind(':') else { return };
        let mut override_: Option<&str> = Some(&var[idx + 1..]);
        let mut shortvar = &var[..idx];
        while let Some(o) = override_.filter(|o| !o.is_empty() && override_prefix_ok(o)) {
            let mut od = self.overridedata.borrow_mut();
            let list = od.entry(shortvar.into()).or_default();
            if !list.iter().any(|(r, oo)| &**r == var && &**oo == o) {
                Rc::make_mut(list).push((var.into(), o.into()));
            }
            override_ = None;
            if let Some(i) = shortvar.rfind(':') {
                override_ = Some(&var[i + 1..]);
                shortvar = &var[..i];
                if shortvar.is_empty() {
                    override_ = None;
                }
            }
        }
    }

    fn update_overridevars(self: &Rc<Self>, var: &str, value: &Value) -> Result<(), DataError> {
        let first = self.expand_with_refs(Some(value.clone()), Some(var))?;
        let mut new = first.references;
        new.extend(first.contains.into_keys());
        loop {
            let fresh: Vec<Str> = {
                let ov = self.overridevars.borrow();
                new.iter().filter(|v| !ov.contains(*v)).cloned().collect()
            };
            if fresh.is_empty() {
                break;
            }
            self.overridevars.borrow_mut().extend(new.iter().cloned());
            let mut next = BTreeSet::new();
            for i in &new {
                let v = self.get_var(i, true)?;
                let e = self.expand_with_refs(v, Some(i))?;
                next.extend(e.references);
                next.extend(e.contains.into_keys());
            }
            new = next;
        }
        *self.overrides.borrow_mut() = None;
        self.clear_cache();
        Ok(())
    }

    /// The `VAR:override` forms of a variable: (full name, override).
    pub fn override_forms(&self, var: &str) -> Vec<(Str, Str)> {
        self.overridedata.borrow().get(var).map(|l| l.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether `VAR:override` forms of this variable exist.
    pub fn has_overrides(&self, var: &str) -> bool {
        self.overridedata.borrow().contains_key(var)
    }

    // ----- writing ---------------------------------------------------------------------

    /// `d.setVar(var, value)`. `parsing` keeps pending appends and override forms
    /// (what a metadata assignment does); otherwise they are dropped, as BitBake does.
    pub fn set_var(
        self: &Rc<Self>,
        var: &str,
        value: Value,
        parsing: bool,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        if !var.starts_with("__anon_") && ["_append", "_prepend", "_remove"].iter().any(|k| var.contains(k)) {
            let at = origin.map(|o| format!(" ({}:{})", o.file, o.line)).unwrap_or_default();
            return Err(DataError::Fatal(format!(
                "variable {var}{at} uses the old override syntax (_append/_prepend/_remove): \
                 expected :append, :prepend or :remove"
            )));
        }
        self.check_renamed(var, origin);
        self.clear_cache();

        if let Some((base, keyword, add)) = split_keyword(var) {
            let mut list: Vec<Conditional> = match self.get_var_flag(base, keyword, Read::RAW)? {
                Some(Value::Conditionals(l)) => (*l).clone(),
                _ => Vec::new(),
            };
            list.push(Conditional { value: value.clone(), overrides: add.map(Str::from) });
            self.set_var_flag_raw(base, keyword, Value::Conditionals(Rc::new(list)));
            let hop = match add {
                Some(o) => format!("{keyword}[{o}]"),
                None => keyword.to_owned(),
            };
            self.record(base, &hop, None, &value, origin);
            if base.contains(':') {
                self.update_overrides(base);
            }
            if self.overridevars.borrow().contains(base) {
                self.update_overridevars(var, &value)?;
            }
            return Ok(());
        }

        if !parsing {
            self.with_local(var, |v| {
                v.shift_remove(APPEND);
                v.shift_remove(PREPEND);
                v.shift_remove(REMOVE);
            });
            let od = self.overridedata.borrow().get(var).cloned();
            if let Some(od) = od {
                let ov = self.current_overrides()?;
                for (r, o) in od.iter() {
                    if Self::override_active(o, &ov) {
                        self.del_var(r, None);
                    }
                }
                self.overridedata.borrow_mut().remove(var);
            }
        }
        if var.contains(':') {
            self.update_overrides(var);
        }
        self.with_local(var, |v| {
            v.insert(CONTENT.into(), value.clone());
        });
        self.record(var, op, None, &value, origin);
        if self.overridevars.borrow().contains(var) {
            self.update_overridevars(var, &value)?;
        }
        Ok(())
    }

    /// Shorthand for a plain string assignment from code.
    pub fn set(self: &Rc<Self>, var: &str, value: impl Into<Value>) -> Result<(), DataError> {
        self.set_var(var, value.into(), false, None, "set")
    }

    fn set_var_flag_raw(&self, var: &str, flag: &str, value: Value) {
        self.clear_cache();
        self.with_local(var, |v| {
            v.insert(flag.into(), value);
        });
    }

    /// `d.setVarFlag(var, flag, value)`.
    pub fn set_var_flag(
        self: &Rc<Self>,
        var: &str,
        flag: &str,
        value: Value,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.clear_cache();
        if var == "BB_RENAMED_VARIABLES" {
            self.renames.borrow_mut().insert(flag.into(), value.to_string().into());
        }
        if self.renames.borrow().contains_key(var) {
            self.check_renamed(var, origin);
        }
        self.record(var, op, Some(flag), &value, origin);
        self.set_var_flag_raw(var, flag, value.clone());
        if flag == DEFAULTVAL && var.contains(':') {
            self.update_overrides(var);
        }
        if flag == DEFAULTVAL && self.overridevars.borrow().contains(var) {
            self.update_overridevars(var, &value)?;
        }
        if flag == "export" || flag == "unexport" {
            let mut list: BTreeSet<String> = match self.get_var_flag("__exportlist", CONTENT, Read::RAW)? {
                Some(v) => v.string_list().into_iter().collect(),
                None => BTreeSet::new(),
            };
            if list.insert(var.to_owned()) {
                self.set_var_flag_raw("__exportlist", CONTENT, Value::list_of_strs(list));
            }
        }
        Ok(())
    }

    /// `d.delVar(var)`.
    pub fn del_var(self: &Rc<Self>, var: &str, origin: Option<&Origin>) {
        self.clear_cache();
        self.record(var, "del", None, &Value::str(""), origin);
        self.vars.borrow_mut().insert(var.into(), Rc::new(Var::new()));
        self.overridedata.borrow_mut().remove(var);
        let Some(idx) = var.rfind(':') else { return };
        let mut override_: Option<&str> = Some(&var[idx + 1..]);
        let mut shortvar = &var[..idx];
        while let Some(o) = override_.filter(|o| !o.is_empty() && override_prefix_ok(o)) {
            if let Some(list) = self.overridedata.borrow_mut().get_mut(shortvar) {
                let l = Rc::make_mut(list);
                if let Some(pos) = l.iter().position(|(r, oo)| &**r == var && &**oo == o) {
                    l.remove(pos);
                }
            }
            override_ = None;
            if let Some(i) = shortvar.rfind(':') {
                override_ = Some(&var[i + 1..]);
                shortvar = &var[..i];
                if shortvar.is_empty() {
                    override_ = None;
                }
            }
        }
    }

    /// `d.delVarFlag(var, flag)`.
    pub fn del_var_flag(&self, var: &str, flag: &str, origin: Option<&Origin>) {
        self.clear_cache();
        match self.find_var(var) {
            Some(v) if !v.is_empty() => {}
            _ => return,
        }
        let had = self.with_local(var, |v| {
            let had = v.shift_remove(flag).is_some();
            if had {
                v.shift_remove(format!("{DEFAULTVAL_FLAG}{flag}").as_str());
            }
            had
        });
        if had {
            self.record(var, "delFlag", Some(flag), &Value::str(""), origin);
        }
    }

    /// `d.delVarFlags(var)`: drop every flag but the value.
    pub fn del_var_flags(&self, var: &str) {
        self.clear_cache();
        let content = self.find_var(var).and_then(|v| v.get(CONTENT).cloned());
        let mut vars = self.vars.borrow_mut();
        match content {
            Some(c) => {
                let mut v = Var::new();
                v.insert(CONTENT.into(), c);
                vars.insert(var.into(), Rc::new(v));
            }
            None => {
                vars.remove(var);
            }
        }
    }

    /// `d.appendVar(var, value)`: an `:append` without a space.
    pub fn append_var(self: &Rc<Self>, var: &str, value: Value, origin: Option<&Origin>) -> Result<(), DataError> {
        self.set_var(&format!("{var}:append"), value, true, origin, "append")
    }

    /// `d.prependVar(var, value)`.
    pub fn prepend_var(self: &Rc<Self>, var: &str, value: Value, origin: Option<&Origin>) -> Result<(), DataError> {
        self.set_var(&format!("{var}:prepend"), value, true, origin, "prepend")
    }

    /// `d.appendVarFlag(var, flag, value)`.
    pub fn append_var_flag(
        self: &Rc<Self>,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        let old = self.get_var_flag(var, flag, Read::RAW)?.map(|v| v.to_string()).unwrap_or_default();
        self.set_var_flag(var, flag, Value::str(old + value), origin, "append")
    }

    /// `d.prependVarFlag(var, flag, value)`.
    pub fn prepend_var_flag(
        self: &Rc<Self>,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        let old = self.get_var_flag(var, flag, Read::RAW)?.map(|v| v.to_string()).unwrap_or_default();
        self.set_var_flag(var, flag, Value::str(format!("{value}{old}")), origin, "prepend")
    }

    /// `d.setVarFlags(var, flags)`.
    pub fn set_var_flags(&self, var: &str, flags: Vec<(String, Value)>) {
        self.clear_cache();
        self.with_local(var, |v| {
            for (k, val) in flags {
                if k != CONTENT {
                    v.insert(k.into(), val);
                }
            }
        });
    }

    /// `d.setVarFilter(var, expression)`; `None` removes the filter.
    pub fn set_var_filter(&self, var: &str, expression: Option<&str>) {
        let mut f = self.filters.borrow_mut();
        match expression {
            Some(e) if !e.is_empty() => {
                f.insert(var.into(), e.into());
            }
            _ => {
                f.remove(var);
            }
        }
    }

    /// `d.renameVar(key, newkey)`.
    pub fn rename_var(self: &Rc<Self>, key: &str, newkey: &str, origin: Option<&Origin>) -> Result<(), DataError> {
        if key == newkey {
            return Ok(());
        }
        let mut found = false;
        let val = self.get_var_flag(key, CONTENT, Read { parsing: true, ..Read::RAW })?;
        if let Some(val) = &val {
            if self.tracking() {
                let old = self.history(key);
                if let Some(h) = self.history.borrow_mut().as_mut() {
                    h.entry(newkey.into()).or_default().extend(old);
                }
            }
            self.record(newkey, &format!("rename from {key}"), None, val, origin);
            self.set_var(newkey, val.clone(), true, None, "set")?;
            found = true;
        }
        if let Some(flags) = self.find_var(key) {
            for kw in [APPEND, PREPEND, REMOVE] {
                if let Some(Value::Conditionals(src)) = flags.get(kw) {
                    let mut dest = match self.get_var_flag(newkey, kw, Read::RAW)? {
                        Some(Value::Conditionals(d)) => (*d).clone(),
                        _ => Vec::new(),
                    };
                    dest.extend(src.iter().cloned());
                    self.set_var_flag_raw(newkey, kw, Value::Conditionals(Rc::new(dest)));
                    found = true;
                }
            }
        }
        let od = self.overridedata.borrow().get(key).cloned();
        if let Some(od) = od {
            found = true;
            let renamed: Vec<(Str, Str)> = od.iter().map(|(v, o)| (v.replace(key, newkey).into(), o.clone())).collect();
            self.overridedata.borrow_mut().insert(newkey.into(), Rc::new(renamed));
            for (v, _) in od.iter() {
                self.rename_var(v, &v.replace(key, newkey), origin)?;
            }
        }
        if !found {
            return Ok(());
        }
        if newkey.contains(':') && val.is_none() {
            self.update_overrides(newkey);
        }
        self.record(key, "rename (to)", None, &Value::str(newkey), origin);
        self.del_var(key, None);
        Ok(())
    }

    // ----- reading ---------------------------------------------------------------------

    /// `d.getVar(var, expand)`.
    pub fn get_var(self: &Rc<Self>, var: &str, expand: bool) -> Result<Option<Value>, DataError> {
        self.get_var_flag(var, CONTENT, Read { expand, ..Read::RAW })
    }

    /// `d.getVar(var)` as a string (non-string values rendered like `str()`).
    pub fn get_str(self: &Rc<Self>, var: &str) -> Result<Option<String>, DataError> {
        Ok(self.get_var(var, true)?.map(|v| v.to_string()))
    }

    /// `d.getVarFlag(var, flag, …)`: the full read algorithm.
    pub fn get_var_flag(self: &Rc<Self>, var: &str, flag: &str, read: Read) -> Result<Option<Value>, DataError> {
        Ok(self.get_var_flag_parsed(var, flag, read, false)?.0)
    }

    /// Read and also return the expansion record (references, removes).
    pub fn get_var_flag_parsed(
        self: &Rc<Self>,
        var: &str,
        flag: &str,
        read: Read,
        retparser: bool,
    ) -> Result<(Option<Value>, Option<Rc<Expansion>>), DataError> {
        let is_content = flag == CONTENT;
        let cachename: Str = if is_content { var.into() } else { format!("{var}[{flag}]").into() };
        if !read.noweakdefault
            && (read.expand || retparser)
            && let Some(hit) = self.expand_cache.borrow().get(&cachename)
        {
            let v = if read.expand { hit.value.clone() } else { hit.unexpanded.clone() };
            return Ok((v, Some(hit.clone())));
        }

        let local_var = self.find_var(var);
        let mut value: Option<Value> = None;
        let mut removes: Vec<Value> = Vec::new();

        if is_content && !read.parsing {
            let od = self.overridedata.borrow().get(var).cloned();
            if let Some(od) = od {
                let ov = self.current_overrides()?;
                let mut active: IndexMap<String, Str> = IndexMap::new();
                for (r, o) in od.iter() {
                    if Self::override_active(o, &ov) {
                        active.insert(o.to_string(), r.clone());
                    }
                }
                let mut matched: Option<Str> = None;
                let mut changed = true;
                while changed {
                    changed = false;
                    for o in &ov.list {
                        let suffix = format!(":{o}");
                        let snapshot: Vec<String> = active.keys().cloned().collect();
                        for a in snapshot {
                            let Some(t) = active.get(&a).cloned() else {
                                continue;
                            };
                            if a.ends_with(&suffix) {
                                active.shift_remove(&a);
                                active.insert(a.replace(&suffix, ""), t);
                                changed = true;
                            } else if a == **o {
                                matched = Some(t);
                                active.shift_remove(&a);
                            }
                        }
                    }
                }
                if let Some(m) = matched {
                    let (v, sub) = self.get_var_flag_parsed(&m, CONTENT, Read::RAW, true)?;
                    value = v;
                    if let Some(sub) = sub {
                        removes = sub.removes.clone();
                    }
                }
            }
        }

        if let Some(lv) = &local_var
            && value.is_none()
        {
            if let Some(v) = lv.get(flag) {
                value = Some(v.clone());
            } else if is_content && !read.noweakdefault && lv.contains_key(DEFAULTVAL) {
                value = lv.get(DEFAULTVAL).cloned();
            } else if !read.noweakdefault
                && let Some(v) = lv.get(format!("{DEFAULTVAL_FLAG}{flag}").as_str())
            {
                value = Some(v.clone());
            }
        }

        if is_content
            && !read.parsing
            && let Some(lv) = &local_var
        {
            for (kw, append) in [(APPEND, true), (PREPEND, false)] {
                if let Some(Value::Conditionals(list)) = lv.get(kw) {
                    let ov = self.current_overrides()?;
                    for c in list.iter() {
                        if Self::conditions_hold(c.overrides.as_deref(), &ov) {
                            let cur = value.take().map(|v| v.to_string()).unwrap_or_default();
                            let add = c.value.to_string();
                            value = Some(Value::str(if append { cur + &add } else { add + &cur }));
                        }
                    }
                }
            }
        }

        let mut parser: Option<Expansion> = None;
        if read.expand || retparser {
            parser = Some(self.expand_with_refs(value.clone(), Some(&cachename))?);
        }
        if read.expand {
            value = parser.as_ref().and_then(|p| p.value.clone());
        }

        let nonempty = value.as_ref().is_some_and(Value::truthy);
        if nonempty
            && is_content
            && !read.parsing
            && let Some(lv) = &local_var
            && let Some(Value::Conditionals(list)) = lv.get(REMOVE)
        {
            {
                let ov = self.current_overrides()?;
                for c in list.iter() {
                    if Self::conditions_hold(c.overrides.as_deref(), &ov) && !removes.contains(&c.value) {
                        removes.push(c.value.clone());
                    }
                }
            }
        }

        if nonempty
            && is_content
            && !read.parsing
            && !removes.is_empty()
            && let Some(p) = parser.as_mut()
        {
            let mut expanded: Vec<(Value, Vec<String>)> = Vec::with_capacity(removes.len());
            for r in &removes {
                let words = self.expand(&r.to_string(), None)?.split_whitespace().map(str::to_owned).collect();
                expanded.push((r.clone(), words));
            }
            let current = p.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
            let mut used: Vec<Value> = Vec::new();
            let mut kept = String::with_capacity(current.len());
            for piece in split_keep_space(&current) {
                let mut skip = false;
                for (r, words) in &expanded {
                    if words.iter().any(|w| w == piece) {
                        if !used.contains(r) {
                            used.push(r.clone());
                        }
                        skip = true;
                    }
                }
                if !skip {
                    kept.push_str(piece);
                }
            }
            p.removes = used;
            p.value = Some(Value::str(kept));
            if read.expand {
                value = p.value.clone();
            }
        }

        if read.expand && is_content && value.as_ref().is_some_and(Value::truthy) {
            let base = var.split(':').next().unwrap_or(var);
            let filter = self.filters.borrow().get(base).cloned();
            if let (Some(filter), Some(hooks)) = (filter, self.hooks.clone()) {
                let filtered =
                    hooks.apply_filter(&value.as_ref().map(|v| v.to_string()).unwrap_or_default(), &filter)?;
                value = Some(Value::str(filtered));
                if let Some(p) = parser.as_mut() {
                    p.value = value.clone();
                }
            }
        }

        let parser = parser.map(Rc::new);
        if let Some(p) = &parser
            && !read.noweakdefault
        {
            self.expand_cache.borrow_mut().insert(cachename, p.clone());
        }
        Ok((value, parser))
    }

    /// `d.getVarFlags(var)`: every user-visible flag (internal ones with `internal`).
    pub fn get_var_flags(
        self: &Rc<Self>,
        var: &str,
        expand: &[&str],
        internal: bool,
    ) -> Result<Option<Vec<(String, Value)>>, DataError> {
        let Some(lv) = self.find_var(var) else {
            return Ok(None);
        };
        let mut flags: IndexMap<String, Value> = IndexMap::new();
        for (k, v) in lv.iter() {
            let key: String;
            if !internal && let Some(name) = k.strip_prefix(DEFAULTVAL_FLAG) {
                if lv.contains_key(name) {
                    continue;
                }
                key = name.to_owned();
            } else if !internal && (k.starts_with('_') || k.starts_with(':')) {
                continue;
            } else {
                key = k.to_string();
            }
            let mut val = v.clone();
            if expand.contains(&key.as_str())
                && let Value::Str(s) = &val
            {
                val = Value::str(self.expand(s, Some(&format!("{var}[{key}]")))?);
            }
            flags.insert(key, val);
        }
        if flags.is_empty() {
            return Ok(None);
        }
        Ok(Some(flags.into_iter().collect()))
    }

    /// Expand `${…}` in a string.
    pub fn expand(self: &Rc<Self>, s: &str, varname: Option<&str>) -> Result<String, DataError> {
        let e = self.expand_with_refs(Some(Value::str(s)), varname)?;
        Ok(e.value.map(|v| v.to_string()).unwrap_or_default())
    }

    /// BitBake's `expandWithRefs`: substitute `${VAR}` then `${@python}` until nothing
    /// changes, recording the variables referenced.
    pub fn expand_with_refs(
        self: &Rc<Self>,
        value: Option<Value>,
        varname: Option<&str>,
    ) -> Result<Expansion, DataError> {
        let mut out = Expansion { unexpanded: value.clone(), ..Expansion::default() };
        let Some(Value::Str(s)) = &value else {
            out.value = value;
            return Ok(out);
        };
        if !s.contains("${") {
            out.value = value;
            return Ok(out);
        }
        let depth = EXPANSION_DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let _depth = DepthGuard;
        if depth > MAX_EXPANSION_DEPTH {
            return Err(DataError::expansion(
                varname,
                Some(s),
                format!(
                    "expansions nested more than {MAX_EXPANSION_DEPTH} levels deep: expected a chain of \
                     variable references that ends"
                ),
            ));
        }
        if let Some(name) = varname {
            if self.expanding.borrow().iter().any(|v| &**v == name) {
                let mut chain: Vec<String> = self.expanding.borrow().iter().map(|v| v.to_string()).collect();
                let first = chain.iter().position(|v| v == name).unwrap_or(0);
                chain.drain(..first);
                chain.push(name.to_owned());
                return Err(DataError::expansion(
                    varname,
                    None,
                    format!("variable references itself through a cycle: {}", chain.join(" -> ")),
                ));
            }
            self.expanding.borrow_mut().push(name.into());
        }
        let result = self.expand_loop(s, varname, &mut out);
        if varname.is_some() {
            self.expanding.borrow_mut().pop();
        }
        out.value = Some(Value::str(result?));
        Ok(out)
    }

    fn expand_loop(
        self: &Rc<Self>,
        s: &str,
        varname: Option<&str>,
        record: &mut Expansion,
    ) -> Result<String, DataError> {
        let mut s = s.to_owned();
        while s.contains("${") {
            let olds = s.clone();
            // ${VAR}
            let mut out = String::with_capacity(s.len());
            let mut last = 0;
            let mut pos = 0;
            while let Some((a, b)) = next_var_ref(&s, pos) {
                let key = &s[a + 2..b - 1];
                if varname == Some(key) {
                    return Err(DataError::expansion(varname, Some(&s), format!("variable {key} references itself")));
                }
                record.references.insert(key.into());
                out.push_str(&s[last..a]);
                match self.get_var(key, true).map_err(|e| e.through(varname))? {
                    Some(v) => out.push_str(&v.to_string()),
                    None => out.push_str(&s[a..b]),
                }
                last = b;
                pos = b;
            }
            out.push_str(&s[last..]);
            s = out;
            // ${@python}
            if s.contains("${@") {
                let mut out = String::with_capacity(s.len());
                let mut last = 0;
                let mut pos = 0;
                let mut aborted = false;
                while let Some((a, b)) = next_python_ref(&s, pos) {
                    let code = &s[a + 3..b - 1];
                    out.push_str(&s[last..a]);
                    if next_var_ref(code, 0).is_some() {
                        out.push_str(&s[a..b]);
                    } else {
                        let Some(hooks) = self.hooks.clone() else {
                            out.push_str(&s[a..b]);
                            last = b;
                            pos = b;
                            continue;
                        };
                        if let Ok(deps) = hooks.python_deps(code, varname.unwrap_or("<expansion>")) {
                            record.references.extend(deps.references.iter().cloned());
                            record.execs.extend(deps.execs.iter().cloned());
                            for (k, v) in &deps.contains {
                                record.contains.entry(k.clone()).or_default().extend(v.iter().cloned());
                            }
                        }
                        match hooks.eval_inline(self, code, varname) {
                            Ok(InlineResult::Value(v)) => out.push_str(&v),
                            Ok(InlineResult::Unterminated) => {
                                aborted = true;
                                break;
                            }
                            Err(DataError::Python { message, .. }) => {
                                return Err(DataError::expansion(varname, Some(&s), message));
                            }
                            Err(e) => return Err(e.through(varname)),
                        }
                    }
                    last = b;
                    pos = b;
                }
                if !aborted {
                    out.push_str(&s[last..]);
                    s = out;
                }
            }
            if s == olds {
                break;
            }
        }
        Ok(s)
    }

    // ----- iteration -------------------------------------------------------------------

    /// Every variable name visible from this layer, sorted (BitBake's iteration order is
    /// that of a set; sorting makes ours reproducible).
    pub fn keys(self: &Rc<Self>) -> Result<Rc<Vec<Str>>, DataError> {
        let generation = WRITES.with(Cell::get);
        if let Some((g, keys)) = self.keys_cache.borrow().as_ref()
            && *g == generation
        {
            return Ok(keys.clone());
        }
        let ov = self.current_overrides()?;
        let mut override_keys: HashSet<Str> = HashSet::default();
        for (var, list) in self.overridedata.borrow().iter() {
            if list.iter().any(|(_, o)| Self::override_active(o, &ov)) {
                override_keys.insert(var.clone());
            }
        }
        let mut seen: HashSet<Str> = HashSet::default();
        let mut keys: Vec<Str> = Vec::new();
        let mut layer: Option<&DataStore> = Some(self);
        while let Some(l) = layer {
            for (k, v) in l.vars.borrow().iter() {
                if override_keys.contains(k) || !seen.insert(k.clone()) {
                    continue;
                }
                // An empty variable in a nearer layer hides the parents' (deleted).
                if !v.is_empty() {
                    keys.push(k.clone());
                }
            }
            layer = l.parent.as_deref();
        }
        keys.extend(override_keys);
        keys.sort_unstable();
        let keys = Rc::new(keys);
        // Reading overrides may have written (computing OVERRIDES); take the count now.
        let generation = WRITES.with(Cell::get);
        *self.keys_cache.borrow_mut() = Some((generation, keys.clone()));
        Ok(keys)
    }

    /// The names [`keys`](Self::keys) gives that contain `${`, sorted: what
    /// [`expand_keys`](Self::expand_keys) looks at, without merging and sorting every
    /// name of every layer (there are thousands; a handful contain `${`).
    fn keys_with_references(self: &Rc<Self>) -> Result<Vec<Str>, DataError> {
        let ov = self.current_overrides()?;
        let mut keys: BTreeSet<Str> = BTreeSet::new();
        for (var, list) in self.overridedata.borrow().iter() {
            if var.contains("${") && list.iter().any(|(_, o)| Self::override_active(o, &ov)) {
                keys.insert(var.clone());
            }
        }
        let mut seen: HashSet<Str> = HashSet::default();
        let mut layer: Option<&DataStore> = Some(self);
        while let Some(l) = layer {
            for (k, v) in l.vars.borrow().iter() {
                // The nearest layer decides: an empty variable there hides the parents'.
                if k.contains("${") && seen.insert(k.clone()) && !v.is_empty() {
                    keys.insert(k.clone());
                }
            }
            layer = l.parent.as_deref();
        }
        Ok(keys.into_iter().collect())
    }

    /// Variable names set in this layer only.
    pub fn local_keys(&self) -> Vec<Str> {
        let mut k: Vec<Str> = self.vars.borrow().keys().cloned().collect();
        k.sort();
        k
    }

    /// `bb.data.expandKeys`: rename variables whose names contain `${…}`.
    pub fn expand_keys(self: &Rc<Self>) -> Result<Vec<String>, DataError> {
        let mut todo: Vec<(Str, String)> = Vec::new();
        for key in self.keys_with_references()? {
            let ekey = self.expand(&key, None)?;
            if *key != *ekey {
                todo.push((key, ekey));
            }
        }
        todo.sort();
        let mut warnings = Vec::new();
        for (key, ekey) in todo {
            if let Some(newval) = self.get_var(&ekey, false)?
                && let Some(val) = self.get_var(&key, false)?
            {
                warnings.push(format!("variable key {key} ({val}) replaces original key {ekey} ({newval})"));
            }
            self.rename_var(&key, &ekey, None)?;
        }
        Ok(warnings)
    }

    /// `d.expandVarref(variable)`: replace `${variable}` by its value in every local value.
    pub fn expand_varref(self: &Rc<Self>, variable: &str) -> Result<(), DataError> {
        let reference = format!("${{{variable}}}");
        let value = self.get_var(variable, false)?.map(|v| v.to_string()).unwrap_or_default();
        for key in self.local_keys() {
            if let Some(Value::Str(s)) = self.get_var(&key, false)?
                && s.contains(&reference)
            {
                self.set_var(&key, Value::str(s.replace(&reference, &value)), false, None, "set")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
