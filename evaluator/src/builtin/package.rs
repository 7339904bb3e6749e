//! The `package` built-in (package.bbclass `do_package`): split what `do_install`
//! left in `${D}` into one directory per package under `${PKGDEST}`.
//!
//! `${D}` is first copied to `${PKGD}` (so `${D}` stays as `do_install` left it). Then,
//! for each package in `PACKAGES` order and each of its `FILES` patterns in order, every
//! path the pattern matches (see [`glob`]) moves to `${PKGDEST}/<package>/` at the same
//! place: the first package whose pattern matches a path takes it, with everything
//! below it. A file left in `${PKGD}` afterwards is in no package: that is an error
//! listing every such file, so nothing installed is lost silently.

pub mod glob;
pub mod tree;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use tree::{FileCopy, TreeError};

/// The `package` request: paths inside the sandbox and the expanded `FILES` lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRequest {
    /// The recipe (PN), for messages.
    pub recipe: String,
    /// `${D}`: what `do_install` installed.
    pub image: PathBuf,
    /// `${PKGD}`: the copy of `${D}` that is split.
    pub pkgd: PathBuf,
    /// `${PKGDEST}`: one directory per package is made here.
    pub pkgdest: PathBuf,
    /// `PACKAGES` in priority order, each with its `FILES:<package>` patterns.
    pub packages: Vec<PackageFiles>,
}

/// One package and the patterns of the paths it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageFiles {
    pub name: String,
    /// Absolute shell patterns (`/usr/lib/lib*.so.*`); a directory takes everything below.
    pub files: Vec<String>,
}

/// Why splitting into packages failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("FILES:{package}: {pattern} is not an absolute path")]
    RelativePattern { package: String, pattern: String },
    #[error("{recipe}: these installed files are in no package (add them to a FILES:<package>):\n  {}", files.join("\n  "))]
    Unpackaged { recipe: String, files: Vec<String> },
    #[error("copying {} to {}", from.display(), to.display())]
    CopyImage {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: TreeError,
    },
    #[error("moving the files of {pattern} into package {package}")]
    Split {
        package: String,
        pattern: String,
        #[source]
        source: TreeError,
    },
    #[error("looking for files no package took")]
    Leftovers(#[source] TreeError),
}

/// Split `${D}` into packages.
pub fn run(request: &PackageRequest, log: &mut dyn Write) -> Result<(), PackageError> {
    if request.image.is_dir() {
        tree::copy_tree(&request.image, &request.pkgd, FileCopy::LinkOrCopy).map_err(|source| {
            PackageError::CopyImage { from: request.image.clone(), to: request.pkgd.clone(), source }
        })?;
    } else {
        tree::make_dirs(&request.pkgd).map_err(|source| PackageError::CopyImage {
            from: request.image.clone(),
            to: request.pkgd.clone(),
            source,
        })?;
    }
    for package in &request.packages {
        let root = request.pkgdest.join(&package.name);
        let split = |pattern: &str, source| PackageError::Split {
            package: package.name.clone(),
            pattern: pattern.to_owned(),
            source,
        };
        tree::make_dirs(&root).map_err(|e| split("", e))?;
        let mut taken = 0usize;
        for pattern in &package.files {
            if !pattern.starts_with('/') {
                return Err(PackageError::RelativePattern { package: package.name.clone(), pattern: pattern.clone() });
            }
            for path in glob::glob(&request.pkgd, pattern).map_err(|e| split(pattern, e))? {
                let relative = path.strip_prefix(&request.pkgd).expect("glob results are below the root");
                let target = root.join(relative);
                if let Some(parent) = target.parent() {
                    tree::make_dirs(parent).map_err(|e| split(pattern, e))?;
                }
                tree::move_path(&path, &target).map_err(|e| split(pattern, e))?;
                taken += 1;
            }
        }
        let _ = writeln!(log, "NOTE: {}: {taken} path(s) matched", package.name);
    }
    let leftovers = unpackaged(&request.pkgd).map_err(PackageError::Leftovers)?;
    if !leftovers.is_empty() {
        return Err(PackageError::Unpackaged { recipe: request.recipe.clone(), files: leftovers });
    }
    Ok(())
}

/// Every non-directory entry below `pkgd`, as an absolute path on the device.
fn unpackaged(pkgd: &Path) -> Result<Vec<String>, TreeError> {
    let mut out = Vec::new();
    for entry in tree::walk(pkgd)? {
        if !entry.is_dir() {
            out.push(format!("/{}", entry.relative.display()));
        }
    }
    Ok(out)
}
