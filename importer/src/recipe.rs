//! Parsing one recipe file into its variants, the way BitBake's `BBHandler.handle`,
//! `multi_finalize` and `finalize` do: evaluate the `.bb` over a copy of the
//! configuration, apply `.bbappend`s, then for the plain recipe and each BBCLASSEXTEND
//! variant run the deferred inherits, register event handlers, expand keys, run the
//! anonymous Python functions, and collect the task list.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::datastore::{DataError, DataStore, Read};
use crate::eval::{EvalError, Evaluator};
use crate::tasks::{self, Task};
use crate::value::Value;

/// One parsed variant of a recipe file.
pub struct Variant {
    /// `""` for the plain recipe, else `native`, `nativesdk`, `mcextend:foo`, …
    pub name: String,
    pub data: Rc<DataStore>,
    /// Why the variant is skipped, if it is.
    pub skipped: Option<String>,
    pub tasks: Vec<Task>,
}

impl Variant {
    /// BitBake's virtual file name: `virtual:native:/path/x.bb`.
    pub fn virtual_name(&self, file: &Path) -> String {
        if self.name.is_empty() {
            file.display().to_string()
        } else {
            format!("virtual:{}:{}", self.name, file.display())
        }
    }
}

fn data_err(file: &Path) -> impl Fn(DataError) -> EvalError + '_ {
    move |e| EvalError::from_data_unlocated(file, e)
}

/// Parse `file` (absolute) with its `.bbappend`s over the configuration `config`.
pub fn parse(
    eval: &Evaluator,
    config: &Rc<DataStore>,
    file: &Path,
    appends: &[PathBuf],
    layername: Option<&str>,
) -> Result<Vec<Variant>, EvalError> {
    let de = data_err(file);
    let d = config.create_copy();
    d.set_var("__BBMULTICONFIG", Value::str(""), false, None, "set").map_err(&de)?;
    if let Some(l) = layername
        && d.bitbake().sets_file_layername()
    {
        d.set_var("FILE_LAYERNAME", Value::str(l), false, None, "set").map_err(&de)?;
    }
    if d.bitbake().sets_recipe_file() {
        d.set_var("__BB_RECIPE_FILE", Value::str(file.display().to_string()), false, None, "set").map_err(&de)?;
    }
    if !appends.is_empty() {
        let list: Vec<String> = appends.iter().map(|a| a.display().to_string()).collect();
        d.set_var("__BBAPPEND", Value::str(list.join(" ")), false, None, "set").map_err(&de)?;
    }
    eval.note_dependency(file, true);
    let ast = eval.parse_file(file)?;
    d.set_var("FILE", Value::str(file.display().to_string()), false, None, "set").map_err(&de)?;
    match eval.eval_statements(&d, file, &ast, false) {
        Ok(()) => {}
        Err(EvalError::Skip(reason)) => {
            return Ok(vec![Variant { name: String::new(), data: d, skipped: Some(reason), tasks: Vec::new() }]);
        }
        Err(e) => return Err(e),
    }
    multi_finalize(eval, file, d)
}

