//! The request of the `rootfs` built-in (image.bbclass `do_rootfs`).

use std::rc::Rc;

use rstore_evaluator::builtin::BuiltinRequest;
use rstore_evaluator::builtin::rootfs::RootfsRequest;

use super::BuildContext;
use super::values::{as_seen_inside, path, relative, string, words};
use crate::datastore::{DataError, DataStore};

/// The task whose outputs hold the packages.
pub const PACKAGE_WRITE_DEB: &str = "do_package_write_deb";

/// `do_rootfs`: the packages are in the outputs of the `do_package_write_deb` tasks in
/// `ctx.deps` (`do_rootfs[recrdeptask]` makes every one of the run-time closure a
/// direct dependency), each in its recipe's `${DEB_DEPLOYDIR}`. That directory is
/// read from the recipe's datastore when `ctx.recipes` has it, else it is taken to be
/// where the image's own `DEB_DEPLOYDIR` is relative to its `WORKDIR` (the class
/// default, `deploy-debs`).
pub fn rootfs_request(d: &Rc<DataStore>, ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let own = relative(d, &path(d, "DEB_DEPLOYDIR")?, &path(d, "WORKDIR")?, "DEB_DEPLOYDIR")?;
    let mut feeds = Vec::new();
    for ((dep, task), output) in &ctx.deps {
        if task != PACKAGE_WRITE_DEB {
            continue;
        }
        let rel = match ctx.recipes.0.get(dep) {
            Some(data) => {
                let view = as_seen_inside(d, data)?;
                relative(&view, &path(&view, "DEB_DEPLOYDIR")?, &path(&view, "WORKDIR")?, "DEB_DEPLOYDIR")?
            }
            None => own.clone(),
        };
        feeds.push(output.join(rel));
    }
    let manifest = path(d, "IMGDEPLOYDIR")?.join(format!("{}.manifest", string(d, "IMAGE_NAME")?));
    Ok(BuiltinRequest::Rootfs(RootfsRequest {
        image: string(d, "PN")?,
        feeds,
        install: words(d, "IMAGE_INSTALL")?,
        rootfs: path(d, "IMAGE_ROOTFS")?,
        dirs: words(d, "ROOTFS_DIRS")?,
        manifest,
    }))
}
