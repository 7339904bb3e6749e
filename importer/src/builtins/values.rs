//! Reading the values the packaging, image and license built-ins need from a datastore.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::datastore::{DataError, DataStore};

/// A variable's expanded value, empty when unset.
pub fn string(d: &Rc<DataStore>, var: &str) -> Result<String, DataError> {
    Ok(d.get_str(var)?.unwrap_or_default())
}

/// `d.getVar(a) or d.getVar(b)`: the first non-empty value.
pub fn first_set(d: &Rc<DataStore>, vars: &[&str]) -> Result<String, DataError> {
    for var in vars {
        let v = string(d, var)?;
        if !v.is_empty() {
            return Ok(v);
        }
    }
    Ok(String::new())
}

/// A variable that must name a path.
pub fn path(d: &Rc<DataStore>, var: &str) -> Result<PathBuf, DataError> {
    let v = string(d, var)?;
    if v.trim().is_empty() {
        return Err(fatal(d, &format!("{var} is empty")));
    }
    Ok(PathBuf::from(v.trim()))
}

/// A whitespace-separated list.
pub fn words(d: &Rc<DataStore>, var: &str) -> Result<Vec<String>, DataError> {
    Ok(string(d, var)?.split_whitespace().map(str::to_owned).collect())
}

/// An error about this recipe, naming it.
pub fn fatal(d: &Rc<DataStore>, message: &str) -> DataError {
    let pn = d.get_str("PN").ok().flatten().unwrap_or_default();
    DataError::Fatal(format!("{pn}: {message}"))
}

/// `SOURCE_DATE_EPOCH` as a number of seconds.
pub fn source_date_epoch(d: &Rc<DataStore>) -> Result<u64, DataError> {
    let v = string(d, "SOURCE_DATE_EPOCH")?;
    v.trim().parse().map_err(|_| fatal(d, &format!("SOURCE_DATE_EPOCH {v:?} is not a number of seconds")))
}

/// `path` relative to `base` (both absolute), or an error naming `what`.
pub fn relative(d: &Rc<DataStore>, path: &Path, base: &Path, what: &str) -> Result<PathBuf, DataError> {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .map_err(|_| fatal(d, &format!("{what} ({}) is not inside WORKDIR ({})", path.display(), base.display())))
}

/// A dependency's datastore as this task's sandbox sees it: with this task's `TMPDIR`
/// and `DL_DIR`, so that its paths are the inside paths its own tasks used.
pub fn as_seen_inside(d: &Rc<DataStore>, dep: &Rc<DataStore>) -> Result<Rc<DataStore>, DataError> {
    let view = dep.create_copy();
    for var in ["TMPDIR", "DL_DIR"] {
        if let Some(value) = d.get_var(var, false)? {
            view.set_var(var, value, false, None, "set")?;
        }
    }
    Ok(view)
}
