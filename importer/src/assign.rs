//! What an assignment statement does to a datastore (BitBake's `DataNode`).

use std::rc::Rc;

use crate::ast::{AssignOp, Assignment};
use crate::datastore::{DataError, DataStore, Origin, Read};
use crate::value::Value;

/// Apply one `VAR[flag] op "value"` statement.
pub fn apply(d: &Rc<DataStore>, a: &Assignment, origin: Option<&Origin>) -> Result<(), DataError> {
    let key = a.var.as_str();
    if a.export {
        d.set_var_flag(key, "export", Value::Int(1), origin, "exported")?;
    }
    // The current value as the operators see it: raw, no weak default, no overrides.
    let current = || -> Result<Option<String>, DataError> {
        let read = Read { expand: false, noweakdefault: true, parsing: a.flag.is_none() };
        let v = match &a.flag {
            Some(flag) => d.get_var_flag(key, flag, read)?,
            None => d.get_var_flag(key, "_content", read)?,
        };
        Ok(v.map(|v| v.to_string()))
    };
    let value = a.value.as_str();
    let (op, val): (&str, Value) = match a.op {
        AssignOp::Default => match current()? {
            Some(existing) => ("set?", Value::str(existing)),
            None => ("set?", Value::str(value)),
        },
        AssignOp::Immediate => ("immediate", Value::str(d.expand(value, Some(&format!("{key}[:=]")))?)),
        AssignOp::Append => ("append", Value::str(format!("{} {value}", current()?.unwrap_or_default()))),
        AssignOp::Prepend => ("prepend", Value::str(format!("{value} {}", current()?.unwrap_or_default()))),
        AssignOp::AppendDot => ("postdot", Value::str(format!("{}{value}", current()?.unwrap_or_default()))),
        AssignOp::PrependDot => ("predot", Value::str(format!("{value}{}", current()?.unwrap_or_default()))),
        AssignOp::Set | AssignOp::WeakDefault => ("set", Value::str(value)),
    };
    // `VAR[flag] ??=` is a weak default for the flag from BitBake 2.12; before, a plain `=`.
    let weak = a.op == AssignOp::WeakDefault && (a.flag.is_none() || d.bitbake().has_weak_flag_defaults());
    match (&a.flag, weak) {
        (Some(flag), true) => d.set_var_flag(key, &format!("_defaultval_flag_{flag}"), val, origin, op)?,
        (Some(flag), false) => d.set_var_flag(key, flag, val, origin, op)?,
        (None, true) => d.set_var_flag(key, "_defaultval", val, origin, op)?,
        (None, false) => d.set_var(key, val, true, origin, op)?,
    }
    // The history shows the value as written (`:append` and friends already record it).
    if origin.is_some() && (a.flag.is_some() || crate::datastore::split_keyword(key).is_none()) {
        d.amend_last_detail(key, value);
    }
    Ok(())
}
