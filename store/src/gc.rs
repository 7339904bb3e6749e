//! Garbage collection: keep what GC roots reach, delete everything else.
//!
//! Roots are pins and registered result links (a link root is alive while something
//! exists at its path; stale ones are dropped). An entry root keeps the entry, its
//! output tree and its log; a tree root keeps the tree. Hash-equivalence records
//! (`taskhash`, `outhash`) are knowledge, not content, and are never collected.
//! Index records go first (one batch), then object files, then checkout copies, so an
//! interrupted collection never leaves a record naming a deleted object.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::entry::Entry;
use crate::error::{IoContext, ObjectKind, Result, StoreError};
use crate::index::{Snapshot, Table, records};
use crate::layout::{self, Layout};
use crate::lock::remove_tree_forcibly;
use crate::objects;
use crate::records::{RootName, RootTarget};
use crate::reporter::{Phase, Reporter};
use crate::verify::children;

/// Options for [`crate::Store::gc`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// Report what would be deleted without deleting anything.
    pub dry_run: bool,
}

/// What a collection deleted (or would delete, for a dry run).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcReport {
    /// Nothing was deleted.
    pub dry_run: bool,
    /// Live GC roots.
    pub roots: u64,
    /// Result-link roots whose link no longer exists (removed from the index).
    pub stale_roots: Vec<String>,
    /// Entries kept.
    pub live_entries: u64,
    /// Tree objects kept.
    pub live_trees: u64,
    /// Blob objects kept.
    pub live_blobs: u64,
    /// Entry records deleted.
    pub removed_entries: u64,
    /// Complete-tree records deleted.
    pub removed_tree_records: u64,
    /// Blob objects deleted.
    pub removed_blobs: u64,
    /// Tree objects deleted.
    pub removed_trees: u64,
    /// Checkout cache files and directories deleted.
    pub removed_checkouts: u64,
    /// Disk space given back (sizes of files whose last link was deleted).
    pub bytes_freed: u64,
}

/// Counts bytes freed: a file's size counts once all of its links are deleted.
#[derive(Default)]
struct Freed {
    inodes: HashMap<(u64, u64), (u64, u64, u64)>, // (dev, ino) -> (links deleted, nlink, size)
}

impl Freed {
    fn add_file(&mut self, meta: &fs::Metadata) {
        let e = self.inodes.entry((meta.dev(), meta.ino())).or_insert((0, meta.nlink(), meta.len()));
        e.0 += 1;
    }

    fn add_tree(&mut self, path: &Path) {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        if meta.is_dir() {
            if let Ok(rd) = fs::read_dir(path) {
                for entry in rd.flatten() {
                    self.add_tree(&entry.path());
                }
            }
        } else if meta.is_file() {
            self.add_file(&meta);
        }
    }

    fn total(&self) -> u64 {
        self.inodes.values().filter(|(deleted, nlink, _)| deleted >= nlink).map(|(_, _, size)| size).sum()
    }
}

