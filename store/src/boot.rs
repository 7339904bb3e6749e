//! Checkouts are trusted within the boot that made them.
//!
//! The checkout caches (`checkouts-v1/`) are written without `fsync`: a tree is
//! thousands of files, and syncing each would cost more than the checkout. A process
//! killed at any instant leaves nothing visible that is incomplete (trees and files are
//! renamed or linked into place once written), but a machine that crashes can lose data
//! the kernel had not written yet, behind names that look complete. So the store notes
//! the boot its checkouts belong to (`checkouts-v1/boot-id`, from
//! `/proc/sys/kernel/random/boot_id`); the first process to open the store in another
//! boot throws every checkout away (they are made again from the verified objects when
//! needed), whatever the previous boot's end.
//!
//! The marker also names the checkouts' format ([`FORMAT`]): checkouts made by a
//! version of rstore that laid them out differently (exact checkouts that still carried
//! setuid bits) are thrown away the same way.

use std::fs;

use crate::error::{IoContext, Result};
use crate::layout::Layout;
use crate::lock::LockFile;

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The checkouts' format, written beside the boot id.
const FORMAT: &str = "exact-checkouts-withhold-setuid";

/// What the marker says when the checkouts are this boot's, in this format.
fn current_boot() -> Option<String> {
    let boot = fs::read_to_string(BOOT_ID).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    Some(format!("{boot} {FORMAT}"))
}

fn marker(layout: &Layout) -> std::path::PathBuf {
    layout.root().join("checkouts-v1").join("boot-id")
}

/// Whether the checkouts were made in another boot (or no boot is recorded).
fn from_another_boot(layout: &Layout, boot: &str) -> bool {
    fs::read_to_string(marker(layout)).map(|s| s.trim() != boot).unwrap_or(true)
}

/// Opens the store's lock shared, first discarding the checkouts of another boot
/// (holding the lock exclusively meanwhile, so no other process uses them).
pub(crate) fn lock_shared_with_fresh_checkouts(layout: &Layout, lock: &LockFile) -> Result<()> {
    let Some(boot) = current_boot() else {
        return lock_shared(layout, lock);
    };
    if !from_another_boot(layout, &boot) {
        return lock_shared(layout, lock);
    }
    lock.lock_exclusive()?;
    if from_another_boot(layout, &boot) {
        discard(layout)?;
        let path = marker(layout);
        fs::write(&path, format!("{boot}\n")).ctx("writing", &path)?;
    }
    lock.lock_shared()
}

fn lock_shared(layout: &Layout, lock: &LockFile) -> Result<()> {
    if !lock.try_lock_shared()? {
        tracing::info!("waiting for another process to finish collecting garbage in {}", layout.root().display());
        lock.lock_shared()?;
    }
    Ok(())
}

/// Removes every checkout and makes the empty cache directories again.
fn discard(layout: &Layout) -> Result<()> {
    let dir = layout.root().join("checkouts-v1");
    if dir.exists() {
        let n = fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        if n > 0 {
            tracing::info!(
                "discarding checkouts made in another boot of this machine (they are made again when needed)"
            );
        }
        let aside = layout.tmp_dir().join(format!("discarded-checkouts-{}", std::process::id()));
        fs::rename(&dir, &aside).ctx("moving aside", &dir)?;
        // Interrupted, the rest goes with the next open's stale scratch directories.
        crate::lock::remove_tree_forcibly(&aside)?;
    }
    for d in [layout.blob_checkouts_dir(), layout.tree_checkouts_dir()] {
        fs::create_dir_all(&d).ctx("creating directory", &d)?;
    }
    Ok(())
}
