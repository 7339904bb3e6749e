//! The download cache (`DL_DIR`) and its index by checksum.
//!
//! ```text
//! DL_DIR/
//! ├── <file name>                        downloads under the names BitBake gives them
//! ├── <file name>.lock                   flock(2) held while that name is fetched or checked
//! ├── <file name>_bad-checksum_<sha256>  what the name held before, when that was wrong
//! ├── git2/<repository name>/            bare clones of git repositories
//! ├── git2/<repository name>.lock
//! └── .rstore-index/v1/
//!     ├── sha256/<hex>                   hard links to the downloads, by content
//!     ├── md5/<hex>
//!     └── tmp/                           files being written; renamed into place when whole
//! ```
//!
//! The named files are laid out as BitBake lays them out, so one `DL_DIR` can serve both.
//! The index makes any file with the right checksum satisfy a fetch, whatever its name
//! or the URL it came from: every file rstore downloads, finds or imports
//! (`rstore fetch --import`) is linked under each of its checksums, and a fetch looks
//! there before going to the network. Entries are re-hashed whenever they are used,
//! so a damaged entry is dropped instead of trusted. Nothing appears under a final
//! name before it is complete: files are written in `tmp/` and renamed.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use tempfile::NamedTempFile;

use super::checksum::{Algorithm, Checksum, Computed, Expected, hash_file};

/// The index directory, relative to `DL_DIR`.
pub const INDEX_DIR: &str = ".rstore-index/v1";

