//! `stats`: counts and sizes.

use std::fs;

use rayon::prelude::*;

use crate::error::{ObjectKind, Result};
use crate::index::{Db, Table};
use crate::layout::{self, Layout};
use crate::objects;
use crate::records::TreeInfo;

/// Counts and sizes of a store.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StoreStats {
    /// Entries (unihash → output).
    pub entries: u64,
    /// Recorded taskhash → unihash mappings.
    pub taskhashes: u64,
    /// Recorded (task, outhash) → unihash mappings.
    pub outhashes: u64,
    /// Complete trees recorded by ingests and imports.
    pub complete_trees: u64,
    /// GC roots.
    pub roots: u64,
    /// Blob objects.
    pub blobs: u64,
    /// Tree objects.
    pub trees: u64,
    /// Total size of the files of every complete tree, counting duplicates.
    pub logical_bytes: u64,
    /// Total uncompressed size of the distinct blobs.
    pub unique_bytes: u64,
    /// Bytes of object files on disk (compressed blobs and trees).
    pub stored_bytes: u64,
    /// Bytes in the uncompressed checkout caches (read-only and exact copies).
    pub checkout_bytes: u64,
    /// logical_bytes / unique_bytes (what deduplication saves).
    pub dedup_ratio: f64,
    /// logical_bytes / stored_bytes (what deduplication and compression save).
    pub total_ratio: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The counts that come from the index (kept short: the index is held meanwhile).
pub(crate) fn from_index(db: &Db<'_>) -> Result<StoreStats> {
    let mut s = StoreStats {
        entries: db.count(Table::Entries)?,
        taskhashes: db.count(Table::Taskhash)?,
        outhashes: db.count(Table::Outhash)?,
        roots: db.count(Table::Roots)?,
        ..StoreStats::default()
    };
    for (_, value) in db.scan(Table::Trees)? {
        if let Ok(info) = TreeInfo::decode(&value) {
            s.complete_trees += 1;
            s.logical_bytes += info.logical_bytes;
        }
    }
    Ok(s)
}

/// Adds the counts and sizes that come from the object and checkout directories.
pub(crate) fn add_files(layout: &Layout, mut s: StoreStats) -> Result<StoreStats> {
    let blobs = layout::list_sharded(&layout.objects_dir(ObjectKind::Blob))?;
    let trees = layout::list_sharded(&layout.objects_dir(ObjectKind::Tree))?;
    s.blobs = blobs.len() as u64;
    s.trees = trees.len() as u64;
    let (unique, stored) = blobs
        .par_iter()
        .map(|p| {
            let stored = fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(0);
            (objects::blob_content_size(p).unwrap_or(0), stored)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    s.unique_bytes = unique;
    s.stored_bytes = stored + trees.iter().map(|p| fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(0)).sum::<u64>();
    for parent in [layout.blob_checkouts_dir(), layout.exact_blobs_dir()] {
        s.checkout_bytes += layout::list_sharded(&parent)?
            .iter()
            .map(|p| fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum::<u64>();
    }
    s.dedup_ratio = ratio(s.logical_bytes, s.unique_bytes);
    s.total_ratio = ratio(s.logical_bytes, s.stored_bytes);
    Ok(s)
}