/// What a collection will delete.
pub(crate) struct Plan {
    pub(crate) records: Vec<(Table, Vec<u8>)>,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

/// Works out what is unreachable from the roots in `snapshot` (tables `roots`,
/// `entries` and `trees`).
pub(crate) fn plan(layout: &Layout, snapshot: &Snapshot) -> Result<(GcReport, Plan)> {
    let mut report = GcReport::default();
    let mut delete_records: Vec<(Table, Vec<u8>)> = Vec::new();

    // Roots.
    let mut live_entries: HashSet<Digest> = HashSet::new();
    let mut live_roots: HashSet<Digest> = HashSet::new();
    for (key, value) in records(snapshot, Table::Roots) {
        let (Some(name), Ok(target)) = (RootName::from_key(key), RootTarget::decode(value)) else {
            tracing::warn!("ignoring a corrupt GC root record; run `rstore store verify`");
            continue;
        };
        if let RootName::Link(path) = &name
            && fs::symlink_metadata(path).is_err()
        {
            report.stale_roots.push(name.to_string());
            delete_records.push((Table::Roots, key.clone()));
            continue;
        }
        report.roots += 1;
        match target {
            RootTarget::Entry(u) => {
                live_entries.insert(*u.digest());
            }
            RootTarget::Tree(t) => {
                live_roots.insert(*t.digest());
            }
        }
    }

    // Entries: live ones keep their tree and log; the rest go.
    let mut live_blobs: HashSet<Digest> = HashSet::new();
    for (key, value) in records(snapshot, Table::Entries) {
        let unihash = Digest::from_slice(key).ok();
        match (unihash, Entry::decode(value)) {
            (Some(u), Ok(entry)) if live_entries.contains(&u) => {
                report.live_entries += 1;
                live_roots.insert(*entry.root.digest());
                if let Some(log) = entry.log {
                    live_blobs.insert(*log.digest());
                }
            }
            (Some(_), Ok(_)) => {
                report.removed_entries += 1;
                delete_records.push((Table::Entries, key.clone()));
            }
            // Undecodable records are left for verify to report.
            _ => {}
        }
    }
    for (key, _) in records(snapshot, Table::Trees) {
        if let Ok(root) = Digest::from_slice(key)
            && !live_roots.contains(&root)
        {
            report.removed_tree_records += 1;
            delete_records.push((Table::Trees, key.clone()));
        }
    }

    // Mark.
    let mut live_trees: HashSet<Digest> = HashSet::new();
    let mut stack: Vec<Digest> = live_roots.iter().copied().collect();
    while let Some(t) = stack.pop() {
        if !live_trees.insert(t) {
            continue;
        }
        match objects::read_tree(layout, &t) {
            Ok(tree) => {
                for (kind, d) in children(&tree) {
                    match kind {
                        ObjectKind::Blob => {
                            live_blobs.insert(d);
                        }
                        ObjectKind::Tree => stack.push(d),
                    }
                }
            }
            Err(StoreError::MissingObject { .. }) | Err(StoreError::CorruptObject { .. }) => {
                tracing::warn!("a GC root reaches tree {t}, which is missing or corrupt; run `rstore store verify`");
            }
            Err(e) => return Err(e),
        }
    }
    report.live_trees = live_trees.len() as u64;
    report.live_blobs = live_blobs.len() as u64;

    // Sweep lists.
    let mut freed = Freed::default();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (kind, live) in [(ObjectKind::Blob, &live_blobs), (ObjectKind::Tree, &live_trees)] {
        for path in layout::list_sharded(&layout.objects_dir(kind))? {
            let Some(d) = path.file_name().and_then(layout::digest_from_file_name) else {
                continue;
            };
            if live.contains(&d) {
                continue;
            }
            if let Ok(meta) = fs::symlink_metadata(&path) {
                freed.add_file(&meta);
            }
            match kind {
                ObjectKind::Blob => report.removed_blobs += 1,
                ObjectKind::Tree => report.removed_trees += 1,
            }
            files.push(path);
        }
    }
    for path in layout::list_sharded(&layout.blob_checkouts_dir())? {
        let keep = path
            .file_name()
            .and_then(layout::blob_checkout_from_file_name)
            .is_some_and(|(d, _)| live_blobs.contains(&d));
        if !keep {
            if let Ok(meta) = fs::symlink_metadata(&path) {
                freed.add_file(&meta);
            }
            report.removed_checkouts += 1;
            files.push(path);
        }
    }
    for path in layout::list_sharded(&layout.exact_blobs_dir())? {
        let keep = !layout::is_temporary(&path)
            && path
                .file_name()
                .and_then(layout::exact_blob_from_file_name)
                .is_some_and(|(d, ..)| live_blobs.contains(&d));
        if !keep {
            if let Ok(meta) = fs::symlink_metadata(&path) {
                freed.add_file(&meta);
            }
            report.removed_checkouts += 1;
            files.push(path);
        }
    }
    for (parent, parse) in [
        (layout.tree_checkouts_dir(), layout::digest_from_file_name as fn(&std::ffi::OsStr) -> Option<Digest>),
        (layout.exact_trees_dir(), layout::exact_tree_from_file_name),
    ] {
        for path in layout::list_sharded(&parent)? {
            let keep = !layout::is_temporary(&path)
                && path.file_name().and_then(parse).is_some_and(|d| live_trees.contains(&d));
            if !keep {
                freed.add_tree(&path);
                report.removed_checkouts += 1;
                dirs.push(path);
            }
        }
    }
    report.bytes_freed = freed.total();
    Ok((report, Plan { records: delete_records, files, dirs }))
}

/// Deletes the files and directories of a plan (after its records are gone).
pub(crate) fn delete_files(plan: &Plan, reporter: &dyn Reporter) -> Result<()> {
    reporter.start(Phase::Collecting, Some((plan.files.len() + plan.dirs.len()) as u64));
    for path in &plan.files {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx("removing", path),
        }
        reporter.advance(1);
    }
    for dir in &plan.dirs {
        remove_tree_forcibly(dir)?;
        reporter.advance(1);
    }
    reporter.finish(Phase::Collecting);
    Ok(())
}
