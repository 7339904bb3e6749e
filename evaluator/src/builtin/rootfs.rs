//! The `rootfs` built-in (image.bbclass `do_rootfs`): assemble an image's root file
//! system from packages.
//!
//! 1. Every `.deb` in `<feed>/<arch>/` of every feed (the outputs of the
//!    `do_package_write_deb` tasks the image depends on) is read; a package name
//!    offered twice is an error naming both files.
//! 2. The packages to install are `IMAGE_INSTALL` and, recursively, what their
//!    `Depends`/`Pre-Depends` name, with version constraints checked as dpkg would; a
//!    missing package is an error naming it and the package that wanted it.
//! 3. `ROOTFS_DIRS` are created (`tmp` with mode 1777), then each package's data is
//!    unpacked in name order (see [`extract`]), and the dpkg database is written (see
//!    [`dpkg_db`]) together with the image manifest, one `name arch version` line per
//!    package, sorted.

pub mod dpkg_db;
pub mod extract;
pub mod resolve;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::deb::read::{DebFile, DebReadError};
use super::package::tree::{self, TreeError};
use resolve::{Candidate, DependsError, ResolveError};

/// The `rootfs` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsRequest {
    /// The image recipe (PN), for messages.
    pub image: String,
    /// Directories holding `<arch>/*.deb` (each dependency's `${DEB_DEPLOYDIR}`).
    pub feeds: Vec<PathBuf>,
    /// `IMAGE_INSTALL`.
    pub install: Vec<String>,
    /// `${IMAGE_ROOTFS}`.
    pub rootfs: PathBuf,
    /// `ROOTFS_DIRS`: directories every image gets, relative to the root.
    pub dirs: Vec<String>,
    /// Where the manifest of installed packages is written.
    pub manifest: PathBuf,
}

/// Why the root file system could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("listing the packages in {}", dir.display())]
    Feed {
        dir: PathBuf,
        #[source]
        source: TreeError,
    },
    #[error(transparent)]
    Read(#[from] DebReadError),
    #[error("package {package} is offered twice: {} and {}", first.display(), second.display())]
    Duplicate { package: String, first: PathBuf, second: PathBuf },
    #[error("{}: package {package}: bad Depends", path.display())]
    Depends {
        package: String,
        path: PathBuf,
        #[source]
        source: DependsError,
    },
    #[error("{image}: the packages to install cannot be determined")]
    Resolve {
        image: String,
        #[source]
        source: ResolveError,
    },
    #[error("ROOTFS_DIRS entry {0:?} is not a relative path inside the image")]
    BadDir(String),
    #[error(transparent)]
    Extract(#[from] extract::ExtractError),
    #[error(transparent)]
    Database(#[from] dpkg_db::DbError),
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Assemble the root file system.
pub fn run(request: &RootfsRequest, log: &mut dyn Write) -> Result<(), RootfsError> {
    let mut available: BTreeMap<String, DebFile> = BTreeMap::new();
    for feed in &request.feeds {
        for deb in feed_debs(feed)? {
            let file = DebFile::open(&deb)?;
            let name = file.package().to_owned();
            if let Some(first) = available.get(&name) {
                return Err(RootfsError::Duplicate { package: name, first: first.path.clone(), second: deb });
            }
            available.insert(name, file);
        }
    }
    let mut candidates = BTreeMap::new();
    for (name, deb) in &available {
        let mut depends = Vec::new();
        for field in ["Pre-Depends", "Depends"] {
            let text = deb.control.get(field).unwrap_or_default();
            depends.extend(resolve::parse_depends(text).map_err(|source| RootfsError::Depends {
                package: name.clone(),
                path: deb.path.clone(),
                source,
            })?);
        }
        candidates.insert(name.clone(), Candidate { version: deb.version().to_owned(), depends });
    }
    let install = resolve::closure(&candidates, &request.install)
        .map_err(|source| RootfsError::Resolve { image: request.image.clone(), source })?;

    let write_err = |path: &PathBuf| {
        let path = path.clone();
        move |source| RootfsError::Write { path, source }
    };
    fs::create_dir_all(&request.rootfs).map_err(write_err(&request.rootfs))?;
    for dir in &request.dirs {
        let relative = std::path::Path::new(dir);
        if dir.is_empty()
            || relative.is_absolute()
            || relative.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(RootfsError::BadDir(dir.clone()));
        }
        let path = request.rootfs.join(relative);
        fs::create_dir_all(&path).map_err(write_err(&path))?;
    }
    let tmp = request.rootfs.join("tmp");
    if tmp.is_dir() {
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).map_err(write_err(&tmp))?;
    }

    let mut extractor = extract::Extractor::new(&request.rootfs);
    let mut installed = Vec::new();
    let mut manifest = String::new();
    for name in &install {
        let deb = available.get_mut(name).expect("the closure only names available packages");
        let _ = writeln!(log, "NOTE: Installing {name} {}", deb.version());
        let files = {
            let mut data = deb.data()?;
            extractor.unpack(name, &mut data)?
        };
        manifest.push_str(&format!("{name} {} {}\n", deb.architecture(), deb.version()));
        installed.push((name.clone(), dpkg_db::Installed { control: deb.control.clone(), files }));
    }
    dpkg_db::write(&request.rootfs, &installed)?;
    if let Some(parent) = request.manifest.parent() {
        fs::create_dir_all(parent).map_err(write_err(&parent.to_path_buf()))?;
    }
    fs::write(&request.manifest, manifest).map_err(write_err(&request.manifest))?;
    let _ = writeln!(log, "NOTE: Installed {} packages into {}", install.len(), request.rootfs.display());
    Ok(())
}

/// The `.deb` files in `<feed>/*/`, sorted; a missing feed has none.
fn feed_debs(feed: &std::path::Path) -> Result<Vec<PathBuf>, RootfsError> {
    let err = |source| RootfsError::Feed { dir: feed.to_path_buf(), source };
    let mut out = Vec::new();
    if !feed.is_dir() {
        return Ok(out);
    }
    for arch in tree::sorted_names(feed).map_err(err)? {
        let dir = feed.join(arch);
        if !dir.is_dir() {
            continue;
        }
        for name in tree::sorted_names(&dir).map_err(err)? {
            let path = dir.join(&name);
            if name.as_encoded_bytes().ends_with(b".deb") && path.is_file() {
                out.push(path);
            }
        }
    }
    Ok(out)
}
