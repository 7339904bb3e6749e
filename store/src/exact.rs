//! Checkouts with exact permissions and owners, for overlayfs lower directories.
//!
//! A task's work directory is an overlay whose lower directories are the output trees
//! of earlier tasks. The task must see those files exactly as they were recorded:
//! writable and executable bits, setuid bits and owners included (a read-only cache
//! copy would make every unchanged file look read-only, and packages built from it would
//! carry wrong modes). Overlayfs never writes to a lower directory (changes are copied
//! up), so these checkouts can keep their recorded modes safely.
//!
//! Layout, beside the read-only checkout cache:
//!
//! ```text
//! checkouts-v1/exact-blobs/xx/<digest>.<mode>.<uid>.<gid>   one file per blob and attributes
//! checkouts-v1/exact-trees/xx/<digest>/                      whole trees, hardlinks to the above
//! ```
//!
//! Every file, directory and symlink has the modification time [`CHECKOUT_MTIME`]
//! (1 s after the epoch, as Nix does): the store records no times, and times taken
//! from the order files happen to be written would make `make` rebuild generated files
//! (an `aclocal.m4` that looks older than its `configure.ac`) at random. Files a task
//! creates are newer than all of its inputs.
//!
//! A tree is built under a temporary name and renamed into place, so a visible exact
//! checkout is always complete; two processes building the same one both succeed.
//!
//! Owners on the host are the recorded ones shifted by [`TaskIds`]: a root caller's
//! tasks run as a range of host ids of their own (id 0 inside is the range's first id),
//! and a lower directory must belong to that range for the task to change its files
//! (overlayfs copies them up as the task).
//!
//! No checkout carries a setuid or setgid bit or write permission for others on the
//! host ([`WITHHELD_BITS`]), whatever the task that made the tree recorded: those
//! files and directories are checked out without the bits, and
//! [`ExactCheckout::withheld`] lists them with their recorded modes. The sandbox shows
//! them to the task with those modes (copies in a small tmpfs layer stacked right above
//! the checkout), so packaging tasks still see a `su` as `4755` and an image's `/tmp`
//! as `1777`. `exact-blobs` and `exact-trees` are private to the store's owner (mode
//! 0700) besides. A blob linked more often than the filesystem allows (`EMLINK`) is
//! copied.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::{BlobDigest, Digest, TreeDigest};
use crate::error::{IoContext, Result};
use crate::store::Store;
use crate::tree::{Attributes, Node, TreeEntry};

/// Creates `dir` (mode 0700) or makes it 0700: what is beneath is for this store's owner.
fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) => return Err(e).ctx("creating", dir),
    }
    let meta = fs::metadata(dir).ctx("reading", dir)?;
    if meta.permissions().mode() & 0o7777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).ctx("setting permissions of", dir)?;
    }
    Ok(())
}

/// A name for a temporary file or directory that no other process or thread uses.
fn temporary_name(digest: &Digest, suffix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(".{}{suffix}.{}-{n}.tmp", digest.to_hex(), std::process::id())
}

/// The modification time of everything in an exact checkout (seconds since the epoch).
pub const CHECKOUT_MTIME: i64 = 1;

/// Set `path`'s access and modification times to `secs` since the epoch (the link
/// itself for a symlink).
pub fn set_times(path: &Path, secs: i64) -> io::Result<()> {
    let t = rustix::fs::Timespec { tv_sec: secs, tv_nsec: 0 };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps { last_access: t, last_modification: t },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// Set `path`'s access and modification times to [`CHECKOUT_MTIME`].
fn fix_times(path: &Path) -> Result<()> {
    set_times(path, CHECKOUT_MTIME).ctx("setting the times of", path)
}

/// Where recorded ids are on the host: recorded id `n` is host id `uid + n` (`gid + n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskIds {
    /// Host uid of recorded uid 0.
    pub uid: u32,
    /// Host gid of recorded gid 0.
    pub gid: u32,
}

impl TaskIds {
    /// Recorded ids are host ids (a caller whose tasks' root is the caller itself).
    pub const IDENTITY: TaskIds = TaskIds { uid: 0, gid: 0 };

    /// The host ids of recorded ids.
    pub fn to_host(self, uid: u32, gid: u32) -> (u32, u32) {
        (self.uid.saturating_add(uid), self.gid.saturating_add(gid))
    }
}

