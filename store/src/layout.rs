//! Where everything lives inside a store directory (see the crate documentation for
//! the drawing). Every versioned part carries its version in its name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoContext, ObjectKind, Result, StoreError};

/// The on-disk layout version this build reads and writes.
pub const LAYOUT_VERSION: u32 = 1;

/// Paths inside one store directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn version_file(&self) -> PathBuf {
        self.root.join("VERSION")
    }

    pub(crate) fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    pub(crate) fn index_lock_file(&self) -> PathBuf {
        self.root.join("index.lock")
    }

    pub(crate) fn index_want_file(&self) -> PathBuf {
        self.root.join("index.want")
    }

    pub(crate) fn index_dir(&self) -> PathBuf {
        self.root.join("index-v1")
    }

    pub(crate) fn objects_dir(&self, kind: ObjectKind) -> PathBuf {
        self.root.join("objects-v1").join(match kind {
            ObjectKind::Blob => "blobs",
            ObjectKind::Tree => "trees",
        })
    }

    pub(crate) fn object_path(&self, kind: ObjectKind, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        let mut p = self.objects_dir(kind);
        p.push(&hex[..2]);
        p.push(&hex);
        p
    }

    pub(crate) fn blob_checkouts_dir(&self) -> PathBuf {
        self.root.join("checkouts-v1").join("blobs")
    }

    pub(crate) fn tree_checkouts_dir(&self) -> PathBuf {
        self.root.join("checkouts-v1").join("trees")
    }

    /// Copies with exact modes and owners (see `exact.rs`):
    /// `exact-blobs/xx/<digest>.<mode>.<uid>.<gid>`.
    pub(crate) fn exact_blobs_dir(&self) -> PathBuf {
        self.root.join("checkouts-v1").join("exact-blobs")
    }

    /// Whole trees with exact modes and owners: `exact-trees/xx/<digest>[.<uid>.<gid>]/`.
    pub(crate) fn exact_trees_dir(&self) -> PathBuf {
        self.root.join("checkouts-v1").join("exact-trees")
    }

    /// An uncompressed, read-only copy of a blob with the given permission bits.
    pub(crate) fn blob_checkout(&self, digest: &Digest, mode: u32) -> PathBuf {
        let hex = digest.to_hex();
        let mut p = self.blob_checkouts_dir();
        p.push(&hex[..2]);
        p.push(format!("{hex}.{mode:04o}"));
        p
    }

    /// A read-only directory holding a whole tree.
    pub(crate) fn tree_checkout(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        let mut p = self.tree_checkouts_dir();
        p.push(&hex[..2]);
        p.push(&hex);
        p
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Creates the directory structure if needed and checks the layout version.
    pub(crate) fn create_or_check(&self) -> Result<()> {
        let version_file = self.version_file();
        match fs::read_to_string(&version_file) {
            Ok(found) => {
                if found.trim() != LAYOUT_VERSION.to_string() {
                    return Err(StoreError::LayoutVersion {
                        path: self.root.clone(),
                        found: found.trim().to_owned(),
                        supported: LAYOUT_VERSION,
                    });
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.create(),
            Err(e) => Err(StoreError::io("reading", version_file, e)),
        }
    }

    fn create(&self) -> Result<()> {
        fs::create_dir_all(&self.root).ctx("creating store directory", &self.root)?;
        // Shard directories are created when first needed (see `place`).
        for dir in [
            self.objects_dir(ObjectKind::Blob),
            self.objects_dir(ObjectKind::Tree),
            self.blob_checkouts_dir(),
            self.tree_checkouts_dir(),
        ] {
            fs::create_dir_all(&dir).ctx("creating directory", &dir)?;
        }
        let tmp = self.tmp_dir();
        fs::create_dir_all(&tmp).ctx("creating directory", &tmp)?;
        // Written last and atomically: a store with a VERSION file is complete.
        let staged = self.root.join(format!(".VERSION.{}", std::process::id()));
        let mut f = fs::File::create(&staged).ctx("creating", &staged)?;
        f.write_all(format!("{LAYOUT_VERSION}\n").as_bytes()).ctx("writing", &staged)?;
        f.sync_all().ctx("syncing", &staged)?;
        fs::rename(&staged, self.version_file()).ctx("creating", self.version_file())?;
        Ok(())
    }
}

/// Runs a rename or link into `target`, creating `target`'s shard directory when
/// it does not exist yet.
pub(crate) fn place(target: &Path, mut op: impl FnMut() -> std::io::Result<()>) -> std::io::Result<()> {
    match op() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Another thread may create the parent between the failure and this check:
            // create it (a no-op when it exists) and try again either way.
            match target.parent() {
                Some(parent) => fs::create_dir_all(parent)?,
                None => return Err(e),
            }
            op()
        }
        other => other,
    }
}

