//! Ingesting a directory tree: walk it, hash and compress file contents in parallel
//! (files first, as a flat list), then build tree objects bottom-up.
//!
//! Contents are hashed before they are compressed, so content that is already
//! stored costs one read and one hash. Small files are read once into memory; large
//! files are hashed in a first pass and, when new, hashed again while being
//! compressed, so a file that changes during ingest is detected instead of being
//! stored under the wrong digest.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::digest::{BlobDigest, Digest, TreeDigest};
use crate::error::{IoContext, ObjectKind, Result, StoreError};
use crate::objects::Staging;
use crate::reporter::{Phase, Reporter};
use crate::tree::{Attributes, Name, Node, Owner, SymlinkTarget, Tree, TreeEntry};

/// Files up to this size are read whole into memory.
const SMALL_FILE: u64 = 8 << 20;
/// Read size for large files.
const CHUNK: usize = 4 << 20;

/// How to ingest a directory.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Which attributes to record ([`Attributes::Full`] for fakeroot outputs).
    pub attributes: Attributes,
    /// zstd level for new blobs (1..=19; 3 by default).
    pub compression_level: i32,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self { attributes: Attributes::Plain, compression_level: 3 }
    }
}

/// What an ingest found and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IngestOutcome {
    /// Root tree digest (a task's outhash).
    pub root: TreeDigest,
    /// Regular files.
    pub files: u64,
    /// Directories, including the root.
    pub directories: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Total size of the regular files.
    pub logical_bytes: u64,
    /// Blobs that were not in the store before.
    pub new_blobs: u64,
    /// Trees that were not in the store before.
    pub new_trees: u64,
    /// Compressed bytes written for new blobs.
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Attrs {
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Attrs {
    fn of(meta: &fs::Metadata) -> Self {
        Self { mode: meta.mode() & 0o7777, uid: meta.uid(), gid: meta.gid() }
    }
}

enum Child {
    File(usize),
    Dir(usize),
    Symlink(SymlinkTarget),
}

struct DirNode {
    path: PathBuf,
    children: Vec<(Name, Child, Attrs)>,
}

struct FileJob {
    path: PathBuf,
}

#[derive(Default)]
struct Scan {
    dirs: Vec<DirNode>,
    files: Vec<FileJob>,
    symlinks: u64,
    bytes: u64,
}

impl Scan {
    fn dir(&mut self, path: &Path) -> Result<usize> {
        let index = self.dirs.len();
        self.dirs.push(DirNode { path: path.to_owned(), children: Vec::new() });
        let mut entries = Vec::new();
        for entry in fs::read_dir(path).ctx("reading directory", path)? {
            entries.push(entry.ctx("reading directory", path)?);
        }
        entries.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
        let mut children = Vec::with_capacity(entries.len());
        for entry in entries {
            let child_path = entry.path();
            let name = Name::new(entry.file_name().as_bytes()).map_err(|source| StoreError::InvalidName {
                path: child_path.clone(),
                what: "file name",
                source,
            })?;
            let meta = fs::symlink_metadata(&child_path).ctx("reading metadata of", &child_path)?;
            let ft = meta.file_type();
            let attrs = Attrs::of(&meta);
            let child = if ft.is_dir() {
                Child::Dir(self.dir(&child_path)?)
            } else if ft.is_file() {
                self.files.push(FileJob { path: child_path });
                self.bytes += meta.len();
                Child::File(self.files.len() - 1)
            } else if ft.is_symlink() {
                let target = fs::read_link(&child_path).ctx("reading symlink", &child_path)?;
                let target = SymlinkTarget::new(target.as_os_str().as_bytes()).map_err(|source| {
                    StoreError::InvalidName { path: child_path.clone(), what: "symlink target", source }
                })?;
                self.symlinks += 1;
                Child::Symlink(target)
            } else {
                let kind = if ft.is_block_device() {
                    "block device"
                } else if ft.is_char_device() {
                    "character device"
                } else if ft.is_socket() {
                    "socket"
                } else if ft.is_fifo() {
                    "FIFO"
                } else {
                    "special file"
                };
                return Err(StoreError::UnsupportedFileType { path: child_path, kind });
            };
            children.push((name, child, attrs));
        }
        self.dirs[index].children = children;
        Ok(index)
    }
}

/// Ingests `path` into `staging`. Objects become visible when the caller commits.
pub(crate) fn ingest_tree(
    staging: &Staging<'_>,
    path: &Path,
    options: &IngestOptions,
    reporter: &dyn Reporter,
) -> Result<IngestOutcome> {
    let meta = fs::metadata(path).ctx("reading metadata of", path)?;
    if !meta.is_dir() {
        return Err(StoreError::NotADirectory { path: path.to_owned() });
    }
    reporter.start(Phase::Scanning, None);
    let mut scan = Scan::default();
    scan.dir(path)?;
    reporter.finish(Phase::Scanning);

    reporter.start(Phase::Ingesting, Some(scan.bytes));
    let level = options.compression_level;
    let files: Vec<(Digest, u64)> = scan
        .files
        .par_iter()
        .map(|job| {
            let r = ingest_file(staging, &job.path, level)?;
            reporter.advance(r.1);
            Ok(r)
        })
        .collect::<Result<_>>()?;
    reporter.finish(Phase::Ingesting);

    // Pre-order numbering puts every directory after its parent: walk backwards so
    // children are encoded (and staged) before their parents.
    let mut done: Vec<Option<(TreeDigest, u64)>> = vec![None; scan.dirs.len()];
    for index in (0..scan.dirs.len()).rev() {
        let dir = &scan.dirs[index];
        let mut entries = Vec::with_capacity(dir.children.len());
        for (name, child, attrs) in &dir.children {
            let node = match child {
                Child::File(i) => {
                    let (digest, size) = files[*i];
                    Node::File { digest: BlobDigest::from_digest(digest), size }
                }
                Child::Dir(i) => {
                    // Children have higher indices and were finished above.
                    let Some((digest, size)) = done[*i] else {
                        unreachable!("child directory encoded before its parent")
                    };
                    Node::Directory { digest, size }
                }
                Child::Symlink(target) => Node::Symlink { target: target.clone() },
            };
            entries.push(match options.attributes {
                Attributes::Plain => {
                    let exec = attrs.mode & 0o111 != 0;
                    TreeEntry::plain(name.clone(), node, exec)
                }
                Attributes::Full => {
                    TreeEntry::full(name.clone(), node, attrs.mode, Owner { uid: attrs.uid, gid: attrs.gid })
                }
            });
        }
        let tree = Tree::new(options.attributes, entries)
            .map_err(|source| StoreError::InvalidTree { path: dir.path.clone(), source })?;
        let bytes = tree.encode();
        let digest = crate::tree::digest_of_encoding(&bytes);
        if staging.claim(ObjectKind::Tree, digest.digest()) {
            staging.write_bytes(ObjectKind::Tree, *digest.digest(), &bytes)?;
        }
        done[index] = Some((digest, tree.logical_size()));
    }
    let Some((root, logical_bytes)) = done[0] else { unreachable!("the top directory is always encoded") };
    Ok(IngestOutcome {
        root,
        files: scan.files.len() as u64,
        directories: scan.dirs.len() as u64,
        symlinks: scan.symlinks,
        logical_bytes,
        new_blobs: 0,
        new_trees: 0,
        stored_bytes: 0,
    })
}

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn compress_small(level: i32, data: &[u8]) -> io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(l, _)| *l) != Some(level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(data),
            None => Err(io::Error::other("no compressor")),
        }
    })
}

