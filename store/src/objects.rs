//! Reading and writing objects: zstd blobs and tree encodings, keyed by digest.
//!
//! New objects are written into a [`Staging`] area (a directory in this process's
//! scratch space) without syncing. [`Staging::commit`] then makes them durable with
//! one `syncfs`, renames them into place (blobs first, then trees children-first, so a
//! tree is never visible before what it names), and syncs again so the renames are
//! durable before any index record can name them.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::digest::Digest;
use crate::error::{Corruption, IoContext, ObjectKind, Result, StoreError};
use crate::layout::Layout;
use crate::tree::{self, Tree};

/// Reads a tree object, verifying its digest and canonical encoding.
pub(crate) fn read_tree(layout: &Layout, digest: &Digest) -> Result<Tree> {
    let path = layout.object_path(ObjectKind::Tree, digest);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::MissingObject { kind: ObjectKind::Tree, digest: *digest });
        }
        Err(e) => return Err(StoreError::io("reading", path, e)),
    };
    let corrupt =
        |source| StoreError::CorruptObject { kind: ObjectKind::Tree, digest: *digest, path: path.clone(), source };
    let actual = *tree::digest_of_encoding(&bytes).digest();
    if actual != *digest {
        return Err(corrupt(Corruption::HashMismatch { actual }));
    }
    Tree::decode(&bytes).map_err(|e| corrupt(Corruption::Decode(e)))
}

/// Opens a blob for reading; the reader fails with `InvalidData` if the contents
/// do not hash to `digest` when the end is reached.
pub(crate) fn open_blob(layout: &Layout, digest: &Digest) -> Result<BlobReader> {
    let path = layout.object_path(ObjectKind::Blob, digest);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::MissingObject { kind: ObjectKind::Blob, digest: *digest });
        }
        Err(e) => return Err(StoreError::io("opening", path, e)),
    };
    if file.metadata().ctx("reading", &path)?.len() == 0 {
        let source = Corruption::Decompress(io::Error::new(io::ErrorKind::UnexpectedEof, "empty blob file"));
        return Err(StoreError::CorruptObject { kind: ObjectKind::Blob, digest: *digest, path, source });
    }
    let decoder = zstd::stream::read::Decoder::new(file).ctx("opening", &path)?;
    Ok(BlobReader { inner: decoder, hasher: blake3::Hasher::new(), expected: *digest, path, done: false })
}

/// Streams a blob's uncompressed contents, checking the digest at the end.
pub struct BlobReader {
    inner: zstd::stream::read::Decoder<'static, BufReader<File>>,
    hasher: blake3::Hasher,
    expected: Digest,
    path: PathBuf,
    done: bool,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader").field("digest", &self.expected).field("path", &self.path).finish()
    }
}

impl BlobReader {
    /// The digest being read.
    pub fn digest(&self) -> &Digest {
        &self.expected
    }

    /// Reads everything, turning damage into [`StoreError::CorruptObject`].
    pub fn read_all(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out).map_err(|e| self.error(e))?;
        Ok(out)
    }

    /// Copies everything to `out`, turning damage into [`StoreError::CorruptObject`].
    /// Errors writing to `out` are reported against `out_path`.
    pub fn copy_to(mut self, out: &mut dyn Write, out_path: &Path) -> Result<u64> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match self.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.error(e)),
            };
            out.write_all(&buf[..n]).ctx("writing", out_path)?;
            total += n as u64;
        }
    }

    /// Classifies a read error: damage becomes [`StoreError::CorruptObject`].
    pub(crate) fn error(&self, e: io::Error) -> StoreError {
        let source = match e.get_ref().and_then(|inner| inner.downcast_ref::<HashMismatch>()) {
            Some(m) => Corruption::HashMismatch { actual: m.0 },
            None if is_damage(&e) => Corruption::Decompress(e),
            None => return StoreError::io("reading", self.path.clone(), e),
        };
        StoreError::CorruptObject { kind: ObjectKind::Blob, digest: self.expected, path: self.path.clone(), source }
    }
}

fn is_damage(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::Other)
}

#[derive(Debug)]
struct HashMismatch(Digest);

impl std::fmt::Display for HashMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "contents hash to {}", self.0)
    }
}

impl std::error::Error for HashMismatch {}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.done = true;
            let actual: Digest = self.hasher.finalize().into();
            if actual != self.expected {
                return Err(io::Error::new(io::ErrorKind::InvalidData, HashMismatch(actual)));
            }
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Decompresses and hashes a whole blob file, returning its digest and size.
pub(crate) fn hash_blob_file(path: &Path) -> std::result::Result<(Digest, u64), Corruption> {
    let file = File::open(path).map_err(Corruption::Decompress)?;
    // Blobs are always one complete zstd frame; an empty file is a truncated blob
    // (the streaming decoder would read it as empty contents).
    if file.metadata().map_err(Corruption::Decompress)?.len() == 0 {
        return Err(Corruption::Decompress(io::Error::new(io::ErrorKind::UnexpectedEof, "empty blob file")));
    }
    let mut decoder = zstd::stream::read::Decoder::new(file).map_err(Corruption::Decompress)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Corruption::Decompress(e)),
        }
    }
    Ok((hasher.finalize().into(), size))
}

