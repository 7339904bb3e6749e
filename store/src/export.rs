//! Deterministic tar export of a tree.
//!
//! The archive holds the tree's entries in pre-order with the entries of each
//! directory sorted bytewise by name (like `tar --sort=name`), paths relative
//! without a leading `./`, directories with a trailing `/`, and GNU long-name
//! records for paths over 100 bytes. Every header has the same mtime
//! ([`TarOptions::mtime`], 0 by default), numeric owners only (uid/gid from full
//! trees, else 0) and empty user and group names. Modes are those of the tree:
//! 0644/0755 files, 0755 directories and 0777 symlinks for plain trees; the recorded
//! bits (including setuid/setgid) for full trees. The same tree always gives the
//! same bytes. File contents are verified against their digests while streaming.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Result, StoreError};
use crate::layout::Layout;
use crate::objects::{self, BlobReader};
use crate::tree::{Attributes, Node, Tree};

/// Options for [`crate::Store::export_tar`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TarOptions {
    /// The mtime written into every header (seconds since the epoch).
    pub mtime: u64,
}

/// A blob reader that keeps the store error behind an io::Error for the caller.
struct CheckedReader<'a> {
    inner: BlobReader,
    slot: &'a RefCell<Option<StoreError>>,
}

impl Read for CheckedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let err = self.inner.error(e);
            let replacement = io::Error::other(err.to_string());
            *self.slot.borrow_mut() = Some(err);
            replacement
        })
    }
}

pub(crate) fn write_tar(layout: &Layout, root: &Digest, out: &mut dyn Write, options: &TarOptions) -> Result<()> {
    let top = objects::read_tree(layout, root)?;
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let slot: RefCell<Option<StoreError>> = RefCell::new(None);
    let fail = |e: io::Error, slot: &RefCell<Option<StoreError>>| -> StoreError {
        slot.borrow_mut().take().unwrap_or_else(|| StoreError::io("writing tar archive", "<output>", e))
    };
    write_dir(layout, &mut builder, &top, Path::new(""), options, &slot).map_err(|e| match e {
        WalkError::Store(e) => e,
        WalkError::Io(e) => fail(e, &slot),
    })?;
    builder.finish().map_err(|e| fail(e, &slot))
}

enum WalkError {
    Store(StoreError),
    Io(io::Error),
}

impl From<StoreError> for WalkError {
    fn from(e: StoreError) -> Self {
        WalkError::Store(e)
    }
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> Self {
        WalkError::Io(e)
    }
}

fn write_dir(
    layout: &Layout,
    builder: &mut tar::Builder<&mut dyn Write>,
    tree: &Tree,
    prefix: &Path,
    options: &TarOptions,
    slot: &RefCell<Option<StoreError>>,
) -> std::result::Result<(), WalkError> {
    let full = tree.attributes() == Attributes::Full;
    for entry in tree.entries() {
        let path: PathBuf = prefix.join(entry.name.as_os_str());
        let mut header = tar::Header::new_gnu();
        header.set_mtime(options.mtime);
        let (uid, gid) = match (full, entry.owner) {
            (true, Some(o)) => (o.uid, o.gid),
            _ => (0, 0),
        };
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
        header.set_mode(entry.mode);
        match &entry.node {
            Node::File { digest, size } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(*size);
                let reader = CheckedReader { inner: objects::open_blob(layout, digest.digest())?, slot };
                builder.append_data(&mut header, &path, reader)?;
                if let Some(e) = slot.borrow_mut().take() {
                    return Err(WalkError::Store(e));
                }
            }
            Node::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &path, Path::new(target.as_os_str()))?;
            }
            Node::Directory { digest, .. } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                let mut dir_path = path.clone().into_os_string();
                dir_path.push("/");
                builder.append_data(&mut header, Path::new(&dir_path), io::empty())?;
                let sub = objects::read_tree(layout, digest.digest())?;
                write_dir(layout, builder, &sub, &path, options, slot)?;
            }
        }
    }
    Ok(())
}