fn multi_finalize(eval: &Evaluator, file: &Path, d: Rc<DataStore>) -> Result<Vec<Variant>, EvalError> {
    let de = data_err(file);
    let appends = d.get_str("__BBAPPEND").map_err(&de)?.unwrap_or_default();
    for append in appends.split_whitespace() {
        let p = PathBuf::from(append);
        eval.note_dependency(&p, true);
        eval.handle_include(&d, &p, false)?;
    }
    let safe = d;
    let main = safe.create_copy();
    let main_skip = finalize_or_skip(eval, file, &main, "")?;

    let mut variants =
        vec![Variant { name: String::new(), data: main.clone(), skipped: main_skip.0, tasks: main_skip.1 }];
    let extended = main.get_str("BBCLASSEXTEND").map_err(&de)?.unwrap_or_default();
    if !extended.trim().is_empty() {
        let pn = main.get_str("PN").map_err(&de)?.unwrap_or_default();
        safe.set_var("BBCLASSEXTEND", Value::str(extended.as_str()), false, None, "set").map_err(&de)?;
        for ext in extended.split_whitespace() {
            let parts: Vec<&str> = ext.splitn(3, ':').collect();
            let class = parts[0];
            let v = safe.create_copy();
            if parts.len() > 1 {
                v.set_var("BBEXTENDCURR", Value::str(class), false, None, "set").map_err(&de)?;
                v.set_var("BBEXTENDVARIANT", Value::str(parts[1]), false, None, "set").map_err(&de)?;
            } else {
                v.set_var("PN", Value::str(format!("{pn}-{ext}")), false, None, "set").map_err(&de)?;
            }
            crate::eval::inherit_defer(&v, class, &file.display().to_string(), 0).map_err(&de)?;
            let (skipped, tasks) = finalize_or_skip(eval, file, &v, ext)?;
            variants.push(Variant { name: ext.to_owned(), data: v, skipped, tasks });
        }
    }
    Ok(variants)
}

fn finalize_or_skip(
    eval: &Evaluator,
    file: &Path,
    d: &Rc<DataStore>,
    variant: &str,
) -> Result<(Option<String>, Vec<Task>), EvalError> {
    match eval.runtime.with_saved_handlers(|| finalize(eval, file, d, variant)) {
        Ok(tasks) => Ok((None, tasks)),
        Err(EvalError::Skip(reason)) => {
            d.set_var("__SKIPPED", Value::str(reason.as_str()), false, None, "set").map_err(data_err(file))?;
            Ok((Some(reason), Vec::new()))
        }
        Err(e) => Err(e),
    }
}

fn finalize(eval: &Evaluator, file: &Path, d: &Rc<DataStore>, _variant: &str) -> Result<Vec<Task>, EvalError> {
    let de = data_err(file);
    let renamed = d.renamed_variable_errors();
    if !renamed.is_empty() {
        return Err(EvalError::Other(renamed.join("\n")));
    }
    let fname = Value::str(file.display().to_string());
    let deferred = |d: &Rc<DataStore>| -> Result<Vec<Value>, DataError> {
        Ok(d.get_var("__BBDEFINHERITS", false)?.and_then(|v| v.as_list().map(<[Value]>::to_vec)).unwrap_or_default())
    };
    let names: Vec<Value> =
        deferred(d).map_err(&de)?.iter().filter_map(|t| t.as_list().and_then(|l| l.first().cloned())).collect();
    let names = if names.is_empty() { vec![Value::str("")] } else { names };
    if d.bitbake().defers_listed_classes() {
        eval.runtime
            .fire(d, "RecipePreDeferredInherits", vec![fname.clone(), Value::List(Rc::new(names))])
            .map_err(&de)?;
    }
    loop {
        let mut list = deferred(d).map_err(&de)?;
        if list.is_empty() {
            break;
        }
        let first = list.remove(0);
        d.set_var("__BBDEFINHERITS", Value::List(Rc::new(list)), false, None, "set").map_err(&de)?;
        let items = first.as_list().map(<[Value]>::to_vec).unwrap_or_default();
        let class = items.first().map(|v| v.to_string()).unwrap_or_default();
        let from = items.get(1).map(|v| v.to_string()).unwrap_or_default();
        let line = items.get(2).and_then(|v| if let Value::Int(i) = v { Some(*i as u32) } else { None }).unwrap_or(0);
        eval.inherit(d, &class, Path::new(&from), line, true)?;
    }
    crate::config::register_handlers(eval, d).map_err(|e| match e {
        // Name the recipe: a handler that is not defined has no location of its own.
        EvalError::Other(m) if !m.starts_with('/') => EvalError::Other(format!("{}: {m}", file.display())),
        other => other,
    })?;
    eval.runtime.fire(d, "RecipePreFinalise", vec![fname.clone()]).map_err(&de)?;
    for w in d.expand_keys().map_err(&de)? {
        eval.message(crate::python::LogLevel::Warn, w);
    }
    eval.runtime.fire(d, "RecipePostKeyExpansion", vec![fname.clone()]).map_err(&de)?;
    run_anon_funcs(eval, file, d)?;
    let tasklist = d.get_var("__BBTASKS", false).map_err(&de)?.map(|v| v.string_list()).unwrap_or_default();
    eval.runtime
        .fire(d, "RecipeTaskPreProcess", vec![fname.clone(), Value::list_of_strs(tasklist.clone())])
        .map_err(&de)?;
    if d.bitbake().remaps_virtual_recipe_providers() {
        virtual_recipe_providers(d, &tasklist).map_err(&de)?;
    }
    let tasks = tasks::collect_tasks(d).map_err(&de)?;
    eval.runtime.fire(d, "RecipeParsed", vec![fname]).map_err(&de)?;
    Ok(tasks)
}

