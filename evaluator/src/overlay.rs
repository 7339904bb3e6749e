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
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rstore_store::{
    Attributes, Name, Node, ObjectKind, Owner, Store, StoreError, SymlinkTarget, Tree, TreeDigest, TreeEntry,
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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OverlayError + '_ {
    move |source| OverlayError::Io { path: path.display().to_string(), source }
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

fn is_opaque(path: &Path) -> bool {
    for name in ["user.overlay.opaque", "trusted.overlay.opaque"] {
        let mut buf = [0u8; 4];
        if let Ok(n) = rustix::fs::lgetxattr(path, name, &mut buf)
            && n >= 1
            && buf[0] == b'y'
        {
            return true;
        }
    }
    false
}

fn entry_for(name: Name, node: Node, meta: &std::fs::Metadata) -> TreeEntry {
    TreeEntry::full(name, node, meta.mode() & 0o7777, Owner { uid: meta.uid(), gid: meta.gid() })
}

/// Apply the upper directory `upper` on top of the tree `base`.
fn apply_upper(store: &Store, upper: &Path, base: Option<&TreeDigest>) -> Result<Tree, OverlayError> {
    let mut merged = if is_opaque(upper) { BTreeMap::new() } else { entries(store, base)? };
    let mut names: Vec<_> =
        std::fs::read_dir(upper).map_err(io(upper))?.collect::<Result<_, _>>().map_err(io(upper))?;
    names.sort_by_key(|e| e.file_name());
    for dirent in names {
        let path = dirent.path();
        let raw = dirent.file_name();
        let name_bytes = std::os::unix::ffi::OsStrExt::as_bytes(raw.as_os_str()).to_vec();
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            merged.remove(&name_bytes);
            continue;
        }
        let name = Name::new(name_bytes.clone())
            .map_err(|e| OverlayError::Unsupported { path: path.display().to_string(), reason: e.to_string() })?;
        let node = if ft.is_dir() {
            let below = match merged.get(&name_bytes).map(|e| &e.node) {
                Some(Node::Directory { digest, .. }) => Some(*digest),
                _ => None,
            };
            let sub = apply_upper(store, &path, below.as_ref())?;
            let size = dir_size(&sub);
            Node::Directory { digest: write_tree(store, &sub)?, size }
        } else if ft.is_file() {
            Node::File { digest: store.add_blob_file(&path)?, size: meta.len() }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io(&path))?;
            let target = SymlinkTarget::new(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()).to_vec())
                .map_err(|e| OverlayError::Unsupported { path: path.display().to_string(), reason: e.to_string() })?;
            Node::Symlink { target }
        } else {
            return Err(OverlayError::Unsupported {
                path: path.display().to_string(),
                reason: "device nodes, sockets and FIFOs cannot be part of a task output".into(),
            });
        };
        merged.insert(name_bytes, entry_for(name, node, &meta));
    }
    Tree::new(Attributes::Full, merged.into_values().collect())
        .map_err(|e| OverlayError::Unsupported { path: upper.display().to_string(), reason: e.to_string() })
}

/// The tree of an overlay's merged view: `lowers` (topmost first) under `upper`.
/// The result is committed in the store (every object it names is durable).
pub fn merge(store: &Store, lowers: &[TreeDigest], upper: &Path) -> Result<TreeDigest, OverlayError> {
    let base = merge_lowers(store, lowers)?;
    let tree = apply_upper(store, upper, base.as_ref())?;
    let root = write_tree(store, &tree)?;
    store.commit_tree(&root)?;
    Ok(root)
}
