//! Writing files the way every built-in must: complete before they appear, modes as a
//! normal user's `cp`/`tar` with umask 022 would leave them (no setuid, setgid or
//! sticky bits, no group or other write), and no modification time later than
//! `SOURCE_DATE_EPOCH`.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::checksum::{Computed, copy_hashing};

/// A filesystem operation that failed, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}")]
pub struct FsError {
    /// What was being done ("copying to", "creating directory", …).
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FsError {
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> FsError {
        FsError { action, path: path.into(), source }
    }
}

/// The permission bits a file gets: as in the source, less what umask 022 removes and
/// less setuid, setgid and sticky.
pub fn normal_mode(mode: u32) -> u32 {
    mode & 0o755
}

/// `SOURCE_DATE_EPOCH` from the environment (the sandbox always sets it).
pub fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

/// Copy the file `src` to `dest` through a temporary file next to `dest`, hashing it on
/// the way; `dest` appears only when complete. The copy gets `mode`.
pub fn copy_file_hashing(src: &Path, dest: &Path, mode: u32) -> Result<Computed, FsError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| FsError::new("creating directory", dir, e))?;
    let mut input = fs::File::open(src).map_err(|e| FsError::new("opening", src, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".rstore-part-")
        .tempfile_in(dir)
        .map_err(|e| FsError::new("creating a temporary file in", dir, e))?;
    let digests = copy_hashing(&mut input, temp.as_file_mut()).map_err(|e| FsError::new("copying to", dest, e))?;
    fs::set_permissions(temp.path(), fs::Permissions::from_mode(mode))
        .map_err(|e| FsError::new("setting the mode of", dest, e))?;
    temp.persist(dest).map_err(|e| FsError::new("moving into place", dest, e.error))?;
    Ok(digests)
}

/// Copy `src` to `dest` like `cp -R -H`: a file is copied, a directory recursively in
/// sorted order, symbolic links below the top are copied as links. Whatever was at
/// `dest` is replaced.
pub fn copy_tree(src: &Path, dest: &Path) -> Result<(), FsError> {
    let meta = fs::metadata(src).map_err(|e| FsError::new("reading", src, e))?;
    remove_any(dest)?;
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| FsError::new("creating directory", parent, e))?;
    }
    if meta.is_dir() {
        copy_dir(src, dest, meta.mode())
    } else {
        copy_file_hashing(src, dest, normal_mode(meta.mode())).map(|_| ())
    }
}

fn copy_dir(src: &Path, dest: &Path, mode: u32) -> Result<(), FsError> {
    fs::create_dir(dest).map_err(|e| FsError::new("creating directory", dest, e))?;
    let mut names: Vec<_> = fs::read_dir(src)
        .map_err(|e| FsError::new("listing", src, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| FsError::new("listing", src, e))?;
    names.sort();
    for name in names {
        let from = src.join(&name);
        let to = dest.join(&name);
        let meta = fs::symlink_metadata(&from).map_err(|e| FsError::new("reading", &from, e))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&from).map_err(|e| FsError::new("reading the link", &from, e))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|e| FsError::new("creating the link", &to, e))?;
        } else if kind.is_dir() {
            copy_dir(&from, &to, meta.mode())?;
        } else if kind.is_file() {
            copy_file_hashing(&from, &to, normal_mode(meta.mode()))?;
        } else {
            tracing::warn!("not copying {}: not a file, directory or symbolic link", from.display());
        }
    }
    fs::set_permissions(dest, fs::Permissions::from_mode(normal_mode(mode) | 0o700))
        .map_err(|e| FsError::new("setting the mode of", dest, e))
}

/// Remove whatever is at `path` (nothing there is fine).
pub fn remove_any(path: &Path) -> Result<(), FsError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsError::new("reading", path, e)),
        Ok(m) if m.is_dir() => {
            make_writable(path);
            fs::remove_dir_all(path).map_err(|e| FsError::new("removing", path, e))
        }
        Ok(_) => fs::remove_file(path).map_err(|e| FsError::new("removing", path, e)),
    }
}

/// Give the owner write access to every directory below `path`, so it can be removed.
fn make_writable(path: &Path) {
    if let Ok(m) = fs::symlink_metadata(path)
        && m.is_dir()
    {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode((m.mode() & 0o7777) | 0o700));
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                make_writable(&e.path());
            }
        }
    }
}

/// Set every modification time below and at `root` that is later than `epoch` to
/// `epoch` (symbolic links themselves, never their targets).
pub fn clamp_mtimes(root: &Path, epoch: i64) -> Result<(), FsError> {
    let meta = match fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FsError::new("reading", root, e)),
    };
    if meta.is_dir() {
        let entries = fs::read_dir(root).map_err(|e| FsError::new("listing", root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FsError::new("listing", root, e))?;
            clamp_mtimes(&entry.path(), epoch)?;
        }
    }
    if meta.mtime() > epoch {
        rstore_store::set_times(root, epoch).map_err(|e| FsError::new("setting the time of", root, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tree_keeps_links_and_normalises_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(src.join("sub/run.sh"), fs::Permissions::from_mode(0o4777)).unwrap();
        std::os::unix::fs::symlink("sub/run.sh", src.join("link")).unwrap();
        let dest = tmp.path().join("out/copy");
        copy_tree(&src, &dest).unwrap();
        let mode = fs::metadata(dest.join("sub/run.sh")).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
        assert_eq!(fs::read_link(dest.join("link")).unwrap(), Path::new("sub/run.sh"));
        clamp_mtimes(&dest, 1_000_000).unwrap();
        assert_eq!(fs::symlink_metadata(dest.join("link")).unwrap().mtime(), 1_000_000);
        assert_eq!(fs::metadata(dest.join("sub")).unwrap().mtime(), 1_000_000);
        // Copying again replaces what is there.
        fs::write(src.join("sub/run.sh"), "changed").unwrap();
        copy_tree(&src, &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("sub/run.sh")).unwrap(), "changed");
    }
}