/// Parses an object file name back into a digest.
pub(crate) fn digest_from_file_name(name: &std::ffi::OsStr) -> Option<Digest> {
    name.to_str()?.parse().ok()
}

/// Parses an exact tree checkout's name: `<hex>`, or `<hex>.<uid>.<gid>` when its
/// owners are shifted to a task range starting at host ids uid and gid.
pub(crate) fn exact_tree_from_file_name(name: &std::ffi::OsStr) -> Option<Digest> {
    let name = name.to_str()?;
    let mut parts = name.split('.');
    let digest = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, None, None) => Some(digest),
        (Some(uid), Some(gid), None) if uid.parse::<u32>().is_ok() && gid.parse::<u32>().is_ok() => Some(digest),
        _ => None,
    }
}

/// Parses a blob checkout file name (`<hex>.<mode>`).
pub(crate) fn blob_checkout_from_file_name(name: &std::ffi::OsStr) -> Option<(Digest, u32)> {
    let name = name.to_str()?;
    let (hex, mode) = name.split_once('.')?;
    if mode.len() != 4 {
        return None;
    }
    Some((hex.parse().ok()?, u32::from_str_radix(mode, 8).ok()?))
}

/// Parses an exact checkout file name (`<hex>.<mode>.<uid>.<gid>`).
pub(crate) fn exact_blob_from_file_name(name: &std::ffi::OsStr) -> Option<(Digest, u32, u32, u32)> {
    let mut parts = name.to_str()?.split('.');
    let digest = parts.next()?.parse().ok()?;
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    let uid = parts.next()?.parse().ok()?;
    let gid = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((digest, mode, uid, gid))
}

/// Whether a checkout cache name is a temporary one (being built, or left by a
/// killed process): they start with a dot.
pub(crate) fn is_temporary(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// The files in every shard directory under `parent` (`parent/xx/*`).
pub(crate) fn list_sharded(parent: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let shards = match fs::read_dir(parent) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io("reading directory", parent, e)),
    };
    for shard in shards {
        let shard = shard.ctx("reading directory", parent)?;
        let shard_path = shard.path();
        if !shard.file_type().ctx("reading", &shard_path)?.is_dir() {
            out.push(shard_path);
            continue;
        }
        for file in fs::read_dir(&shard_path).ctx("reading directory", &shard_path)? {
            out.push(file.ctx("reading directory", &shard_path)?.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::place;
    use std::sync::{Arc, Barrier};

    /// Threads placing files into the same missing shard directory at the same moment
    /// all succeed: the one that finds the directory created by another retries.
    #[test]
    fn place_into_a_new_shard_from_many_threads() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..50 {
            let threads = 8;
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let barrier = Arc::clone(&barrier);
                    let root = dir.path().to_path_buf();
                    std::thread::spawn(move || {
                        let source = root.join(format!("source-{round}-{i}"));
                        std::fs::write(&source, b"x").unwrap();
                        let target = root.join(format!("shard-{round}")).join(format!("file-{i}"));
                        barrier.wait();
                        place(&target, || std::fs::hard_link(&source, &target))
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        }
    }
}