/// A failure of the download cache itself (not of a download).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("creating the download cache directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("locking {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("creating a temporary file in {dir}")]
    Temp {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("moving {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("linking {from} as {to}")]
    Link {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{name:?} cannot be a download file name (it must be one path component, not hidden)")]
    BadName { name: String },
}

/// A download cache directory.
#[derive(Debug, Clone)]
pub struct DownloadCache {
    root: PathBuf,
    index: PathBuf,
}

/// An exclusive lock on one name of the cache, released when dropped.
#[derive(Debug)]
pub struct NameLock {
    _file: fs::File,
}

/// What importing one file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Imported {
    /// The file is now in the cache under its name (and indexed).
    Added,
    /// The cache already had this content under this name.
    Present,
    /// The name holds other contents: this file is in the index only.
    IndexedOnly,
}

impl DownloadCache {
    /// Open (creating it if needed) the download cache at `root`.
    pub fn open(root: &Path) -> Result<DownloadCache, CacheError> {
        let index = root.join(INDEX_DIR);
        for dir in [root.to_path_buf(), index.join("sha256"), index.join("md5"), index.join("tmp")] {
            fs::create_dir_all(&dir).map_err(|source| CacheError::CreateDir { path: dir.clone(), source })?;
        }
        Ok(DownloadCache { root: root.to_path_buf(), index })
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the download named `name` lives.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, CacheError> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// The index entry of a checksum (which may not exist).
    pub fn index_entry(&self, checksum: &Checksum) -> PathBuf {
        self.index.join(checksum.algorithm().name()).join(checksum.hex())
    }

    /// Take the lock of `name` (waiting for another fetch of it to finish).
    pub fn lock(&self, name: &str) -> Result<NameLock, CacheError> {
        check_name(name)?;
        lock_file(&self.root.join(format!("{name}.lock")))
    }

    /// A new temporary file in the cache (deleted unless committed).
    pub fn temp_file(&self) -> Result<NamedTempFile, CacheError> {
        let dir = self.index.join("tmp");
        tempfile::Builder::new().prefix("part-").tempfile_in(&dir).map_err(|source| CacheError::Temp { dir, source })
    }

    /// A new temporary directory in the cache (deleted when dropped).
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, CacheError> {
        let dir = self.index.join("tmp");
        tempfile::Builder::new().prefix("dir-").tempdir_in(&dir).map_err(|source| CacheError::Temp { dir, source })
    }

    /// Index entries that exist for the expected checksums, strongest first.
    pub fn lookup(&self, expected: &Expected) -> Vec<PathBuf> {
        expected.iter().map(|c| self.index_entry(c)).filter(|p| p.is_file()).collect()
    }

    /// Drop an index entry found to have other contents than its name says.
    pub fn forget(&self, entry: &Path) {
        if entry.starts_with(&self.index) {
            let _ = fs::remove_file(entry);
        }
    }

    /// Move a complete, verified temporary file into place as `name` and index it.
    /// Whatever `name` held before is moved aside (`<name>_bad-checksum_<sha256>`).
    /// The caller holds the lock of `name`.
    pub fn commit(&self, temp: NamedTempFile, name: &str, digests: &Computed) -> Result<PathBuf, CacheError> {
        let target = self.path_of(name)?;
        let _ = fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o644));
        self.move_aside(&target)?;
        let from = temp.path().to_path_buf();
        temp.persist(&target).map_err(|e| CacheError::Rename { from, to: target.clone(), source: e.error })?;
        self.index_file(&target, digests)?;
        Ok(target)
    }

    /// Make the verified file `existing` (an index entry) also available as `name`.
    /// The caller holds the lock of `name`.
    pub fn place(&self, existing: &Path, name: &str, digests: &Computed) -> Result<PathBuf, CacheError> {
        let target = self.path_of(name)?;
        if target.exists() && same_file(existing, &target) {
            return Ok(target);
        }
        self.move_aside(&target)?;
        self.link_into_place(existing, &target)?;
        self.index_file(&target, digests)?;
        Ok(target)
    }

    /// Link `file` (inside the cache) under each of its checksums.
    pub fn index_file(&self, file: &Path, digests: &Computed) -> Result<(), CacheError> {
        for algorithm in Algorithm::ALL {
            let entry = self.index_entry(&digests.get(algorithm));
            if entry.exists() && same_file(file, &entry) {
                continue;
            }
            self.link_into_place(file, &entry)?;
        }
        Ok(())
    }

    /// Add a file from outside the cache: copy it in (hashing it on the way), under its
    /// own name if that is free or already holds the same contents, and index it.
    pub fn import(&self, file: &Path, name: &str) -> Result<(Imported, Computed), CacheError> {
        check_name(name)?;
        let mut temp = self.temp_file()?;
        let digests = {
            let mut src = fs::File::open(file).map_err(|source| CacheError::Read { path: file.into(), source })?;
            super::checksum::copy_hashing(&mut src, temp.as_file_mut())
                .map_err(|source| CacheError::Read { path: file.into(), source })?
        };
        let _lock = self.lock(name)?;
        let target = self.path_of(name)?;
        if target.is_file() {
            let present = hash_file(&target).map_err(|source| CacheError::Read { path: target.clone(), source })?;
            if present.sha256 == digests.sha256 {
                self.index_file(&target, &digests)?;
                return Ok((Imported::Present, digests));
            }
            // The name is taken by other contents: keep this file in the index only.
            let entry = self.index_entry(&digests.sha256);
            let _ = fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o644));
            let from = temp.path().to_path_buf();
            temp.persist(&entry).map_err(|e| CacheError::Rename { from, to: entry.clone(), source: e.error })?;
            self.index_file(&entry, &digests)?;
            return Ok((Imported::IndexedOnly, digests));
        }
        self.commit(temp, name, &digests)?;
        Ok((Imported::Added, digests))
    }

    /// Whether `expected` names contents the cache has (without verifying them).
    pub fn has(&self, expected: &Expected) -> bool {
        !self.lookup(expected).is_empty()
    }

    fn move_aside(&self, target: &Path) -> Result<(), CacheError> {
        let meta = match fs::symlink_metadata(target) {
            Ok(m) => m,
            Err(_) => return Ok(()),
        };
        if !meta.is_file() {
            // A symlink (BitBake links mirror files in) or something odd: replace it.
            if !meta.is_dir() {
                let _ = fs::remove_file(target);
            }
            return Ok(());
        }
        let sha = hash_file(target)
            .map(|c| c.sha256.hex().to_owned())
            .map_err(|source| CacheError::Read { path: target.into(), source })?;
        let mut aside = target.as_os_str().to_owned();
        aside.push(format!("_bad-checksum_{sha}"));
        let aside = PathBuf::from(aside);
        tracing::warn!("moving {} aside to {}: it has other contents", target.display(), aside.display());
        fs::rename(target, &aside).map_err(|source| CacheError::Rename { from: target.into(), to: aside, source })
    }

    /// Atomically make `to` a hard link of `from` (a copy where links are impossible).
    fn link_into_place(&self, from: &Path, to: &Path) -> Result<(), CacheError> {
        let tmp_dir = self.index.join("tmp");
        let staged = match tempfile::Builder::new().prefix("link-").make_in(&tmp_dir, |p| fs::hard_link(from, p)) {
            Ok(linked) => linked.into_temp_path(),
            Err(_) => {
                let mut t = self.temp_file()?;
                let mut src = fs::File::open(from).map_err(|source| CacheError::Read { path: from.into(), source })?;
                io::copy(&mut src, t.as_file_mut()).map_err(|source| CacheError::Link {
                    from: from.into(),
                    to: to.into(),
                    source,
                })?;
                let _ = fs::set_permissions(t.path(), fs::Permissions::from_mode(0o644));
                t.into_temp_path()
            }
        };
        let from_path = staged.to_path_buf();
        staged.persist(to).map_err(|e| CacheError::Rename { from: from_path, to: to.into(), source: e.error })?;
        Ok(())
    }
}

