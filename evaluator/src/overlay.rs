//! The output of a task from the overlay it ran on.
//!
//! A task's work directory is an overlayfs: the output trees of the tasks it follows
//! (read-only store checkouts, topmost first) under a fresh upper directory. When the
//! task ends, its output is the merged view. Rather than walking the merged view (which
//! would hash every unchanged file again), the lower trees are merged as store trees and
//! only the upper directory is read: new and changed files are ingested, overlayfs
//! whiteouts (character devices 0:0) delete, and opaque directories
//! (`user.overlay.opaque`) replace what was below them.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use rstore_store::{
    Attributes, Name, Node, ObjectKind, Owner, Store, StoreError, SymlinkTarget, TaskIds, Tree, TreeDigest, TreeEntry,
};

/// Merging an overlay failed.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {reason}")]
    Unsupported { path: String, reason: String },
}

fn write_tree(store: &Store, tree: &Tree) -> Result<TreeDigest, OverlayError> {
    let digest = tree.digest();
    if !store.has_object(ObjectKind::Tree, digest.digest()) {
        store.import_raw_object(ObjectKind::Tree, digest.digest(), &tree.encode())?;
    }
    Ok(digest)
}

fn dir_size(tree: &Tree) -> u64 {
    tree.logical_size()
}

fn entries(store: &Store, digest: Option<&TreeDigest>) -> Result<BTreeMap<Vec<u8>, TreeEntry>, OverlayError> {
    let Some(d) = digest else { return Ok(BTreeMap::new()) };
    Ok(store.read_tree(d)?.entries().iter().map(|e| (e.name.as_bytes().to_vec(), e.clone())).collect())
}

/// Merge store trees: entries of `top` win over `bottom`; directories present in both
/// are merged recursively.
fn merge_two(store: &Store, top: &TreeDigest, bottom: &TreeDigest) -> Result<TreeDigest, OverlayError> {
    if top == bottom {
        return Ok(*top);
    }
    let mut merged = entries(store, Some(bottom))?;
    for (name, entry) in entries(store, Some(top))? {
        let combined = match (&entry.node, merged.get(&name).map(|e| &e.node)) {
            (Node::Directory { digest: t, .. }, Some(Node::Directory { digest: b, .. })) => {
                let d = merge_two(store, t, b)?;
                let size = dir_size(&store.read_tree(&d)?);
                TreeEntry { node: Node::Directory { digest: d, size }, ..entry }
            }
            _ => entry,
        };
        merged.insert(name, combined);
    }
    let tree = Tree::new(Attributes::Full, merged.into_values().collect())
        .map_err(|e| OverlayError::Unsupported { path: String::new(), reason: e.to_string() })?;
    write_tree(store, &tree)
}

/// The tree `root` without its top-level entries named in `names`.
pub fn without(store: &Store, root: &TreeDigest, names: &[&str]) -> Result<TreeDigest, OverlayError> {
    let tree = store.read_tree(root)?;
    if !tree.entries().iter().any(|e| names.iter().any(|n| e.name.as_bytes() == n.as_bytes())) {
        return Ok(*root);
    }
    let kept: Vec<TreeEntry> =
        tree.entries().iter().filter(|e| !names.iter().any(|n| e.name.as_bytes() == n.as_bytes())).cloned().collect();
    let tree = Tree::new(tree.attributes(), kept)
        .map_err(|e| OverlayError::Unsupported { path: String::new(), reason: e.to_string() })?;
    write_tree(store, &tree)
}

/// Merge lower trees, topmost first.
pub fn merge_lowers(store: &Store, lowers: &[TreeDigest]) -> Result<Option<TreeDigest>, OverlayError> {
    let mut it = lowers.iter().rev();
    let Some(first) = it.next() else { return Ok(None) };
    let mut acc = *first;
    for top in it {
        acc = merge_two(store, top, &acc)?;
    }
    Ok(Some(acc))
}

fn is_opaque(dir: &OwnedFd) -> bool {
    for name in ["user.overlay.opaque", "trusted.overlay.opaque"] {
        let mut buf = [0u8; 4];
        if let Ok(n) = rustix::fs::fgetxattr(dir, name, &mut buf)
            && n >= 1
            && buf[0] == b'y'
        {
            return true;
        }
    }
    false
}

/// The recorded owner of a file a task left: its host ids shifted back by `ids` (the
/// task's id 0 is host id `ids.uid`). A task cannot create a file owned by an id outside
/// its range; such a file was put there from outside, and is refused.
fn entry_for(
    name: Name,
    node: Node,
    stat: &rustix::fs::Stat,
    ids: TaskIds,
    path: &Path,
) -> Result<TreeEntry, OverlayError> {
    let shift =
        |id: u32, base: u32| id.checked_sub(base).filter(|n| base == 0 || *n < rstore_sandbox::plan::MAPPED_IDS);
    match (shift(stat.st_uid, ids.uid), shift(stat.st_gid, ids.gid)) {
        (Some(uid), Some(gid)) => Ok(TreeEntry::full(name, node, stat.st_mode & 0o7777, Owner { uid, gid })),
        _ => Err(OverlayError::Unsupported {
            path: path.display().to_string(),
            reason: format!("owned by host ids {}:{}, outside the task's range", stat.st_uid, stat.st_gid),
        }),
    }
}

fn open_beneath(dir: &OwnedFd, name: &OsStr, flags: OFlags, path: &Path) -> Result<OwnedFd, OverlayError> {
    rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| OverlayError::Io { path: path.display().to_string(), source: e.into() })
}

