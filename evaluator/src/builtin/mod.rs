//! Built-in tasks: the jobs rstore does itself instead of running a shell function
//! (fetch, unpack, patch, staging sysroots, packaging, image assembly, licenses).
//!
//! A built-in task is a pure function of its request: plain data built from the
//! recipe by the importer, holding paths *inside the task sandbox*. The realisation
//! engine runs it inside the sandbox like any task, as `rstore __builtin` reading the
//! request as JSON on standard input, with the request's [`Bind`]s mounted; the
//! outcome is what the task leaves in its work directory.

pub mod deb;
pub mod fetch;
pub mod license;
pub mod package;
pub mod patch;
pub mod rootfs;
pub mod sysroot;
pub mod unpack;

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A host path a built-in needs inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub host: PathBuf,
    pub inside: PathBuf,
    pub writable: bool,
}

/// Every built-in task and its request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "builtin", rename_all = "kebab-case")]
pub enum BuiltinRequest {
    /// Placeholder until the built-ins land.
    Noop,
    /// Fetch SRC_URI into the download cache and `${WORKDIR}/rstore-fetched`.
    Fetch(fetch::FetchRequest),
    /// Extract or copy what was fetched into UNPACKDIR.
    Unpack(unpack::UnpackRequest),
    /// Apply the recipe's patches in S.
    Patch(patch::PatchRequest),
    /// Stage the build dependencies' sysroots (`do_prepare_recipe_sysroot`).
    PrepareSysroot(sysroot::SysrootRequest),
    /// Split `${D}` into packages (`do_package`).
    Package(package::PackageRequest),
    /// Write each package as a `.deb` (`do_package_write_deb`).
    PackageDeb(deb::DebRequest),
    /// Assemble an image's root file system from packages (`do_rootfs`).
    Rootfs(rootfs::RootfsRequest),
    /// Check `LIC_FILES_CHKSUM` and collect the license texts (`do_populate_lic`).
    PopulateLic(license::LicenseRequest),
}

impl BuiltinRequest {
    /// The host paths the request needs mounted.
    pub fn binds(&self) -> Vec<Bind> {
        match self {
            BuiltinRequest::Noop => Vec::new(),
            BuiltinRequest::Fetch(r) => r.binds.clone(),
            BuiltinRequest::Unpack(_) | BuiltinRequest::Patch(_) => Vec::new(),
            BuiltinRequest::PopulateLic(r) => r.binds(),
            BuiltinRequest::PrepareSysroot(_)
            | BuiltinRequest::Package(_)
            | BuiltinRequest::PackageDeb(_)
            | BuiltinRequest::Rootfs(_) => Vec::new(),
        }
    }

    /// Whether the task needs the network (only fetching does).
    pub fn network(&self) -> bool {
        matches!(self, BuiltinRequest::Fetch(_))
    }
}

/// Why a built-in task failed (its log says more).
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Unpack(#[from] unpack::UnpackError),
    #[error(transparent)]
    Patch(#[from] patch::PatchError),
    #[error(transparent)]
    Sysroot(#[from] sysroot::SysrootError),
    #[error(transparent)]
    Package(#[from] package::PackageError),
    #[error(transparent)]
    Deb(#[from] deb::DebError),
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    License(#[from] license::LicenseError),
}

/// Run a built-in task, writing what it does to `log`.
pub fn run(request: &BuiltinRequest, log: &mut dyn Write) -> Result<(), BuiltinError> {
    match request {
        BuiltinRequest::Noop => {
            let _ = writeln!(log, "nothing to do");
            Ok(())
        }
        BuiltinRequest::Fetch(r) => Ok(fetch::run(r, &mut fetch::LogReporter::new(log))?),
        BuiltinRequest::Unpack(r) => Ok(unpack::run(r, log)?),
        BuiltinRequest::Patch(r) => Ok(patch::run(r, log)?),
        BuiltinRequest::PrepareSysroot(r) => Ok(sysroot::run(r, log)?),
        BuiltinRequest::Package(r) => Ok(package::run(r, log)?),
        BuiltinRequest::PackageDeb(r) => Ok(deb::run(r, log).map(drop)?),
        BuiltinRequest::Rootfs(r) => Ok(rootfs::run(r, log)?),
        BuiltinRequest::PopulateLic(r) => Ok(license::run(r, log)?),
    }
}
