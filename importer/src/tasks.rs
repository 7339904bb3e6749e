//! Task bookkeeping: `addtask`, `deltask` and the per-recipe task table BitBake builds at
//! the end of parsing (`bb.build.add_tasks`).

use std::rc::Rc;

use serde::Serialize;

use crate::datastore::{DataError, DataStore, Read};
use crate::value::Value;

/// `do_` is added to task names that lack it.
pub fn task_name(name: &str) -> String {
    if name.starts_with("do_") { name.to_owned() } else { format!("do_{name}") }
}

fn list_flag(d: &Rc<DataStore>, var: &str, flag: &str) -> Result<Vec<String>, DataError> {
    Ok(d.get_var_flag(var, flag, Read::RAW)?.map(|v| v.string_list()).unwrap_or_default())
}

fn tasks_list(d: &Rc<DataStore>) -> Result<Vec<String>, DataError> {
    Ok(d.get_var("__BBTASKS", false)?.map(|v| v.string_list()).unwrap_or_default())
}

/// `addtask TASK after A B before C`.
pub fn addtask(d: &Rc<DataStore>, task: &str, before: Option<&str>, after: Option<&str>) -> Result<(), DataError> {
    let task = task_name(task);
    d.set_var_flag(&task, "task", Value::Int(1), None, "set")?;
    let mut tasks = tasks_list(d)?;
    if !tasks.contains(&task) {
        tasks.push(task.clone());
    }
    d.set_var("__BBTASKS", Value::list_of_strs(tasks), false, None, "set")?;
    let mut existing = list_flag(d, &task, "deps")?;
    if let Some(after) = after {
        for entry in after.split_whitespace().map(task_name) {
            if !existing.contains(&entry) {
                existing.push(entry);
            }
        }
    }
    d.set_var_flag(&task, "deps", Value::list_of_strs(existing), None, "set")?;
    if let Some(before) = before {
        for entry in before.split_whitespace().map(task_name) {
            let existing = list_flag(d, &entry, "deps")?;
            if !existing.contains(&task) {
                let mut deps = vec![task.clone()];
                deps.extend(existing);
                d.set_var_flag(&entry, "deps", Value::list_of_strs(deps), None, "set")?;
            }
        }
    }
    Ok(())
}

/// `deltask TASK`: remove the task and every ordering edge that names it.
pub fn deltask(d: &Rc<DataStore>, task: &str) -> Result<(), DataError> {
    let task = task_name(task);
    let mut tasks = tasks_list(d)?;
    if let Some(pos) = tasks.iter().position(|t| *t == task) {
        tasks.remove(pos);
        d.del_var_flag(&task, "task", None);
        d.set_var("__BBTASKS", Value::list_of_strs(tasks), false, None, "set")?;
    }
    d.del_var_flag(&task, "deps", None);
    for other in tasks_list(d)? {
        let mut deps = list_flag(d, &other, "deps")?;
        if let Some(pos) = deps.iter().position(|t| *t == task) {
            deps.remove(pos);
            d.set_var_flag(&other, "deps", Value::list_of_strs(deps), None, "set")?;
        }
    }
    Ok(())
}

/// The flags BitBake records per task at the end of parsing.
pub const RECORDED_FLAGS: [&str; 11] = [
    "mcdepends",
    "depends",
    "rdepends",
    "deptask",
    "rdeptask",
    "recrdeptask",
    "recideptask",
    "nostamp",
    "fakeroot",
    "noexec",
    "umask",
];

/// One task of a parsed recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Task {
    pub name: String,
    /// Tasks of the same recipe this one runs after (the expanded `deps` flag).
    pub deps: Vec<String>,
    /// The expanded recorded flags that are set, in [`RECORDED_FLAGS`] order.
    pub flags: Vec<(String, String)>,
    /// The basehash of the task's derivation (blake3), when computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basehash: Option<rstore_store::Basehash>,
    /// The built-in rstore runs for it (the expanded `[rstore-builtin]` flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// Directories of its output published into shared areas (`[sstate-inputdirs]`
    /// under WORKDIR, over `[sstate-outputdirs]`, pairwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<rstore_evaluator::publish::Publication>,
}

impl Task {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `bb.build.add_tasks`: mark each task and collect its ordering and flags.
pub fn collect_tasks(d: &Rc<DataStore>) -> Result<Vec<Task>, DataError> {
    let mut out: Vec<Task> = Vec::new();
    for task in tasks_list(d)? {
        let task = d.expand(&task, None)?;
        d.set_var_flag(&task, "task", Value::Int(1), None, "set")?;
        let flags = d.get_var_flags(&task, &[], false)?.unwrap_or_default();
        let mut recorded = Vec::new();
        for name in RECORDED_FLAGS {
            if let Some((_, v)) = flags.iter().find(|(k, _)| k == name) {
                recorded.push((name.to_owned(), d.expand(&v.to_string(), None)?));
            }
        }
        let builtin = match flags.iter().find(|(k, _)| k == "rstore-builtin") {
            Some((_, v)) => Some(d.expand(&v.to_string(), None)?).filter(|b| !b.is_empty()),
            None => None,
        };
        let publish = publications(d, &flags)?;
        let mut deps = Vec::new();
        if let Some((_, v)) = flags.iter().find(|(k, _)| k == "deps") {
            for dep in v.string_list() {
                deps.push(d.expand(&dep, None)?);
            }
        }
        if let Some(existing) = out.iter_mut().find(|t| t.name == task) {
            existing.deps = deps;
            existing.flags = recorded;
            existing.builtin = builtin;
            existing.publish = publish;
        } else {
            out.push(Task { name: task, deps, flags: recorded, basehash: None, builtin, publish });
        }
    }
    Ok(out)
}

/// A task's `[sstate-inputdirs]` (which must lie under WORKDIR) paired with its
/// `[sstate-outputdirs]`.
fn publications(
    d: &Rc<DataStore>,
    flags: &[(String, Value)],
) -> Result<Vec<rstore_evaluator::publish::Publication>, DataError> {
    let get = |name: &str| -> Result<Vec<String>, DataError> {
        match flags.iter().find(|(k, _)| k == name) {
            Some((_, v)) => Ok(d.expand(&v.to_string(), None)?.split_whitespace().map(str::to_owned).collect()),
            None => Ok(Vec::new()),
        }
    };
    let (inputs, outputs) = (get("sstate-inputdirs")?, get("sstate-outputdirs")?);
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let workdir = d.get_str("WORKDIR")?.unwrap_or_default();
    let mut out = Vec::new();
    for (from, to) in inputs.iter().zip(&outputs) {
        if let Ok(rel) = std::path::Path::new(from).strip_prefix(&workdir) {
            out.push(rstore_evaluator::publish::Publication { from: rel.to_path_buf(), to: to.into() });
        }
    }
    Ok(out)
}
