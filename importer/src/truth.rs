//! BitBake's two notions of truth, defined once.
//!
//! * **Python truthiness** ([`Value::truthy`]): what `if d.getVarFlag(task, "python"):`
//!   sees. Any non-empty string is true, `"0"` included. BitBake tests `func`, `python`,
//!   `noexec`, `fakeroot` and most task flags this way ([`flag_is_set`]).
//! * **`bb.utils.to_boolean`** ([`to_boolean`]): `y`, `yes`, `1`, `true` are true and
//!   `n`, `no`, `0`, `false` false, in any case; empty is no answer; anything else is
//!   an error. BitBake reads `export`, `unexport`, `[network]`, `BB_NO_NETWORK` and URL
//!   parameters such as `unpack` this way ([`flag_to_boolean`]).

use std::rc::Rc;

use crate::datastore::{DataError, DataStore, Read};
use crate::value::Value;

/// What `bb.utils.to_boolean` accepts, for error messages.
pub const BOOLEAN_SPELLINGS: &str = "expected y, yes, 1, true, n, no, 0 or false";

/// A value `bb.utils.to_boolean` rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for a boolean: {0:?} ({BOOLEAN_SPELLINGS})")]
pub struct InvalidBoolean(pub String);

/// `bb.utils.to_boolean`: `Ok(None)` for an empty string.
pub fn to_boolean(s: &str) -> Result<Option<bool>, InvalidBoolean> {
    if s.is_empty() {
        return Ok(None);
    }
    match s.to_lowercase().as_str() {
        "y" | "yes" | "1" | "true" => Ok(Some(true)),
        "n" | "no" | "0" | "false" => Ok(Some(false)),
        _ => Err(InvalidBoolean(s.to_owned())),
    }
}

/// `bb.utils.to_boolean` of a datastore value (None, `None` and `False` read as no
/// answer, integers as in Python).
pub fn value_to_boolean(v: Option<&Value>) -> Result<Option<bool>, InvalidBoolean> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Bool(b)) => Ok(b.then_some(true)),
        Some(Value::Int(i)) => Ok(Some(*i != 0)),
        Some(v) => to_boolean(&v.to_string()),
    }
}

/// Whether `var[flag]`, expanded, is true for `bb.utils.to_boolean`; an invalid value
/// counts as false, as BitBake's callers that catch the error treat it.
pub fn flag_to_boolean(d: &Rc<DataStore>, var: &str, flag: &str) -> Result<bool, DataError> {
    Ok(value_to_boolean(d.get_var_flag(var, flag, Read::EXPANDED)?.as_ref()).ok().flatten().unwrap_or(false))
}

/// Whether `var[export]` or `var[unexport]` is on: read with `bb.utils.to_boolean`
/// from BitBake 2.4, in Python's sense unexpanded before (so `"0"` exports there).
pub fn export_flag(d: &Rc<DataStore>, var: &str, flag: &str) -> Result<bool, DataError> {
    if d.bitbake().reads_export_flags_as_booleans() { flag_to_boolean(d, var, flag) } else { flag_is_set(d, var, flag) }
}

/// Whether `var[flag]` is set in Python's sense, unexpanded, as BitBake tests these
/// flags (`if d.getVarFlag(var, flag, False):`).
pub fn flag_is_set(d: &Rc<DataStore>, var: &str, flag: &str) -> Result<bool, DataError> {
    Ok(d.get_var_flag(var, flag, Read::RAW)?.is_some_and(|v| v.truthy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_boolean_is_bitbakes() {
        for s in ["1", "y", "Yes", "TRUE"] {
            assert_eq!(to_boolean(s), Ok(Some(true)), "{s}");
        }
        for s in ["0", "n", "No", "false"] {
            assert_eq!(to_boolean(s), Ok(Some(false)), "{s}");
        }
        assert_eq!(to_boolean(""), Ok(None));
        assert!(to_boolean("on").is_err());
        assert!(to_boolean("t").is_err());
        assert_eq!(value_to_boolean(Some(&Value::Int(2))), Ok(Some(true)));
        assert_eq!(value_to_boolean(Some(&Value::None)), Ok(None));
    }

    #[test]
    fn python_truthiness_takes_any_nonempty_string() {
        assert!(Value::str("0").truthy());
        assert!(!Value::str("").truthy());
        assert!(!Value::None.truthy());
    }
}
