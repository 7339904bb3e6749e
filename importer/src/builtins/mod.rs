//! Built-in task requests from recipe datastores: the BitBake side of the built-ins
//! (`rstore_evaluator::builtin`). Each `[rstore-builtin]` name maps to one function that
//! reads what the task needs from the datastore (whose TMPDIR and DL_DIR are the
//! sandbox's, see [`crate::build`]) and returns plain data.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use rstore_evaluator::builtin::BuiltinRequest;

use crate::datastore::{DataError, DataStore};

pub mod fetch;
pub mod image;
pub mod license;
pub mod package;
pub mod staging;
pub mod textwrap;
mod values;

/// What the engine knows when a built-in request is built.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// (PN, task) → inside path of that task's output tree (the dependency's WORKDIR as
    /// it was after that task), for the tasks this one depends on in other recipes.
    pub deps: BTreeMap<(String, String), PathBuf>,
    /// The host download cache (DL_DIR).
    pub downloads: PathBuf,
    /// The datastores of the recipes named in `deps`, by PN (their own TMPDIR is fine:
    /// they are read with this task's). `prepare-sysroot` needs each provider's, to
    /// find what it staged; `rootfs` uses them when present.
    pub recipes: Recipes,
}

/// Recipe datastores by PN.
#[derive(Clone, Default)]
pub struct Recipes(pub BTreeMap<String, Rc<DataStore>>);

impl std::fmt::Debug for Recipes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Tasks of other recipes a built-in reads beyond its direct dependencies: every task
/// of these names reachable below it in the task graph must be in
/// [`BuildContext::deps`] (and mounted). `prepare-sysroot` stages every
/// `do_populate_sysroot` reachable, as staging.bbclass walks `BB_TASKDEPDATA`.
pub fn transitive_inputs(name: &str) -> &'static [&'static str] {
    match name {
        "prepare-sysroot" => &[staging::POPULATE_SYSROOT],
        _ => &[],
    }
}

/// The request of the built-in `name` (the value of the task's `[rstore-builtin]`).
pub fn request(name: &str, d: &Rc<DataStore>, ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    match name {
        "fetch" => fetch::fetch_request(d, ctx),
        "unpack" => fetch::unpack_request(d, ctx),
        "patch" => fetch::patch_request(d, ctx),
        "prepare-sysroot" => staging::prepare_sysroot_request(d, ctx),
        "package" => package::package_request(d, ctx),
        "package-deb" => package::package_deb_request(d, ctx),
        "rootfs" => image::rootfs_request(d, ctx),
        "populate-lic" => license::populate_lic_request(d, ctx),
        _ => Err(DataError::Fatal(format!("the built-in task {name:?} is not available in this build of rstore"))),
    }
}
