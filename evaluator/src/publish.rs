//! Publishing task outputs into the build directory's shared areas: what BitBake's
//! `[sstate-inputdirs]` / `[sstate-outputdirs]` do (`tmp/deploy/deb`,
//! `tmp/deploy/images/…`, `tmp/deploy/licenses`).
//!
//! A task's output lives in the store; publishing links the files of one directory
//! of it over a host directory, so `tmp/deploy/` looks as it does after a BitBake
//! build. Files are hard links to the store's read-only checkout (a copy where the
//! build directory is on another filesystem): publishing costs no space, and a
//! published file stays valid even after the store collects the entry.
//! Publishing is idempotent: a file already linked to the same content is left alone.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rstore_store::{NoReporter, Node, Store, TreeDigest};
use serde::{Deserialize, Serialize};

/// One directory of a task's output published over a host directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// Directory inside the task's output tree (relative to its WORKDIR).
    pub from: PathBuf,
    /// Host directory it is published over.
    pub to: PathBuf,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Store(#[from] rstore_store::StoreError),
    #[error("publishing {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PublishError + '_ {
    move |source| PublishError::Io { path: path.to_path_buf(), source }
}

/// What one publication did.
#[derive(Debug, Clone)]
pub struct Published {
    /// Files linked or copied (0 when everything was in place already).
    pub files: usize,
    /// The store's read-only checkout of the published directory, if the output has it.
    pub checkout: Option<PathBuf>,
}

/// Publish `p` from the output tree `root`. Only the published directory is checked
/// out of the store, not the whole output.
pub fn publish(store: &Store, root: &TreeDigest, p: &Publication) -> Result<Published, PublishError> {
    let from = p.from.to_string_lossy();
    let digest = match store.resolve(root, &from) {
        Ok((Node::Directory { digest, .. }, _)) => digest,
        Ok(_) | Err(rstore_store::StoreError::PathNotFound { .. }) => {
            return Ok(Published { files: 0, checkout: None });
        }
        Err(e) => return Err(e.into()),
    };
    let checkout = store.checkout(&digest, &NoReporter)?;
    let mut files = 0;
    copy_dir(&checkout, &p.to, &mut files)?;
    Ok(Published { files, checkout: Some(checkout) })
}

fn copy_dir(src: &Path, dest: &Path, written: &mut usize) -> Result<(), PublishError> {
    fs::create_dir_all(dest).map_err(io_err(dest))?;
    let mut entries: Vec<fs::DirEntry> =
        fs::read_dir(src).map_err(io_err(src))?.collect::<Result<_, _>>().map_err(io_err(src))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let from = e.path();
        let to = dest.join(e.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io_err(&from))?;
        let existing = fs::symlink_metadata(&to).ok();
        if meta.is_dir() {
            if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                fs::remove_file(&to).map_err(io_err(&to))?;
            }
            copy_dir(&from, &to, written)?;
            continue;
        }
        if let Some(m) = &existing {
            if meta.is_file() && m.dev() == meta.dev() && m.ino() == meta.ino() {
                continue;
            }
            if meta.is_symlink() && m.is_symlink() && fs::read_link(&to).ok() == fs::read_link(&from).ok() {
                continue;
            }
            if m.is_dir() {
                fs::remove_dir_all(&to).map_err(io_err(&to))?;
            } else {
                fs::remove_file(&to).map_err(io_err(&to))?;
            }
        }
        if meta.is_symlink() {
            let target = fs::read_link(&from).map_err(io_err(&from))?;
            std::os::unix::fs::symlink(target, &to).map_err(io_err(&to))?;
        } else if fs::hard_link(&from, &to).is_err() {
            // Another filesystem (or the link limit): a copy, written then renamed.
            let tmp = dest.join(format!(".{}.publishing", e.file_name().to_string_lossy()));
            fs::copy(&from, &tmp).map_err(io_err(&tmp))?;
            fs::rename(&tmp, &to).map_err(io_err(&to))?;
        }
        *written += 1;
    }
    Ok(())
}