/// Mode bits no exact checkout has on the host: setuid, setgid, write for others.
pub const WITHHELD_BITS: u32 = 0o6002;

/// An entry of a tree whose recorded mode has bits of [`WITHHELD_BITS`], which its
/// checkout on the host lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithheldMode {
    /// Relative to the tree's root.
    pub path: PathBuf,
    /// The recorded mode (permission bits only).
    pub mode: u32,
}

/// A tree checked out for an overlay: where, and what it shows with fewer mode bits
/// than recorded (in path order, parents first).
#[derive(Clone, Debug)]
pub struct ExactCheckout {
    pub dir: PathBuf,
    pub withheld: Arc<Vec<WithheldMode>>,
}

/// The recorded mode (permission bits) of an entry and its owner on the host.
fn attrs(entry: &TreeEntry, attributes: Attributes, ids: TaskIds) -> (u32, u32, u32) {
    let ((uid, gid), mode) = match (attributes, entry.owner) {
        (Attributes::Full, Some(o)) => ((o.uid, o.gid), entry.mode & 0o7777),
        _ => ((0, 0), entry.mode & 0o777),
    };
    let (uid, gid) = ids.to_host(uid, gid);
    (mode, uid, gid)
}

/// Links `from` at `to`, or copies it (contents, mode, owner, times) when `from` has as
/// many links as its filesystem allows.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    match fs::hard_link(from, to) {
        Err(e) if e.raw_os_error() == Some(libc::EMLINK) => {
            use std::os::unix::fs::MetadataExt;
            let meta = fs::metadata(from).ctx("reading", from)?;
            fs::copy(from, to).ctx("copying (too many links)", to)?;
            rustix::fs::chown(
                to,
                Some(rustix::process::Uid::from_raw(meta.uid())),
                Some(rustix::process::Gid::from_raw(meta.gid())),
            )
            .map_err(io::Error::from)
            .ctx("changing the owner of", to)?;
            fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .ctx("setting permissions of", to)?;
            fix_times(to)
        }
        other => other.ctx("linking", to),
    }
}

impl Store {
    fn exact_dir(&self, what: &str, digest: &Digest) -> Result<PathBuf> {
        let parent = self.dir().join("checkouts-v1").join(what);
        private_dir(&parent)?;
        Ok(parent.join(digest.hex_prefix(2)))
    }