/// Apply the upper directory open as `dir` (at `path`, for messages) on top of the tree
/// `base`. The walk goes by descriptors and never follows a symlink: whatever the
/// directory holds, only what is beneath it is read.
fn apply_upper(
    store: &Store,
    dir: &OwnedFd,
    path: &Path,
    base: Option<&TreeDigest>,
    ids: TaskIds,
) -> Result<Tree, OverlayError> {
    let mut merged = if is_opaque(dir) { BTreeMap::new() } else { entries(store, base)? };
    let mut names: Vec<Vec<u8>> = Vec::new();
    let listing = |e: rustix::io::Errno| OverlayError::Io { path: path.display().to_string(), source: e.into() };
    let listed = rustix::fs::Dir::read_from(dir).map_err(listing)?;
    for entry in listed {
        let name = entry.map_err(listing)?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    names.sort();
    for name_bytes in names {
        let raw = OsStr::from_bytes(&name_bytes);
        let child = path.join(raw);
        let stat = rustix::fs::statat(dir, raw, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| OverlayError::Io { path: child.display().to_string(), source: e.into() })?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        if kind == FileType::CharacterDevice && stat.st_rdev == 0 {
            merged.remove(&name_bytes);
            continue;
        }
        let name = Name::new(name_bytes.clone())
            .map_err(|e| OverlayError::Unsupported { path: child.display().to_string(), reason: e.to_string() })?;
        let node = match kind {
            FileType::Directory => {
                let below = match merged.get(&name_bytes).map(|e| &e.node) {
                    Some(Node::Directory { digest, .. }) => Some(*digest),
                    _ => None,
                };
                let sub_dir = open_beneath(dir, raw, OFlags::RDONLY | OFlags::DIRECTORY, &child)?;
                let sub = apply_upper(store, &sub_dir, &child, below.as_ref(), ids)?;
                let size = dir_size(&sub);
                Node::Directory { digest: write_tree(store, &sub)?, size }
            }
            FileType::RegularFile => {
                let file = open_beneath(dir, raw, OFlags::RDONLY | OFlags::NONBLOCK, &child)?;
                let opened = rustix::fs::fstat(&file)
                    .map_err(|e| OverlayError::Io { path: child.display().to_string(), source: e.into() })?;
                if (opened.st_dev, opened.st_ino) != (stat.st_dev, stat.st_ino) {
                    return Err(OverlayError::Unsupported {
                        path: child.display().to_string(),
                        reason: "was replaced while the output was read".into(),
                    });
                }
                Node::File {
                    digest: store.add_blob_opened(std::fs::File::from(file), &child)?,
                    size: stat.st_size as u64,
                }
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, raw, Vec::new())
                    .map_err(|e| OverlayError::Io { path: child.display().to_string(), source: e.into() })?;
                let target = SymlinkTarget::new(target.into_bytes()).map_err(|e| OverlayError::Unsupported {
                    path: child.display().to_string(),
                    reason: e.to_string(),
                })?;
                Node::Symlink { target }
            }
            _ => {
                return Err(OverlayError::Unsupported {
                    path: child.display().to_string(),
                    reason: "device nodes, sockets and FIFOs cannot be part of a task output".into(),
                });
            }
        };
        merged.insert(name_bytes, entry_for(name, node, &stat, ids, &child)?);
    }
    Tree::new(Attributes::Full, merged.into_values().collect())
        .map_err(|e| OverlayError::Unsupported { path: path.display().to_string(), reason: e.to_string() })
}

/// The tree of an overlay's merged view: `lowers` (topmost first) under `upper`, whose
/// files belong to the task ids `ids`. The result is committed in the store (every
/// object it names is durable).
pub fn merge(store: &Store, lowers: &[TreeDigest], upper: &Path, ids: TaskIds) -> Result<TreeDigest, OverlayError> {
    let base = merge_lowers(store, lowers)?;
    let dir =
        rustix::fs::open(upper, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| OverlayError::Io { path: upper.display().to_string(), source: e.into() })?;
    let tree = apply_upper(store, &dir, upper, base.as_ref(), ids)?;
    let root = write_tree(store, &tree)?;
    store.commit_tree(&root)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// While the output of a task is read, something swaps a directory of it for a
    /// symlink to a host directory, again and again: the host's file never enters the
    /// store (the walk goes by descriptors and never follows a symlink).
    #[test]
    fn a_symlink_swapped_in_during_the_merge_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path().join("store")).unwrap();
        let host = tmp.path().join("host");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("secret"), b"host secret\n").unwrap();
        let upper = tmp.path().join("upper");
        std::fs::create_dir_all(upper.join("d")).unwrap();
        std::fs::write(upper.join("d/secret"), b"task file\n").unwrap();
        let secret = rstore_store::BlobDigest::of_contents(b"host secret\n");

        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let (dir, aside, link) = (upper.join("d"), upper.join("d.aside"), upper.join("d.link"));
                let _ = std::os::unix::fs::symlink(&host, &link);
                while !stop.load(Ordering::Relaxed) {
                    // d: directory → symlink to the host → directory.
                    let _ = std::fs::rename(&dir, &aside);
                    let _ = std::fs::rename(&link, &dir);
                    let _ = std::fs::rename(&dir, &link);
                    let _ = std::fs::rename(&aside, &dir);
                }
            });
            for _ in 0..300 {
                let Ok(root) = merge(&store, &[], &upper, TaskIds::IDENTITY) else { continue };
                let mut pending = vec![root];
                while let Some(tree) = pending.pop() {
                    for entry in store.read_tree(&tree).unwrap().entries() {
                        match &entry.node {
                            Node::Directory { digest, .. } => pending.push(*digest),
                            Node::File { digest, .. } => {
                                assert_ne!(*digest, secret, "a host file was stored")
                            }
                            Node::Symlink { .. } => {}
                        }
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
}
