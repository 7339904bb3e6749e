//! What a shell task runs, and what of it its hash leaves out.
//!
//! A shell task runs BitBake's run file (`run.do_TASK`): every exported variable, the
//! task's function and every shell function it reaches, then the task, under `set -e`.
//! The run file is written from the recipe's datastore as the sandbox sees it
//! ([`sandbox_view`]: `TMPDIR` and `DL_DIR` at their fixed inside paths, the host's
//! environment variables not exported) and becomes part of the task's derivation
//! ([`rstore_evaluator::derivation::Derivation::script`]). Beside it the derivation
//! records every variable and function the run file holds or references that its hash
//! does not cover, and why ([`unhashed`]): BB_BASEHASH_IGNORE_VARS,
//! `[vardepsexclude]`, `[vardepvalue]`/`[vardepvalueexclude]`, or BitBake's dependency
//! analysis not reaching it.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use rstore_evaluator::derivation::{Unhashed, UnhashedValue};

use crate::datastore::{DataError, DataStore, Read};
use crate::emit;
use crate::value::Value;
use crate::vardeps::RecipeDeps;

/// TMPDIR as tasks see it.
pub const TMPDIR_INSIDE: &str = "/rstore/tmp";
/// DL_DIR as tasks see it.
pub const DL_DIR_INSIDE: &str = "/rstore/downloads";

/// Host environment variables BitBake exports into tasks; rstore keeps them out.
const HOST_ENV_EXPORTS: [&str; 7] = ["HOME", "LOGNAME", "PWD", "SHELL", "USER", "BBSERVER", "BB_TASKHASH"];

/// A copy of a recipe's datastore as tasks see it in the sandbox.
pub fn sandbox_view(recipe: &Rc<DataStore>) -> Result<Rc<DataStore>, DataError> {
    let d = recipe.create_copy();
    d.set_var("TMPDIR", Value::str(TMPDIR_INSIDE), false, None, "set")?;
    d.set_var("DL_DIR", Value::str(DL_DIR_INSIDE), false, None, "set")?;
    for v in HOST_ENV_EXPORTS {
        d.del_var_flag(v, "export", None);
    }
    Ok(d)
}

/// A shell task's run file.
#[derive(Debug, Clone)]
pub struct RunFile {
    pub script: String,
    /// The variables and functions it defines, exports or unexports.
    pub names: BTreeSet<String>,
}