    fn exact_blob(&self, digest: &Digest, mode: u32, uid: u32, gid: u32) -> Result<PathBuf> {
        let dir = self.exact_dir("exact-blobs", digest)?;
        let path = dir.join(format!("{}.{mode:04o}.{uid}.{gid}", digest.to_hex()));
        if path.exists() {
            return Ok(path);
        }
        fs::create_dir_all(&dir).ctx("creating", &dir)?;
        let tmp = dir.join(temporary_name(digest, &format!(".{mode:04o}.{uid}.{gid}")));
        {
            let mut out = fs::File::create(&tmp).ctx("creating", &tmp)?;
            let mut blob = self.open_blob(&BlobDigest::from_digest(*digest))?;
            io::copy(&mut blob, &mut out).ctx("writing", &tmp)?;
        }
        // Owner first: changing the owner clears setuid bits.
        rustix::fs::chown(&tmp, Some(rustix::process::Uid::from_raw(uid)), Some(rustix::process::Gid::from_raw(gid)))
            .map_err(io::Error::from)
            .ctx("changing the owner of", &tmp)?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).ctx("setting permissions of", &tmp)?;
        fix_times(&tmp)?;
        // Linked into place, never renamed over it: replacing a copy another thread
        // has just returned would make its own `link` of that copy fail (ENOENT).
        let placed = match fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        };
        let _ = fs::remove_file(&tmp);
        placed.ctx("linking into place", &path)?;
        Ok(path)
    }

    fn build_exact(&self, root: &Digest, dest: &Path, ids: TaskIds) -> Result<()> {
        let tree = self.read_tree(&TreeDigest::from_digest(*root))?;
        let attributes = tree.attributes();
        let mut dirs: Vec<(PathBuf, u32, u32, u32)> = Vec::new();
        for entry in tree.entries() {
            let path = dest.join(entry.name.as_os_str());
            let (mode, uid, gid) = attrs(entry, attributes, ids);
            let mode = mode & !WITHHELD_BITS;
            match &entry.node {
                Node::File { digest, .. } => {
                    let blob = self.exact_blob(digest.digest(), mode, uid, gid)?;
                    link_or_copy(&blob, &path)?;
                }
                Node::Directory { digest, .. } => {
                    fs::create_dir(&path).ctx("creating", &path)?;
                    self.build_exact(digest.digest(), &path, ids)?;
                    dirs.push((path, mode, uid, gid));
                }
                Node::Symlink { target } => {
                    std::os::unix::fs::symlink(target.as_os_str(), &path).ctx("creating the symlink", &path)?;
                    rustix::fs::chownat(
                        rustix::fs::CWD,
                        &path,
                        Some(rustix::process::Uid::from_raw(uid)),
                        Some(rustix::process::Gid::from_raw(gid)),
                        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(io::Error::from)
                    .ctx("changing the owner of", &path)?;
                    fix_times(&path)?;
                }
            }
        }
        for (path, mode, uid, gid) in dirs {
            rustix::fs::chown(
                &path,
                Some(rustix::process::Uid::from_raw(uid)),
                Some(rustix::process::Gid::from_raw(gid)),
            )
            .map_err(io::Error::from)
            .ctx("changing the owner of", &path)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).ctx("setting permissions of", &path)?;
            fix_times(&path)?;
        }
        Ok(())
    }

    /// The entries of `root` whose recorded modes have [`WITHHELD_BITS`], parents first
    /// (found once per process and tree).
    fn withheld_modes(&self, root: &TreeDigest) -> Result<Arc<Vec<WithheldMode>>> {
        if let Some(found) = self.withheld.lock().unwrap_or_else(|p| p.into_inner()).get(root) {
            return Ok(found.clone());
        }
        let mut found = Vec::new();
        let mut pending = vec![(PathBuf::new(), *root)];
        while let Some((dir, digest)) = pending.pop() {
            let tree = self.read_tree(&digest)?;
            let attributes = tree.attributes();
            for entry in tree.entries() {
                let path = dir.join(entry.name.as_os_str());
                let (mode, ..) = attrs(entry, attributes, TaskIds::IDENTITY);
                if !matches!(entry.node, Node::Symlink { .. }) && mode & WITHHELD_BITS != 0 {
                    found.push(WithheldMode { path: path.clone(), mode });
                }
                if let Node::Directory { digest, .. } = &entry.node {
                    pending.push((path, *digest));
                }
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let found = Arc::new(found);
        self.withheld.lock().unwrap_or_else(|p| p.into_inner()).insert(*root, found.clone());
        Ok(found)
    }

    /// A checkout of `root` with the recorded permissions (but [`WITHHELD_BITS`]) and
    /// owners (shifted by `ids`), for use as an overlayfs lower directory (never write
    /// to it directly).
    pub fn checkout_for_overlay(&self, root: &TreeDigest, ids: TaskIds) -> Result<ExactCheckout> {
        let withheld = self.withheld_modes(root)?;
        let dir = self.checkout_tree_for_overlay(root.digest(), ids)?;
        Ok(ExactCheckout { dir, withheld })
    }

    fn checkout_tree_for_overlay(&self, root: &Digest, ids: TaskIds) -> Result<PathBuf> {
        let dir = self.exact_dir("exact-trees", root)?;
        let path = dir.join(if ids == TaskIds::IDENTITY {
            root.to_hex()
        } else {
            format!("{}.{}.{}", root.to_hex(), ids.uid, ids.gid)
        });
        if path.is_dir() {
            return Ok(path);
        }
        fs::create_dir_all(&dir).ctx("creating", &dir)?;
        let tmp = dir.join(temporary_name(root, ""));
        fs::create_dir(&tmp).ctx("creating", &tmp)?;
        self.build_exact(root, &tmp, ids)?;
        fix_times(&tmp)?;
        match fs::rename(&tmp, &path) {
            Ok(()) => Ok(path),
            Err(_) if path.is_dir() => {
                let _ = crate::lock::remove_tree_forcibly(&tmp);
                Ok(path)
            }
            Err(e) => Err(e).ctx("renaming", &tmp),
        }
    }
}
