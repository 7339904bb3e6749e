//! The request of the `prepare-sysroot` built-in (staging.bbclass).

use std::path::PathBuf;
use std::rc::Rc;

use rstore_evaluator::builtin::BuiltinRequest;
use rstore_evaluator::builtin::sysroot::{SysrootProvider, SysrootRequest};

use super::BuildContext;
use super::values::{as_seen_inside, fatal, path, relative, string};
use crate::datastore::{DataError, DataStore};

/// The task whose outputs a sysroot is made of.
pub const POPULATE_SYSROOT: &str = "do_populate_sysroot";

/// `do_prepare_recipe_sysroot`: every `do_populate_sysroot` output in `ctx.deps` (the
/// engine passes every one reachable below the task, as BitBake's walk of
/// `BB_TASKDEPDATA` finds them) except this recipe's own, sorted by PN; what each
/// staged is `${SYSROOT_DESTDIR}${SYSROOT_PREFIX}` of that recipe, relative to its
/// `WORKDIR` (read from its datastore in `ctx.recipes`).
pub fn prepare_sysroot_request(d: &Rc<DataStore>, ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let pn = string(d, "PN")?;
    let mut providers = Vec::new();
    for ((dep, task), output) in &ctx.deps {
        if task != POPULATE_SYSROOT || *dep == pn {
            continue;
        }
        let data = ctx.recipes.0.get(dep).ok_or_else(|| {
            fatal(
                d,
                &format!("the build context lacks the datastore of {dep}, which says where {dep} staged its files"),
            )
        })?;
        let view = as_seen_inside(d, data)?;
        let workdir = path(&view, "WORKDIR")?;
        let staged = PathBuf::from(view.expand("${SYSROOT_DESTDIR}${SYSROOT_PREFIX}", None)?);
        providers.push(SysrootProvider {
            name: dep.clone(),
            native: dep.ends_with("-native"),
            output: output.clone(),
            staged: relative(&view, &staged, &workdir, "${SYSROOT_DESTDIR}${SYSROOT_PREFIX}")?,
        });
    }
    Ok(BuiltinRequest::PrepareSysroot(SysrootRequest {
        recipe: pn,
        target_sysroot: path(d, "RECIPE_SYSROOT")?,
        native_sysroot: path(d, "RECIPE_SYSROOT_NATIVE")?,
        providers,
    }))
}