fn flag_list(d: &Rc<DataStore>, var: &str, flag: &str) -> Result<Vec<String>, DataError> {
    Ok(d.get_var_flag(var, flag, Read::EXPANDED)?
        .map(|v| v.to_string())
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

fn is_shell_func(d: &Rc<DataStore>, name: &str) -> Result<bool, DataError> {
    let func = d.get_var_flag(name, "func", Read::RAW)?.is_some_and(|v| v.truthy());
    let python = d.get_var_flag(name, "python", Read::RAW)?.is_some_and(|v| v.truthy());
    Ok(func && !python)
}

/// BitBake's task run file: exported variables, the task function and every shell
/// function it reaches, then the task, run with `set -e` (the engine creates the
/// task's `[dirs]` and enters the last one first).
pub fn run_file(d: &Rc<DataStore>, task: &str) -> Result<RunFile, DataError> {
    let mut out = String::from("#!/bin/sh\n# rstore task script\nset -e\n\n");
    let mut names = BTreeSet::new();
    for key in d.keys()?.iter() {
        if key.starts_with("__") || d.get_var_flag(key, "func", Read::RAW)?.is_some_and(|v| v.truthy()) {
            continue;
        }
        if let Some(text) = emit::emit_var(d, key, false)? {
            out.push_str(&text);
            names.insert(key.to_string());
        }
    }
    out.push('\n');
    // The task, its pre- and postfuncs and the shell functions they call, transitively.
    let mut pending: Vec<String> = vec![task.to_owned()];
    pending.extend(flag_list(d, task, "prefuncs")?);
    pending.extend(flag_list(d, task, "postfuncs")?);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut funcs: Vec<String> = Vec::new();
    while let Some(f) = pending.pop() {
        if !seen.insert(f.clone()) || !is_shell_func(d, &f)? {
            continue;
        }
        let body = d.get_str(&f)?.unwrap_or_default();
        pending.extend(crate::shell::executed_commands(&body));
        pending.extend(flag_list(d, &f, "vardeps")?);
        funcs.push(f);
    }
    funcs.sort();
    for f in &funcs {
        if let Some(text) = emit::emit_var(d, f, false)? {
            out.push_str(&text);
            out.push('\n');
            names.insert(f.clone());
        }
    }
    if let Some(umask) = d.get_var_flag(task, "umask", Read::EXPANDED)?.map(|v| v.to_string()) {
        out.push_str(&format!("umask {umask}\n"));
    }
    for f in flag_list(d, task, "prefuncs")? {
        if is_shell_func(d, &f)? {
            out.push_str(&format!("{f}\n"));
        }
    }
    out.push_str(&format!("{task}\n"));
    for f in flag_list(d, task, "postfuncs")? {
        if is_shell_func(d, &f)? {
            out.push_str(&format!("{f}\n"));
        }
    }
    Ok(RunFile { script: out, names })
}

/// Every variable and function the run file holds or references, directly or through
/// other values, that the task's hash does not cover as the task sees it: with its
/// value in `d` and the reason.
pub fn unhashed(
    d: &Rc<DataStore>,
    run: &RunFile,
    deps: &RecipeDeps,
    task: &str,
) -> Result<BTreeMap<String, UnhashedValue>, DataError> {
    let hashed: BTreeSet<&str> =
        std::iter::once(task).chain(deps.taskdeps.get(task).into_iter().flatten().map(|s| &**s)).collect();
    // Every name the run file reads: what it holds, and what their values reference
    // (with the name that referenced each first).
    let mut reads: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut pending: Vec<(String, Option<String>)> = run.names.iter().map(|n| (n.clone(), None)).collect();
    while let Some((name, via)) = pending.pop() {
        if reads.contains_key(&name) {
            continue;
        }
        let (_, parsed) = d.get_var_flag_parsed(&name, "_content", Read::RAW, true)?;
        if let Some(p) = parsed {
            for r in p.references.iter().map(|r| r.to_string()) {
                if !reads.contains_key(&r) {
                    pending.push((r, Some(name.clone())));
                }
            }
        }
        reads.insert(name, via);
    }
    // Which key's [vardepsexclude] excludes what.
    let mut excluded_by: BTreeMap<String, String> = BTreeMap::new();
    for key in hashed.iter().copied().chain(reads.keys().map(String::as_str)) {
        for name in flag_list(d, key, "vardepsexclude")? {
            excluded_by.entry(name).or_insert_with(|| key.to_owned());
        }
    }
    let mut out = BTreeMap::new();
    for (name, via) in &reads {
        let reason = if hashed.contains(name.as_str()) {
            // Hashed, but with another value than the task sees.
            match ["vardepvalue", "vardepvalueexclude"]
                .into_iter()
                .find(|f| d.get_var_flag(name, f, Read::RAW).ok().flatten().is_some())
            {
                Some(flag) => Unhashed::ValueReplaced { flag: flag.to_owned() },
                None => continue,
            }
        } else if deps.ignored.contains(name.as_str()) {
            Unhashed::IgnoredVar
        } else if let Some(by) = excluded_by.get(name) {
            Unhashed::Excluded { by: by.clone() }
        } else if let Some(via) = via.as_ref().filter(|v| !hashed.contains(v.as_str())) {
            Unhashed::Through { via: via.clone() }
        } else {
            Unhashed::NotReached
        };
        let value = match d.get_str(name) {
            Ok(v) => v,
            Err(e) => Some(format!("(expansion failed: {e})")),
        };
        out.insert(name.clone(), UnhashedValue { value, reason });
    }
    Ok(out)
}
