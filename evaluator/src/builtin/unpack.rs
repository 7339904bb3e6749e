//! The unpack built-in: what the fetch task fetched, extracted or copied into
//! `UNPACKDIR` in SRC_URI order (see [`archive`] for what extraction guarantees).

pub mod archive;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::archive::{ArchiveError, Compression, Format};
use crate::builtin::fetch::files::{FsError, clamp_mtimes, copy_tree, source_date_epoch};

/// Unpack the sources of one recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackRequest {
    /// The recipe (PN), for messages.
    pub recipe: String,
    /// `UNPACKDIR` inside the sandbox.
    pub unpackdir: PathBuf,
    /// The sources, in SRC_URI order.
    pub entries: Vec<UnpackEntry>,
}

/// One source to unpack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackEntry {
    /// The SRC_URI entry, for messages.
    pub url: String,
    /// The fetched file or directory, inside the sandbox.
    pub source: PathBuf,
    pub action: UnpackAction,
}

/// What to do with a source. Paths are relative to `UNPACKDIR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum UnpackAction {
    /// Extract an archive into the directory `into`, dropping `strip` leading
    /// components of every member (`striplevel=`).
    Extract {
        format: Format,
        into: PathBuf,
        #[serde(default)]
        strip: usize,
    },
    /// Decompress a single compressed file to `to`.
    Decompress { compression: Compression, to: PathBuf },
    /// Copy a file or directory to `to`, replacing what is there.
    Copy { to: PathBuf },
}

/// Why the unpack task failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{url}: {path} is missing (the fetch task should have left it)")]
    Missing { url: String, path: PathBuf },
    #[error("{url}: the destination {path:?} is not a relative path inside UNPACKDIR")]
    BadDestination { url: String, path: PathBuf },
    #[error("unpacking {url}")]
    Archive {
        url: String,
        #[source]
        source: ArchiveError,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Run an unpack request, writing what it does to `log`.
pub fn run(request: &UnpackRequest, log: &mut dyn Write) -> Result<(), UnpackError> {
    let root = &request.unpackdir;
    fs::create_dir_all(root).map_err(|e| FsError::new("creating directory", root, e))?;
    for entry in &request.entries {
        if fs::symlink_metadata(&entry.source).is_err() {
            return Err(UnpackError::Missing { url: entry.url.clone(), path: entry.source.clone() });
        }
        let inside = |rel: &Path| -> Result<PathBuf, UnpackError> {
            match archive::member_path(rel, 0) {
                Ok(Some(p)) => Ok(root.join(p)),
                Ok(None) => Ok(root.clone()),
                Err(_) => Err(UnpackError::BadDestination { url: entry.url.clone(), path: rel.to_path_buf() }),
            }
        };
        let archive_err = |source| UnpackError::Archive { url: entry.url.clone(), source };
        match &entry.action {
            UnpackAction::Extract { format, into, strip } => {
                let dest = inside(into)?;
                fs::create_dir_all(&dest).map_err(|e| FsError::new("creating directory", &dest, e))?;
                let _ = writeln!(log, "Unpacking {} to {}/", entry.source.display(), dest.display());
                let done = archive::extract(&entry.source, *format, &dest, *strip).map_err(archive_err)?;
                let _ = writeln!(log, "  {} members written, {} skipped", done.members, done.skipped);
            }
            UnpackAction::Decompress { compression, to } => {
                let dest = inside(to)?;
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(|e| FsError::new("creating directory", parent, e))?;
                }
                let _ = writeln!(log, "Decompressing {} to {}", entry.source.display(), dest.display());
                archive::decompress(&entry.source, *compression, &dest).map_err(archive_err)?;
            }
            UnpackAction::Copy { to } => {
                let dest = inside(to)?;
                let _ = writeln!(log, "Copying {} to {}", entry.source.display(), dest.display());
                copy_tree(&entry.source, &dest)?;
            }
        }
    }
    if let Some(epoch) = source_date_epoch() {
        clamp_mtimes(root, epoch)?;
    }
    Ok(())
}
