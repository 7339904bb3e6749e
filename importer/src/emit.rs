//! Writing a datastore out as shell-like text, the way `bitbake -e` does.

use std::fmt::Write as _;
use std::rc::Rc;

use crate::datastore::{DataError, DataStore, HistoryEvent};
use crate::truth::{export_flag, flag_is_set};
use crate::value::Value;

/// The history of a variable with the history of its `VAR:override` forms, each
/// marked `override[o]:op` (what `bitbake -e` and `bitbake-getvar` show).
pub fn full_history(d: &Rc<DataStore>, var: &str) -> Vec<HistoryEvent> {
    let mut out = d.history(var);
    for (form, o) in d.override_forms(var) {
        for mut ev in d.history(&form) {
            if ev.flag.as_deref().is_some_and(|f| !f.starts_with('_') && !f.starts_with(':')) {
                continue;
            }
            ev.op = format!("override[{o}]:{}", ev.op);
            out.push(ev);
        }
    }
    out
}

/// The history of a variable as comment lines.
pub fn history_comment(var: &str, history: &[HistoryEvent], raw: Option<&Value>) -> String {
    let mut o = String::new();
    if history.is_empty() {
        let _ = writeln!(o, "#\n# ${var}\n#   [no history recorded]\n#");
    } else {
        if history.len() == 1 {
            let _ = writeln!(o, "#\n# ${var}");
        } else {
            let _ = writeln!(o, "#\n# ${var} [{} operations]", history.len());
        }
        for ev in history {
            let flag = ev.flag.as_ref().map(|f| format!("[{f}] ")).unwrap_or_default();
            let detail = ev.detail.replace('\n', "\n#     ");
            let _ = writeln!(o, "#   {} {}:{}\n#     {flag}\"{detail}\"", ev.op, ev.file, ev.line);
        }
        if history.len() > 1 {
            let raw = raw.map(|v| v.to_string()).unwrap_or_default().replace('\n', "\n#");
            let _ = writeln!(o, "# pre-expansion value:\n#   \"{raw}\"");
        }
    }
    o
}

/// One variable as `bitbake -e` writes it (None when it writes nothing).
pub fn emit_var(d: &Rc<DataStore>, var: &str, all: bool) -> Result<Option<String>, DataError> {
    let func = flag_is_set(d, var, "func")?;
    if func && flag_is_set(d, var, "python")? {
        return Ok(None);
    }
    let export = export_flag(d, var, "export")?;
    let unexport = export_flag(d, var, "unexport")?;
    if !all && !export && !unexport && !func {
        return Ok(None);
    }
    let raw = d.get_var(var, false)?;
    let val = match d.get_var(var, true) {
        Ok(v) => v,
        Err(e) => return Ok(Some(format!("# expansion of {var} threw: {e}\n"))),
    };
    let mut o = String::new();
    if all {
        o.push_str(&history_comment(var, &full_history(d, var), raw.as_ref()));
    }
    if var.contains(['-', '.', '{', '}', '+']) && !all {
        return Ok(Some(o));
    }
    let name = d.expand(var, None)?;
    if unexport {
        let _ = writeln!(o, "unset {name}");
        return Ok(Some(o));
    }
    let Some(val) = val else { return Ok(Some(o)) };
    let val = val.to_string();
    if func {
        let _ = writeln!(o, "{name}() {{\n{}\n}}", val.trim_end_matches('\n'));
        return Ok(Some(o));
    }
    if export {
        o.push_str("export ");
    }
    let escaped = val.replace('"', "\\\"").replace('`', "\\`").replace('\n', " \\\n").replace('$', "\\$");
    let _ = writeln!(o, "{name}=\"{escaped}\"");
    Ok(Some(o))
}

/// The whole datastore: variables first, then shell functions, each sorted by name.
pub fn emit_env(d: &Rc<DataStore>, all: bool) -> Result<String, DataError> {
    let mut vars = Vec::new();
    let mut funcs = Vec::new();
    for key in d.keys()?.iter().cloned() {
        if key.starts_with("__") {
            continue;
        }
        if flag_is_set(d, &key, "func")? { funcs.push(key) } else { vars.push(key) }
    }
    let mut out = String::new();
    for (keys, is_func) in [(vars, false), (funcs, true)] {
        for key in keys {
            if let Some(s) = emit_var(d, &key, all && !is_func)? {
                out.push_str(&s);
                out.push('\n');
            }
        }
    }
    Ok(out)
}