/// The uncompressed size recorded in a blob's zstd frame header, if any.
pub(crate) fn blob_content_size(path: &Path) -> Option<u64> {
    let mut header = [0u8; 18];
    let mut file = File::open(path).ok()?;
    let mut filled = 0;
    while filled < header.len() {
        match file.read(&mut header[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return None,
        }
    }
    zstd::zstd_safe::get_frame_content_size(&header[..filled]).ok().flatten()
}

/// Creates a new object file: read-only (0444) from the start, so no later open for
/// writing succeeds by accident, nor any process of another user. The returned handle
/// may write it.
pub(crate) fn create_object_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(path)
}

/// New objects written by one operation, not yet visible in the store.
pub(crate) struct Staging<'a> {
    layout: &'a Layout,
    dir: PathBuf,
    state: Mutex<StagingState>,
}

#[derive(Default)]
struct StagingState {
    claimed: HashSet<(ObjectKind, Digest)>,
    blobs: Vec<Digest>,
    trees: Vec<Digest>,
}

impl<'a> Staging<'a> {
    pub(crate) fn new(layout: &'a Layout, dir: PathBuf) -> Result<Self> {
        fs::create_dir(&dir).ctx("creating directory", &dir)?;
        Ok(Self { layout, dir, state: Mutex::new(StagingState::default()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StagingState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims an object for writing: `false` if the store or this staging area has it.
    pub(crate) fn claim(&self, kind: ObjectKind, digest: &Digest) -> bool {
        if self.layout.object_path(kind, digest).exists() {
            return false;
        }
        self.lock().claimed.insert((kind, *digest))
    }

    /// Where a claimed object is written before commit.
    pub(crate) fn path(&self, kind: ObjectKind, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}-{}", if kind == ObjectKind::Blob { 'b' } else { 't' }, digest.to_hex()))
    }

    /// Records a claimed object as completely written.
    pub(crate) fn written(&self, kind: ObjectKind, digest: Digest) {
        let mut st = self.lock();
        match kind {
            ObjectKind::Blob => st.blobs.push(digest),
            ObjectKind::Tree => st.trees.push(digest),
        }
    }

    /// Writes a whole object from memory (blob bytes already compressed).
    pub(crate) fn write_bytes(&self, kind: ObjectKind, digest: Digest, bytes: &[u8]) -> Result<()> {
        let path = self.path(kind, &digest);
        let mut f = create_object_file(&path).ctx("creating", &path)?;
        f.write_all(bytes).ctx("writing", &path)?;
        drop(f);
        self.written(kind, digest);
        Ok(())
    }

    /// Makes every staged object durable and visible. Trees are renamed in the order
    /// they were written, which callers keep children-first.
    pub(crate) fn commit(self, sync_fd: impl AsFd) -> Result<CommitStats> {
        let st = std::mem::take(&mut *self.lock());
        let mut stats = CommitStats::default();
        if st.blobs.is_empty() && st.trees.is_empty() {
            let _ = fs::remove_dir(&self.dir);
            return Ok(stats);
        }
        rustix::fs::syncfs(&sync_fd).ctx("syncing", self.layout.root())?;
        for (kind, list) in [(ObjectKind::Blob, &st.blobs), (ObjectKind::Tree, &st.trees)] {
            for digest in list {
                let from = self.path(kind, digest);
                let to = self.layout.object_path(kind, digest);
                if kind == ObjectKind::Blob {
                    stats.stored_bytes += fs::metadata(&from).map(|m| m.len()).unwrap_or(0);
                    stats.blobs += 1;
                } else {
                    stats.trees += 1;
                }
                crate::layout::place(&to, || fs::rename(&from, &to)).ctx("moving object into place", &to)?;
            }
        }
        rustix::fs::syncfs(&sync_fd).ctx("syncing", self.layout.root())?;
        let _ = fs::remove_dir(&self.dir);
        Ok(stats)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        // After a successful commit the directory is gone; after a failure the
        // leftovers are garbage.
        if self.dir.exists() {
            let _ = crate::lock::remove_tree_forcibly(&self.dir);
        }
    }
}

/// What a commit made visible.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CommitStats {
    pub(crate) blobs: u64,
    pub(crate) trees: u64,
    pub(crate) stored_bytes: u64,
}