fn run_anon_funcs(eval: &Evaluator, file: &Path, d: &Rc<DataStore>) -> Result<(), EvalError> {
    let funcs = d.get_var("__BBANONFUNCS", false).map_err(data_err(file))?.map(|v| v.string_list()).unwrap_or_default();
    if funcs.is_empty() {
        return Ok(());
    }
    let code: Vec<String> = funcs.iter().map(|f| format!("{f}(d)")).collect();
    eval.runtime.exec_in_context(&code.join("\n"), "<anonymous functions>", 0, Some(d)).map_err(|e| match e {
        DataError::SkipRecipe(r) => EvalError::Skip(r),
        // A Python error located in the recipe itself already names it.
        DataError::Python { message, .. } if message.starts_with(&format!("{}:", file.display())) => {
            EvalError::Other(message)
        }
        other => EvalError::Other(format!("{}: {other}", file.display())),
    })
}

/// BitBake's `handleVirtRecipeProviders`: replace BB_RECIPE_VIRTUAL_PROVIDERS entries in
/// DEPENDS and task `depends` by their preferred providers; every task gets a `depends`.
fn virtual_recipe_providers(d: &Rc<DataStore>, tasklist: &[String]) -> Result<(), DataError> {
    let depends = d.get_str("DEPENDS")?.unwrap_or_default();
    let virtprovs = d.get_str("BB_RECIPE_VIRTUAL_PROVIDERS")?.unwrap_or_default();
    let virtprovs: Vec<&str> = virtprovs.split_whitespace().collect();
    let mut newdeps = Vec::new();
    for dep in depends.split_whitespace() {
        if virtprovs.contains(&dep) {
            match d.get_str(&format!("PREFERRED_PROVIDER_{dep}"))? {
                Some(p) if !p.is_empty() => newdeps.push(p),
                _ => {
                    return Err(DataError::Fatal(format!(
                        "recipe virtual provider PREFERRED_PROVIDER_{dep} is not set"
                    )));
                }
            }
        } else {
            newdeps.push(dep.to_owned());
        }
    }
    d.set_var("DEPENDS", Value::str(newdeps.join(" ")), false, None, "set")?;
    for task in tasklist {
        let taskdeps = d.get_var_flag(task, "depends", Read::EXPANDED)?.map(|v| v.to_string()).unwrap_or_default();
        let mut remapped = Vec::new();
        for entry in taskdeps.split_whitespace() {
            let Some((r, t)) = entry.split_once(':') else {
                return Err(DataError::Fatal(format!("{task}[depends] entry {entry} must be RECIPE:TASK")));
            };
            let r = if virtprovs.contains(&r) {
                d.get_str(&format!("PREFERRED_PROVIDER_{r}"))?.unwrap_or_default()
            } else {
                r.to_owned()
            };
            remapped.push(format!("{r}:{t}"));
        }
        d.set_var_flag(task, "depends", Value::str(remapped.join(" ")), None, "set")?;
    }
    Ok(())
}
