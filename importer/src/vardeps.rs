//! Which variables and functions each task depends on, and their values: BitBake's
//! signature inputs (`bb.data.generate_dependencies`), computed the same way.
//!
//! For each task, the task's function is analysed: a Python function through its syntax
//! tree (literal `d.getVar("X")` reads, `bb.utils.contains` tests, called functions), a
//! shell function through the commands its expanded body runs plus the variables its
//! expansion references and the exported variables (a shell task sees them). Plain
//! variables contribute what their value references. `[vardeps]`, `[vardepsexclude]`,
//! `[vardepvalue]`, `[vardepvalueexclude]`, `[prefuncs]`, `[postfuncs]`, `[exports]`,
//! BB_BASEHASH_IGNORE_VARS, BB_SIGNATURE_EXCLUDE_FLAGS and BB_HASH_CODEPARSER_VALS are
//! honoured. Following every dependency transitively gives the task's variable set.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::datastore::{DataError, DataStore, Expansion, Read};
use crate::shell;
use crate::value::{Str, Value};

/// The analysis of one key (a variable, a function, or `VAR[flag]`).
#[derive(Debug, Clone, Default)]
pub struct KeyDeps {
    /// What the key depends on directly.
    pub deps: BTreeSet<Str>,
    /// The value that goes into signatures (None: unset).
    pub value: Option<String>,
}

/// Signature inputs of every task of one recipe.
#[derive(Debug, Clone, Default)]
pub struct RecipeDeps {
    pub tasks: Vec<String>,
    /// Every key analysed, with its direct dependencies and value.
    pub keys: FxHashMap<Str, KeyDeps>,
    /// Per task: every key it depends on, transitively (BitBake's `taskdeps`).
    pub taskdeps: BTreeMap<String, BTreeSet<Str>>,
    /// BB_BASEHASH_IGNORE_VARS.
    pub ignored: FxHashSet<Str>,
}

impl RecipeDeps {
    /// The task's inputs: (key, value) pairs, the task itself first, then every
    /// dependency sorted (BitBake's basehash data, before hashing).
    pub fn task_inputs(&self, task: &str) -> Vec<(String, Option<String>)> {
        let mut out = vec![(task.to_owned(), self.keys.get(task).and_then(|k| k.value.clone()))];
        for dep in self.taskdeps.get(task).into_iter().flatten() {
            out.push((dep.to_string(), self.keys.get(dep).and_then(|k| k.value.clone())));
        }
        out
    }
}

/// Module functions of layer libraries (`oe.utils.foo`), analysed by the Python side.
#[derive(Debug, Clone, Default)]
pub struct ModuleFunc {
    pub references: BTreeSet<String>,
    pub execs: BTreeSet<String>,
    pub contains: BTreeMap<String, BTreeSet<String>>,
    pub extra: Option<String>,
}

struct Ctx<'a> {
    d: &'a Rc<DataStore>,
    codeparser_d: Rc<DataStore>,
    keys: FxHashSet<Str>,
    module_funcs: &'a HashMap<String, ModuleFunc>,
    shelldeps: BTreeSet<Str>,
    flags_excluded: FlagExclusions,
    ignored: FxHashSet<Str>,
}

/// BB_SIGNATURE_EXCLUDE_FLAGS as the release reads it: a list of flag names, or (before
/// BitBake 2.19, except the 2.8 branch's last releases) a string a flag is excluded
/// from when its name occurs anywhere in it (so `func` is, inside `export_func`).
enum FlagExclusions {
    Words(FxHashSet<String>),
    Substrings(String),
}

impl FlagExclusions {
    fn read(d: &Rc<DataStore>) -> Result<FlagExclusions, DataError> {
        let text = d.get_str("BB_SIGNATURE_EXCLUDE_FLAGS")?.unwrap_or_default();
        Ok(if d.bitbake().excludes_signature_flags_by_word() {
            FlagExclusions::Words(text.split_whitespace().map(str::to_owned).collect())
        } else {
            FlagExclusions::Substrings(text)
        })
    }

    fn is_empty(&self) -> bool {
        match self {
            FlagExclusions::Words(w) => w.is_empty(),
            FlagExclusions::Substrings(s) => s.is_empty(),
        }
    }

    fn excludes(&self, flag: &str) -> bool {
        match self {
            FlagExclusions::Words(w) => w.contains(flag),
            FlagExclusions::Substrings(s) => s.contains(flag),
        }
    }
}

thread_local! {
    /// Commands run by each shell body seen (bodies repeat across recipes).
    static SHELL_CACHE: std::cell::RefCell<FxHashMap<String, Rc<BTreeSet<String>>>> = std::cell::RefCell::default();
}

fn shell_execs(body: &str) -> Rc<BTreeSet<String>> {
    if let Some(hit) = SHELL_CACHE.with(|c| c.borrow().get(body).cloned()) {
        return hit;
    }
    let e = Rc::new(shell::executed_commands(body));
    SHELL_CACHE.with(|c| c.borrow_mut().insert(body.to_owned(), e.clone()));
    e
}