/// Exclusive flock(2) on `path`, created if needed.
pub fn lock_file(path: &Path) -> Result<NameLock, CacheError> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| CacheError::Lock { path: path.into(), source })?;
    loop {
        match rustix::fs::flock(&file, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(NameLock { _file: file }),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(CacheError::Lock { path: path.into(), source: e.into() }),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A download file name: one normal path component, not hidden, not a lock or stamp
/// of ours.
pub fn check_name(name: &str) -> Result<(), CacheError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\0')
        && !name.ends_with(".lock");
    if ok { Ok(()) } else { Err(CacheError::BadName { name: name.to_owned() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests_of(data: &[u8]) -> Computed {
        let mut h = super::super::checksum::Hasher::new();
        h.update(data);
        h.finish()
    }

    #[test]
    fn names_must_be_single_visible_components() {
        for bad in ["", ".hidden", "a/b", "x.lock", ".rstore-index"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        check_name("busybox-1.37.0.tar.bz2").unwrap();
    }

    #[test]
    fn import_adds_then_finds_present_then_indexes_only() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::open(&tmp.path().join("dl")).unwrap();
        let src = tmp.path().join("a.tar.gz");
        fs::write(&src, b"first").unwrap();
        let (what, d1) = cache.import(&src, "a.tar.gz").unwrap();
        assert_eq!(what, Imported::Added);
        assert_eq!(fs::read(cache.root().join("a.tar.gz")).unwrap(), b"first");
        assert!(same_file(&cache.root().join("a.tar.gz"), &cache.index_entry(&d1.sha256)));
        assert!(same_file(&cache.root().join("a.tar.gz"), &cache.index_entry(&d1.md5)));
        let (what, _) = cache.import(&src, "a.tar.gz").unwrap();
        assert_eq!(what, Imported::Present);
        fs::write(&src, b"second").unwrap();
        let (what, d2) = cache.import(&src, "a.tar.gz").unwrap();
        assert_eq!(what, Imported::IndexedOnly);
        assert_eq!(fs::read(cache.root().join("a.tar.gz")).unwrap(), b"first", "the name keeps its file");
        assert_eq!(fs::read(cache.index_entry(&d2.sha256)).unwrap(), b"second");
        // Nothing is left half-written.
        assert_eq!(fs::read_dir(cache.root().join(INDEX_DIR).join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn commit_moves_a_wrong_file_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::open(tmp.path()).unwrap();
        fs::write(tmp.path().join("f.tar"), b"stale").unwrap();
        let mut t = cache.temp_file().unwrap();
        io::Write::write_all(t.as_file_mut(), b"fresh").unwrap();
        let d = digests_of(b"fresh");
        let path = cache.commit(t, "f.tar", &d).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"fresh");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        let stale_sha = digests_of(b"stale").sha256;
        let aside = tmp.path().join(format!("f.tar_bad-checksum_{}", stale_sha.hex()));
        assert_eq!(fs::read(aside).unwrap(), b"stale");
        assert_eq!(cache.lookup(&Expected { sha256: Some(d.sha256.clone()), md5: None }).len(), 1);
    }
}
