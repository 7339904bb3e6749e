//! `calculate_extra_depends`: a recipe's Python function that adds build-time names to
//! its `DEPENDS` when the task graph brings it in (openembedded-core's
//! `meta-world-pkgdata` depends on every `world` recipe this way). It runs as BitBake
//! runs it: a function of `deps` (the list to extend), `world_target`, `pkg_pn` (PN →
//! recipe files) and `self_pn`.

use std::collections::BTreeMap;
use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet};

use crate::providers::ProviderIndex;

/// Run `body` for recipe `pn` and return `deps` as it left them.
pub(super) fn calculate(
    body: &str,
    pn: &str,
    deps: Vec<String>,
    world: &[String],
    index: &ProviderIndex<'_>,
) -> Result<Vec<String>, ExtraDependsError> {
    let name: String = pn.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    let name = format!("_{name}_calculate_extra_depends");
    let source = format!(
        "def {name}(deps, world_target, pkg_pn, self_pn):\n{body}\n\n{name}(deps, world_target, pkg_pn, self_pn)\n"
    );
    let source = CString::new(source).map_err(|_| ExtraDependsError::Nul)?;
    let mut pkg_pn: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (p, ids) in index.by_pn() {
        pkg_pn.insert(p, ids.iter().map(|&id| index.recipe(id).target).collect());
    }
    Python::attach(|py| -> PyResult<Vec<String>> {
        let globals = PyDict::new(py);
        let list = PyList::new(py, &deps)?;
        let by_pn = PyDict::new(py);
        for (p, files) in &pkg_pn {
            by_pn.set_item(p, PyList::new(py, files)?)?;
        }
        globals.set_item("deps", &list)?;
        globals.set_item("world_target", PySet::new(py, world)?)?;
        globals.set_item("pkg_pn", by_pn)?;
        globals.set_item("self_pn", pn)?;
        py.run(&source, Some(&globals), None)?;
        list.extract()
    })
    .map_err(|e| ExtraDependsError::Python(e.to_string()))
}

/// Why a recipe's `calculate_extra_depends` failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExtraDependsError {
    #[error("the function contains a NUL character")]
    Nul,
    /// The exception it raised, formatted.
    #[error("{0}")]
    Python(String),
}