fn flag_truthy(v: Option<&Value>) -> bool {
    v.is_some_and(Value::truthy)
}

/// Analyse every task of a finalised recipe datastore.
pub fn generate(d: &Rc<DataStore>, module_funcs: &HashMap<String, ModuleFunc>) -> Result<RecipeDeps, DataError> {
    let ignored: FxHashSet<Str> =
        d.get_str("BB_BASEHASH_IGNORE_VARS")?.unwrap_or_default().split_whitespace().map(Str::from).collect();
    let mut keys: FxHashSet<Str> = d.keys()?.iter().filter(|k| !k.starts_with("__")).cloned().collect();
    keys.extend(module_funcs.keys().map(|k| Str::from(k.as_str())));
    let mut shelldeps = BTreeSet::new();
    for key in d.get_var("__exportlist", false)?.map(|v| v.string_list()).unwrap_or_default() {
        let export = crate::truth::export_flag(d, &key, "export")?;
        let unexport = crate::truth::export_flag(d, &key, "unexport")?;
        if export && !unexport {
            shelldeps.insert(Str::from(key));
        }
    }
    let flags_excluded = FlagExclusions::read(d)?;
    let codeparser_d = d.create_copy();
    for forced in d.get_str("BB_HASH_CODEPARSER_VALS")?.unwrap_or_default().split_whitespace() {
        if let Some((k, v)) = forced.split_once('=') {
            codeparser_d.set_var(k, Value::str(v), false, None, "set")?;
        }
    }
    let ctx = Ctx { d, codeparser_d, keys, module_funcs, shelldeps, flags_excluded, ignored: ignored.clone() };
    let tasks = d.get_var("__BBTASKS", false)?.map(|v| v.string_list()).unwrap_or_default();
    let mut out = RecipeDeps { tasks: tasks.clone(), ignored, ..RecipeDeps::default() };
    for task in &tasks {
        let tkey = Str::from(task.as_str());
        if !out.keys.contains_key(&tkey) {
            let k = build(&ctx, &tkey)?;
            out.keys.insert(tkey.clone(), k);
        }
        let mut seen: FxHashSet<Str> = FxHashSet::default();
        let mut frontier: Vec<Str> = out.keys[&tkey].deps.iter().cloned().collect();
        while let Some(dep) = frontier.pop() {
            if !seen.insert(dep.clone()) {
                continue;
            }
            if !out.keys.contains_key(&dep) {
                let k = build(&ctx, &dep)?;
                out.keys.insert(dep.clone(), k);
            }
            frontier.extend(out.keys[&dep].deps.iter().filter(|d| !seen.contains(*d)).cloned());
        }
        out.taskdeps.insert(task.clone(), seen.into_iter().collect());
    }
    Ok(out)
}

fn handle_contains(
    ctx: &Ctx<'_>,
    value: Option<String>,
    contains: &BTreeMap<Str, BTreeSet<Str>>,
    exclusions: &[String],
) -> Result<String, DataError> {
    let mut out = String::new();
    if let Some(v) = value {
        out.push_str(&v);
    }
    for (k, items) in contains {
        if exclusions.iter().any(|e| **e == **k) || ctx.ignored.contains(&**k) {
            continue;
        }
        let current = ctx.d.get_str(k)?.unwrap_or_default();
        let words: Vec<&str> = current.split_whitespace().collect();
        for item in items {
            let set = item.split_whitespace().all(|w| words.contains(&w));
            out.push_str(&format!("\n{k}{{{item}}} = {}", if set { "Set" } else { "Unset" }));
        }
    }
    Ok(out)
}

fn handle_remove(
    ctx: &Ctx<'_>,
    mut value: String,
    deps: &mut BTreeSet<Str>,
    removes: &[Value],
    exclusions: &[String],
) -> Result<String, DataError> {
    let mut sorted: Vec<String> = removes.iter().map(|r| r.to_string()).collect();
    sorted.sort();
    for r in sorted {
        let e = ctx.d.expand_with_refs(Some(Value::str(r.as_str())), None)?;
        value.push_str(&format!("\n_remove of {r}"));
        deps.extend(e.references.iter().cloned());
        value = handle_contains(ctx, Some(value), &e.contains, exclusions)?;
    }
    Ok(value)
}

fn keyed_execs(ctx: &Ctx<'_>, execs: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<Str> {
    execs.into_iter().filter_map(|e| ctx.keys.get(e.as_ref()).cloned()).collect()
}

fn refs_of(e: &Expansion) -> impl Iterator<Item = Str> + '_ {
    e.references.iter().cloned()
}