/// Opens a regular file for reading without following a symlink at its last
/// component, and without blocking on a FIFO planted where a file was expected.
fn open_nofollow(path: &Path) -> Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ctx("opening", path)?;
    if !file.metadata().ctx("reading metadata of", path)?.is_file() {
        return Err(StoreError::NotARegularFile { path: path.to_owned() });
    }
    Ok(file)
}

/// Hashes one file and stages it if the store lacks it. Returns (digest, size).
fn ingest_file(staging: &Staging<'_>, path: &Path, level: i32) -> Result<(Digest, u64)> {
    ingest_opened(staging, open_nofollow(path)?, path, level)
}

/// Stages the contents of an open regular file (`path` names it in messages).
pub(crate) fn ingest_opened(staging: &Staging<'_>, mut file: File, path: &Path, level: i32) -> Result<(Digest, u64)> {
    let size = file.metadata().ctx("reading metadata of", path)?.len();
    if size <= SMALL_FILE {
        return BUFFER.with(|cell| {
            let mut buf = cell.borrow_mut();
            buf.clear();
            buf.reserve(size as usize + 1);
            file.read_to_end(&mut buf).ctx("reading", path)?;
            if buf.len() as u64 != size {
                return Err(StoreError::ChangedDuringIngest { path: path.to_owned() });
            }
            let digest = Digest::from(blake3::hash(&buf));
            if staging.claim(ObjectKind::Blob, &digest) {
                let compressed = compress_small(level, &buf).ctx("compressing", path)?;
                staging.write_bytes(ObjectKind::Blob, digest, &compressed)?;
            }
            // Do not keep huge buffers alive in every thread.
            if buf.capacity() > (1 << 20) {
                *buf = Vec::new();
            }
            Ok((digest, size))
        });
    }
    let (digest, read) = hash_stream(&mut file, path)?;
    if read != size {
        return Err(StoreError::ChangedDuringIngest { path: path.to_owned() });
    }
    if staging.claim(ObjectKind::Blob, &digest) {
        file.rewind().ctx("reading", path)?;
        let staged = staging.path(ObjectKind::Blob, &digest);
        let (again, read) = compress_stream(&mut file, path, &staged, size, level)?;
        if again != digest || read != size {
            return Err(StoreError::ChangedDuringIngest { path: path.to_owned() });
        }
        staging.written(ObjectKind::Blob, digest);
    }
    Ok((digest, size))
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn hash_stream(file: &mut File, path: &Path) -> Result<(Digest, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = read_full(file, &mut buf).ctx("reading", path)?;
        if n == 0 {
            break;
        }
        hasher.update_rayon(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}

fn compress_stream(file: &mut File, path: &Path, staged: &Path, size: u64, level: i32) -> Result<(Digest, u64)> {
    let out = crate::objects::create_object_file(staged).ctx("creating", staged)?;
    let mut encoder = zstd::stream::write::Encoder::new(io::BufWriter::with_capacity(1 << 20, out), level)
        .ctx("compressing", path)?;
    let workers = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    if workers > 1 {
        encoder.multithread(workers).ctx("compressing", path)?;
    }
    encoder.include_contentsize(true).ctx("compressing", path)?;
    encoder.set_pledged_src_size(Some(size)).ctx("compressing", path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = read_full(file, &mut buf).ctx("reading", path)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > size {
            return Err(StoreError::ChangedDuringIngest { path: path.to_owned() });
        }
        hasher.update(&buf[..n]);
        encoder.write_all(&buf[..n]).ctx("writing", staged)?;
    }
    if total != size {
        return Err(StoreError::ChangedDuringIngest { path: path.to_owned() });
    }
    let mut writer = encoder.finish().ctx("writing", staged)?;
    writer.flush().ctx("writing", staged)?;
    Ok((hasher.finalize().into(), total))
}

/// Stages a single blob from memory; returns its digest.
pub(crate) fn stage_blob(staging: &Staging<'_>, data: &[u8], level: i32) -> Result<Digest> {
    let digest = Digest::of_bytes(data);
    if staging.claim(ObjectKind::Blob, &digest) {
        let compressed = compress_small(level, data).map_err(|e| StoreError::io("compressing", "<memory>", e))?;
        staging.write_bytes(ObjectKind::Blob, digest, &compressed)?;
    }
    Ok(digest)
}

/// Stages a single file's contents; returns its digest and size.
pub(crate) fn stage_blob_file(staging: &Staging<'_>, path: &Path, level: i32) -> Result<(Digest, u64)> {
    ingest_file(staging, path, level)
}
