//! File locks (`flock`) and the per-process scratch directory.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, flock};

use crate::error::{IoContext, Result};

/// An open lock file. The lock (if any) is released when this is dropped.
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
    path: PathBuf,
}

impl LockFile {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx("opening lock file", path)?;
        Ok(Self { file, path: path.to_owned() })
    }

    /// Creates `path` as a new file that is already locked exclusively when it
    /// appears (an unnamed file in `dir`, locked, then linked into place).
    pub(crate) fn create_locked(dir: &Path, path: &Path) -> Result<Self> {
        use std::os::fd::AsRawFd;
        let fd = rustix::fs::open(dir, OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC, Mode::from_raw_mode(0o600))
            .ctx("creating a file in", dir)?;
        flock(&fd, FlockOperation::LockExclusive).ctx("taking exclusive lock on", path)?;
        let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        rustix::fs::linkat(rustix::fs::CWD, proc_path.as_str(), rustix::fs::CWD, path, AtFlags::SYMLINK_FOLLOW)
            .ctx("creating", path)?;
        Ok(Self { file: File::from(fd), path: path.to_owned() })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn lock_shared(&self) -> Result<()> {
        flock(&self.file, FlockOperation::LockShared).ctx("taking shared lock on", &self.path)
    }

    pub(crate) fn lock_exclusive(&self) -> Result<()> {
        flock(&self.file, FlockOperation::LockExclusive).ctx("taking exclusive lock on", &self.path)
    }

    /// `Ok(false)` if another process holds a conflicting lock.
    pub(crate) fn try_lock_exclusive(&self) -> Result<bool> {
        match flock(&self.file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(e).ctx("taking exclusive lock on", &self.path),
        }
    }

    /// `Ok(false)` if another process holds the lock exclusively.
    pub(crate) fn try_lock_shared(&self) -> Result<bool> {
        match flock(&self.file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(e).ctx("taking shared lock on", &self.path),
        }
    }

    pub(crate) fn unlock(&self) -> Result<()> {
        flock(&self.file, FlockOperation::Unlock).ctx("unlocking", &self.path)
    }
}

static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A scratch directory owned by this process: `tmp/<name>/`, guarded by an exclusive
/// lock on `tmp/<name>.lock` for as long as it lives. Scratch directories whose lock
/// nobody holds belong to dead processes and are removed by [`Scratch::remove_stale`].
#[derive(Debug)]
pub(crate) struct Scratch {
    dir: PathBuf,
    lock: LockFile,
    counter: AtomicU64,
}

impl Scratch {
    pub(crate) fn create(tmp: &Path) -> Result<Self> {
        let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("{}-{nanos:08x}-{n}", std::process::id());
        // A `<name>.lock` file appears already locked, so a cleaner in another
        // process never mistakes it for a stale one; it exists before its directory.
        let final_lock = tmp.join(format!("{name}.lock"));
        let lock = match LockFile::create_locked(tmp, &final_lock) {
            Ok(lock) => lock,
            Err(e) => {
                // Without O_TMPFILE or /proc: lock under a temporary name, then rename.
                // Cleaners leave unlocked `.pending` files alone for a minute.
                tracing::debug!("falling back to a pending lock file: {e}");
                let pending = tmp.join(format!("{name}.pending"));
                let mut lock = LockFile::open(&pending)?;
                lock.lock_exclusive()?;
                fs::rename(&pending, &final_lock).ctx("creating", &final_lock)?;
                lock.path = final_lock;
                lock
            }
        };
        let dir = tmp.join(&name);
        fs::create_dir(&dir).ctx("creating directory", &dir)?;
        Ok(Self { dir, lock, counter: AtomicU64::new(0) })
    }

    /// A fresh, unique path inside the scratch directory (not created).
    pub(crate) fn unique_path(&self, prefix: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{prefix}-{n}"))
    }

    /// Removes scratch directories of processes that no longer run. Returns how many.
    pub(crate) fn remove_stale(tmp: &Path) -> Result<usize> {
        let mut removed = 0;
        let entries = match fs::read_dir(tmp) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e).ctx("reading directory", tmp),
        };
        let mut names: Vec<PathBuf> = Vec::new();
        for entry in entries {
            names.push(entry.ctx("reading directory", tmp)?.path());
        }
        for path in &names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let stem = match (name.strip_suffix(".lock"), name.strip_suffix(".pending")) {
                (Some(stem), _) => Some(stem),
                (None, Some(_)) => {
                    let age = fs::symlink_metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                    if age.is_none_or(|a| a < std::time::Duration::from_secs(60)) {
                        continue; // perhaps being created right now
                    }
                    None
                }
                (None, None) => continue,
            };
            let lock = match File::open(path) {
                Ok(file) => LockFile { file, path: path.clone() },
                Err(_) => continue, // removed meanwhile
            };
            if !lock.try_lock_exclusive()? {
                continue; // its process is alive
            }
            if let Some(stem) = stem {
                remove_tree_forcibly(&tmp.join(stem))?;
            }
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("removing", path),
            }
            removed += 1;
        }
        // Directories without a lock file can only be left over from a removal that
        // was interrupted (the lock file is created before its directory).
        for path in &names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let is_dir = fs::symlink_metadata(path).map(|m| m.is_dir()).unwrap_or(false);
            if !is_dir {
                continue;
            }
            if !tmp.join(format!("{name}.lock")).exists() {
                remove_tree_forcibly(path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(err) = remove_tree_forcibly(&self.dir) {
            tracing::warn!("cleaning up scratch directory: {err}");
        }
        let _ = fs::remove_file(self.lock.path());
    }
}

/// Removes a directory tree even where read-only materialisation made directories
/// unwritable. A missing path is not an error.
pub fn remove_tree_forcibly(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Another process may be removing the same tree: vanished entries are fine.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e).ctx("reading", path),
    };
    if !meta.is_dir() {
        return match fs::remove_file(path) {
            Err(e) if !gone(&e) => Err(e).ctx("removing", path),
            _ => Ok(()),
        };
    }
    if meta.permissions().mode() & 0o700 != 0o700 {
        match fs::set_permissions(path, fs::Permissions::from_mode(0o755)) {
            Err(e) if !gone(&e) => return Err(e).ctx("making writable", path),
            _ => {}
        }
    }
    let entries = match fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e).ctx("reading directory", path),
    };
    for entry in entries {
        match entry {
            Ok(entry) => remove_tree_forcibly(&entry.path())?,
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e).ctx("reading directory", path),
        }
    }
    match fs::remove_dir(path) {
        Err(e) if !gone(&e) => Err(e).ctx("removing directory", path),
        _ => Ok(()),
    }
}