/// BitBake's `build_dependencies` for one key.
fn build(ctx: &Ctx<'_>, key: &str) -> Result<KeyDeps, DataError> {
    if let Some(m) = ctx.module_funcs.get(key) {
        let contains: BTreeMap<Str, BTreeSet<Str>> = m
            .contains
            .iter()
            .map(|(k, v)| (Str::from(k.as_str()), v.iter().map(|s| Str::from(s.as_str())).collect()))
            .collect();
        let value = handle_contains(ctx, m.extra.clone(), &contains, &[])?;
        let mut deps: BTreeSet<Str> = m.references.iter().map(|r| Str::from(r.as_str())).collect();
        deps.extend(keyed_execs(ctx, &m.execs));
        deps.retain(|d| !ctx.ignored.contains(d));
        return Ok(KeyDeps { deps, value: Some(value) });
    }
    if let Some(inner) = key.strip_suffix(']')
        && let Some((var, flag)) = inner.split_once('[')
    {
        if flag == "vardepvalueexclude" {
            return Ok(KeyDeps { deps: BTreeSet::new(), value: Some(String::new()) });
        }
        let (value, parser) = ctx.d.get_var_flag_parsed(var, flag, Read::RAW, true)?;
        let mut deps: BTreeSet<Str> = BTreeSet::new();
        if let Some(p) = &parser {
            deps.extend(refs_of(p));
            deps.extend(keyed_execs(ctx, &p.execs));
        }
        deps.retain(|d| !ctx.ignored.contains(d));
        return Ok(KeyDeps { deps, value: value.map(|v| v.to_string()) });
    }

    let expand_flags =
        ["vardeps", "vardepvalue", "vardepsexclude", "exports", "postfuncs", "prefuncs", "lineno", "filename"];
    let flags: BTreeMap<String, Value> =
        ctx.d.get_var_flags(key, &expand_flags, false)?.unwrap_or_default().into_iter().collect();
    // A flag set to None reads as absent.
    let fstr = |name: &str| flags.get(name).filter(|v| !matches!(v, Value::None)).map(|v| v.to_string());
    let vardeps = fstr("vardeps");
    let exclusions: Vec<String> =
        fstr("vardepsexclude").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let mut deps: BTreeSet<Str> = BTreeSet::new();
    let mut value: Option<String>;

    if let Some(v) = flags.get("vardepvalue") {
        value = match v {
            Value::None => None,
            v => Some(v.to_string()),
        };
    } else if flag_truthy(flags.get("func")) {
        if flag_truthy(flags.get("python")) {
            let text = ctx.codeparser_d.get_var_flag(key, "_content", Read::RAW)?.map(|v| v.to_string());
            let mut contains = BTreeMap::new();
            if let Some(code) = text.as_deref().filter(|c| !c.trim().is_empty())
                && let Some(hooks) = ctx.d.hooks()
            {
                let parsed = hooks.python_deps(code, key)?;
                deps.extend(parsed.references.iter().cloned());
                deps.extend(keyed_execs(ctx, &parsed.execs));
                contains = parsed.contains.clone();
            }
            value = Some(handle_contains(ctx, text, &contains, &exclusions)?);
        } else {
            let (raw, parsed) = ctx.codeparser_d.get_var_flag_parsed(key, "_content", Read::RAW, true)?;
            let parsed = parsed.unwrap_or_default();
            let expanded = parsed.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
            let execs = shell_execs(&expanded);
            deps.extend(ctx.shelldeps.iter().cloned());
            deps.extend(refs_of(&parsed));
            deps.extend(keyed_execs(ctx, execs.iter()));
            deps.extend(keyed_execs(ctx, &parsed.execs));
            let mut v = handle_contains(ctx, raw.map(|v| v.to_string()), &parsed.contains, &exclusions)?;
            if !parsed.removes.is_empty() {
                v = handle_remove(ctx, v, &mut deps, &parsed.removes, &exclusions)?;
            }
            value = Some(v);
        }
        for flag in ["prefuncs", "postfuncs", "exports"] {
            if let Some(v) = fstr(flag) {
                deps.extend(v.split_whitespace().map(Str::from));
            }
        }
    } else {
        let (raw, parsed) = ctx.d.get_var_flag_parsed(key, "_content", Read::RAW, true)?;
        let parsed = parsed.unwrap_or_default();
        deps.extend(refs_of(&parsed));
        deps.extend(keyed_execs(ctx, &parsed.execs));
        let mut v = handle_contains(ctx, raw.map(|v| v.to_string()), &parsed.contains, &exclusions)?;
        if !parsed.removes.is_empty() {
            v = handle_remove(ctx, v, &mut deps, &parsed.removes, &exclusions)?;
        }
        value = Some(v);
    }

    if let Some(exclude) = fstr("vardepvalueexclude") {
        for excl in exclude.split('|') {
            if !excl.is_empty()
                && let Some(v) = value.as_mut()
            {
                *v = v.replace(excl, "");
            }
        }
    }
    if !ctx.flags_excluded.is_empty() {
        for f in flags.keys() {
            if !ctx.flags_excluded.excludes(f) {
                deps.insert(Str::from(format!("{key}[{f}]")));
            }
        }
    }
    deps.extend(vardeps.unwrap_or_default().split_whitespace().map(Str::from));
    for e in &exclusions {
        deps.remove(e.as_str());
    }
    deps.retain(|d| !ctx.ignored.contains(d));
    Ok(KeyDeps { deps, value })
}
