//! [`Store`]: the handle every caller uses.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::checkout::{self, Access, MaterialiseOutcome};
use crate::digest::{BlobDigest, Digest, Outhash, Taskhash, TreeDigest, Unihash};
use crate::entry::Entry;
use crate::error::{Corruption, IoContext, ObjectKind, Result, StoreError};
use crate::export::{self, TarOptions};
use crate::gc::{self, GcOptions, GcReport};
use crate::index::{Index, Table};
use crate::ingest::{self, IngestOptions, IngestOutcome};
use crate::layout::Layout;
use crate::lock::{LockFile, Scratch};
use crate::objects::{self, BlobReader, Staging};
use crate::records::{Equivalence, GcRoot, RootName, RootTarget, TreeInfo};
use crate::reporter::{Phase, Reporter};
use crate::stats::{self, StoreStats};
use crate::tree::{self, Node, Tree};
use crate::verify::{self, VerifyOptions, VerifyReport};

/// Longest accepted task identity, in bytes.
pub const MAX_TASK_IDENTITY: usize = 4096;

/// An open store. One per process is enough: it is `Send + Sync` and every method
/// takes `&self`. Opening takes the store lock shared; [`Store::gc`] and
/// [`Store::verify`] with repair take it exclusively for their duration.
pub struct Store {
    layout: Layout,
    lock: LockFile,
    ops: RwLock<()>,
    scratch: Scratch,
    index: Index,
    sync_dir: File,
    /// Per tree, the entries its overlay checkouts show with fewer mode bits than recorded.
    pub(crate) withheld: std::sync::Mutex<
        std::collections::HashMap<crate::digest::TreeDigest, std::sync::Arc<Vec<crate::exact::WithheldMode>>>,
    >,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.layout.root()).finish()
    }
}

impl Store {
    /// Opens the store at `dir`, creating it if needed. Blocks while another process
    /// collects garbage or repairs the store.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let dir = if dir.is_absolute() {
            dir.to_owned()
        } else {
            std::env::current_dir().ctx("reading current directory", ".")?.join(dir)
        };
        let layout = Layout::new(dir);
        layout.create_or_check()?;
        let lock = LockFile::open(&layout.lock_file())?;
        crate::boot::lock_shared_with_fresh_checkouts(&layout, &lock)?;
        let removed = Scratch::remove_stale(&layout.tmp_dir())?;
        if removed > 0 {
            tracing::debug!("removed {removed} scratch directories left by dead processes");
        }
        let scratch = Scratch::create(&layout.tmp_dir())?;
        let index = Index::new(layout.index_dir(), layout.index_lock_file(), &layout.index_want_file())?;
        let sync_dir = File::open(layout.root()).ctx("opening", layout.root())?;
        Ok(Self { layout, lock, ops: RwLock::new(()), scratch, index, sync_dir, withheld: Default::default() })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    fn shared_op(&self) -> RwLockReadGuard<'_, ()> {
        self.ops.read().unwrap_or_else(|p| p.into_inner())
    }

    fn staging(&self) -> Result<Staging<'_>> {
        Staging::new(&self.layout, self.scratch.unique_path("stage"))
    }

    /// Runs `f` holding the store lock exclusively, then returns to shared.
    fn exclusive<R>(&self, reporter: &dyn Reporter, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let _ops: RwLockWriteGuard<'_, ()> = self.ops.write().unwrap_or_else(|p| p.into_inner());
        if !self.lock.try_lock_exclusive()? {
            reporter.start(Phase::WaitingForLock, None);
            tracing::info!("waiting for other processes using {} to finish", self.dir().display());
            self.lock.lock_exclusive()?;
            reporter.finish(Phase::WaitingForLock);
        }
        let result = f();
        self.lock.lock_shared()?;
        result
    }

    // ----- objects -----

    /// Ingests the directory `path` and returns its root tree and counts. When this
    /// returns, every object is durable and the tree is recorded as complete.
    #[tracing::instrument(skip_all, err, fields(path = %path.display()))]
    pub fn ingest(&self, path: &Path, options: &IngestOptions, reporter: &dyn Reporter) -> Result<IngestOutcome> {
        let _op = self.shared_op();
        let staging = self.staging()?;
        let mut outcome = ingest::ingest_tree(&staging, path, options, reporter)?;
        reporter.start(Phase::Syncing, None);
        let committed = staging.commit(&self.sync_dir)?;
        reporter.finish(Phase::Syncing);
        outcome.new_blobs = committed.blobs;
        outcome.new_trees = committed.trees;
        outcome.stored_bytes = committed.stored_bytes;
        let info = TreeInfo {
            logical_bytes: outcome.logical_bytes,
            files: outcome.files,
            directories: outcome.directories,
            symlinks: outcome.symlinks,
        };
        self.index.with(|db| db.put_tree_info(&outcome.root, &info))?;
        Ok(outcome)
    }

    /// Stores `data` as a durable blob (for example a task log).
    pub fn add_blob(&self, data: &[u8]) -> Result<BlobDigest> {
        let _op = self.shared_op();
        let staging = self.staging()?;
        let digest = ingest::stage_blob(&staging, data, 3)?;
        staging.commit(&self.sync_dir)?;
        Ok(BlobDigest::from_digest(digest))
    }

    /// Stores the contents of the file at `path` as a durable blob.
    pub fn add_blob_file(&self, path: &Path) -> Result<BlobDigest> {
        let _op = self.shared_op();
        let staging = self.staging()?;
        let (digest, _) = ingest::stage_blob_file(&staging, path, 3)?;
        staging.commit(&self.sync_dir)?;
        Ok(BlobDigest::from_digest(digest))
    }

    /// Stores the contents of an open regular file as a durable blob (`name` says which
    /// file in errors). For callers that walk a directory by descriptors.
    pub fn add_blob_opened(&self, file: File, name: &Path) -> Result<BlobDigest> {
        let _op = self.shared_op();
        let staging = self.staging()?;
        let (digest, _) = ingest::ingest_opened(&staging, file, name, 3)?;
        staging.commit(&self.sync_dir)?;
        Ok(BlobDigest::from_digest(digest))
    }

    /// Whether the object is present (without verifying it).
    pub fn has_object(&self, kind: ObjectKind, digest: &Digest) -> bool {
        self.layout.object_path(kind, digest).is_file()
    }

    /// Reads and verifies a tree object.
    pub fn read_tree(&self, digest: &TreeDigest) -> Result<Tree> {
        objects::read_tree(&self.layout, digest.digest())
    }

    /// Streams a blob's contents; the reader fails if they do not match `digest`.
    pub fn open_blob(&self, digest: &BlobDigest) -> Result<BlobReader> {
        objects::open_blob(&self.layout, digest.digest())
    }

    /// Reads a whole blob, verified.
    pub fn read_blob(&self, digest: &BlobDigest) -> Result<Vec<u8>> {
        objects::open_blob(&self.layout, digest.digest())?.read_all()
    }

    /// The stored form of an object, for binary caches: the canonical tree encoding,
    /// or the blob's zstd frame. Verified before it is returned.
    pub fn read_raw_object(&self, kind: ObjectKind, digest: &Digest) -> Result<Vec<u8>> {
        match kind {
            ObjectKind::Tree => Ok(objects::read_tree(&self.layout, digest)?.encode()),
            ObjectKind::Blob => {
                let path = self.layout.object_path(kind, digest);
                let raw = match fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(StoreError::MissingObject { kind, digest: *digest });
                    }
                    Err(e) => return Err(StoreError::io("reading", path, e)),
                };
                check_raw_blob(digest, &raw).map_err(|source| StoreError::CorruptObject {
                    kind,
                    digest: *digest,
                    path,
                    source,
                })?;
                Ok(raw)
            }
        }
    }

    /// Adds an object in its stored form (see [`Store::read_raw_object`]) after
    /// checking that it hashes to `digest` (and, for trees, is canonical). The object
    /// is durable on return. Trees may arrive before what they name; call
    /// [`Store::commit_tree`] once everything has arrived.
    pub fn import_raw_object(&self, kind: ObjectKind, digest: &Digest, raw: &[u8]) -> Result<()> {
        self.import_raw_objects(&[(kind, *digest, raw)])
    }

    /// Adds many objects at once, like [`Store::import_raw_object`], with one sync
    /// for all of them. Every object is checked before any is written; blobs become
    /// visible before trees, and trees in the order given (give children first).
    pub fn import_raw_objects(&self, objects: &[(ObjectKind, Digest, &[u8])]) -> Result<()> {
        let mut import = self.import()?;
        import.add(objects)?;
        import.commit()
    }

    /// An import of objects in several batches made durable and visible together (one
    /// sync at the end, the disk writing while later batches arrive).
    pub fn import(&self) -> Result<Import<'_>> {
        let op = self.shared_op();
        Ok(Import { staging: self.staging()?, sync_dir: &self.sync_dir, _op: op })
    }

    /// Checks that every object under `root` is present and records the tree as
    /// complete, so entries may name it. Returns its totals.
    pub fn commit_tree(&self, root: &TreeDigest) -> Result<TreeInfo> {
        let _op = self.shared_op();
        let mut info = TreeInfo::default();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![*root];
        let top = objects::read_tree(&self.layout, root.digest()).map_err(|e| incomplete(root, e))?;
        info.logical_bytes = top.logical_size();
        while let Some(t) = stack.pop() {
            let tree = objects::read_tree(&self.layout, t.digest()).map_err(|e| incomplete(root, e))?;
            info.directories += 1;
            for entry in tree.entries() {
                match &entry.node {
                    Node::File { digest, .. } => {
                        info.files += 1;
                        if seen.insert(*digest) && !self.has_object(ObjectKind::Blob, digest.digest()) {
                            return Err(StoreError::IncompleteTree {
                                root: *root,
                                kind: ObjectKind::Blob,
                                missing: *digest.digest(),
                            });
                        }
                    }
                    Node::Directory { digest, .. } => stack.push(*digest),
                    Node::Symlink { .. } => info.symlinks += 1,
                }
            }
        }
        rustix::fs::syncfs(&self.sync_dir).ctx("syncing", self.dir())?;
        self.index.with(|db| db.put_tree_info(root, &info))?;
        Ok(info)
    }

    /// The record of a complete tree, if it is one.
    pub fn tree_info(&self, root: &TreeDigest) -> Result<Option<TreeInfo>> {
        self.index.with(|db| db.tree_info(root))
    }

    /// What `path` (slash-separated, relative) names inside tree `root`, with its
    /// mode. The empty path names the root itself. Symlinks are not followed.
    pub fn resolve(&self, root: &TreeDigest, path: &str) -> Result<(Node, u32)> {
        let not_found = || StoreError::PathNotFound { root: *root, path: path.to_owned() };
        let top = objects::read_tree(&self.layout, root.digest())?;
        let mut node = Node::Directory { digest: *root, size: top.logical_size() };
        let mut mode = 0o755;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            let Node::Directory { digest, .. } = &node else {
                return Err(not_found());
            };
            let tree = if digest == root { top.clone() } else { objects::read_tree(&self.layout, digest.digest())? };
            let entry = tree.get(part.as_bytes()).ok_or_else(not_found)?;
            node = entry.node.clone();
            mode = entry.mode;
        }
        Ok((node, mode))
    }

    /// Streams the regular file at `path` inside tree `root`.
    pub fn open_file(&self, root: &TreeDigest, path: &str) -> Result<BlobReader> {
        match self.resolve(root, path)? {
            (Node::File { digest, .. }, _) => self.open_blob(&digest),
            (other, _) => Err(StoreError::NotAFile { root: *root, path: path.to_owned(), kind: other.kind_name() }),
        }
    }

    /// Materialises tree `root` as the new directory `dest`.
    pub fn materialise(
        &self,
        root: &TreeDigest,
        dest: &Path,
        access: Access,
        reporter: &dyn Reporter,
    ) -> Result<MaterialiseOutcome> {
        let _op = self.shared_op();
        checkout::materialise(&self.layout, &self.scratch, root.digest(), dest, access, reporter)
    }

    /// The read-only checkout directory of tree `root` inside the store (created on
    /// first use), suitable as an overlayfs lower directory. It stays valid while
    /// the tree is reachable from a GC root.
    pub fn checkout(&self, root: &TreeDigest, reporter: &dyn Reporter) -> Result<PathBuf> {
        let _op = self.shared_op();
        checkout::tree_checkout(&self.layout, &self.scratch, root.digest(), reporter)
    }

    /// Writes tree `root` as a deterministic tar archive (see [`crate::export`]).
    pub fn export_tar(&self, root: &TreeDigest, out: &mut dyn Write, options: &TarOptions) -> Result<()> {
        let _op = self.shared_op();
        export::write_tar(&self.layout, root.digest(), out, options)
    }

    // ----- hash equivalence and entries -----

    /// Reports that the task `identity` with `taskhash` produced `outhash`, and
    /// returns the task's unihash:
    ///
    /// * a taskhash that already has a unihash keeps it, whatever it reports now;
    /// * otherwise, if an earlier taskhash of the same task produced the same outhash,
    ///   the new taskhash gets that taskhash's unihash;
    /// * otherwise its unihash is the taskhash itself, and it becomes the owner of
    ///   `(identity, outhash)` for later reports.
    ///
    /// A unihash, once assigned, never changes. All of this happens in one atomic
    /// update while this process holds the index.
    pub fn report(&self, identity: &str, taskhash: &Taskhash, outhash: &Outhash) -> Result<Unihash> {
        check_identity(identity)?;
        self.index.with(|db| db.report(identity, taskhash, outhash))
    }

    /// Records a hash equivalence proved elsewhere (a trusted binary cache's record),
    /// with the rules of [`Store::report`]: a taskhash that has a unihash keeps it.
    /// Returns the taskhash's unihash.
    pub fn import_equivalence(&self, equivalence: &Equivalence) -> Result<Unihash> {
        check_identity(&equivalence.identity)?;
        self.index.with(|db| db.import_equivalence(equivalence))
    }

    /// What hash equivalence knows of `taskhash`: its task, unihash and outhash
    /// (None for a taskhash never reported, or reported before the store kept this).
    pub fn equivalence(&self, taskhash: &Taskhash) -> Result<Option<Equivalence>> {
        self.index.with(|db| db.equivalence(taskhash))
    }

    /// The unihash recorded for `taskhash`, if any.
    pub fn lookup(&self, taskhash: &Taskhash) -> Result<Option<Unihash>> {
        self.index.with(|db| db.unihash(taskhash))
    }

    /// Records what the task with `unihash` produced. The output tree must be
    /// complete in the store (ingested, or imported and committed) and the log blob
    /// present. Entries are written once: if one exists already it is kept and
    /// returned; otherwise `entry` is stored and returned.
    pub fn put_entry(&self, unihash: &Unihash, mut entry: Entry) -> Result<Entry> {
        entry.validate().map_err(|source| StoreError::InvalidEntry { unihash: *unihash, source })?;
        let encoded = entry.encode().map_err(|source| StoreError::InvalidEntry { unihash: *unihash, source })?;
        if let Some(log) = entry.log
            && !self.has_object(ObjectKind::Blob, log.digest())
        {
            return Err(StoreError::EntryLogMissing { unihash: *unihash, log });
        }
        self.index.with(|db| {
            if let Some(existing) = db.entry(unihash)? {
                return Ok(existing);
            }
            if db.tree_info(&entry.root)?.is_none() {
                return Err(StoreError::EntryTreeMissing { unihash: *unihash, root: entry.root });
            }
            let mut batch = rocksdb::WriteBatch::default();
            db.batch_put(&mut batch, Table::Entries, unihash.as_bytes(), &encoded)?;
            db.write(batch, "writing an entry")?;
            Ok(entry)
        })
    }

    /// The entry for `unihash`, if any.
    pub fn entry(&self, unihash: &Unihash) -> Result<Option<Entry>> {
        self.index.with(|db| db.entry(unihash))
    }

    // ----- GC roots -----

    /// Adds (or replaces) the pin `name`.
    pub fn pin(&self, name: &str, target: RootTarget) -> Result<()> {
        let root = GcRoot { name: RootName::pin(name)?, target };
        self.index.with(|db| db.put_root(&root))
    }

    /// Removes the pin `name`.
    pub fn unpin(&self, name: &str) -> Result<()> {
        let root = RootName::pin(name)?;
        if !self.index.with(|db| db.delete_root(&root))? {
            return Err(StoreError::NoSuchRoot { name: name.to_owned() });
        }
        Ok(())
    }

    /// Registers a result link: `target` stays alive while something exists at
    /// `link` (typically a symlink a build created to a materialised output).
    pub fn register_result_link(&self, link: &Path, target: RootTarget) -> Result<()> {
        let link = absolute_link_path(link)?;
        let root = GcRoot { name: RootName::Link(link), target };
        self.index.with(|db| db.put_root(&root))
    }

    /// Forgets a result link registered with [`Store::register_result_link`].
    pub fn unregister_result_link(&self, link: &Path) -> Result<()> {
        let link = absolute_link_path(link)?;
        let name = RootName::Link(link.clone());
        if !self.index.with(|db| db.delete_root(&name))? {
            return Err(StoreError::NoSuchRoot { name: link.display().to_string() });
        }
        Ok(())
    }

    /// Every GC root.
    pub fn roots(&self) -> Result<Vec<GcRoot>> {
        self.index.with(|db| db.roots())
    }

    // ----- maintenance -----

    /// Re-hashes every object (and checkout copy), decodes every index record and
    /// finds records that depend on missing or corrupt objects. With
    /// `options.repair`, removes all of those (under the exclusive lock) so they are
    /// rebuilt or substituted again.
    pub fn verify(&self, options: &VerifyOptions, reporter: &dyn Reporter) -> Result<VerifyReport> {
        let run = || -> Result<VerifyReport> {
            // Records first, objects second: an ingest that finishes in between adds
            // objects before records, so the snapshot never names an unseen object.
            let snapshot =
                self.index.with(|db| Table::ALL.iter().map(|t| Ok((*t, db.scan(*t)?))).collect::<Result<Vec<_>>>())?;
            let mut findings = verify::scan(&self.layout, &snapshot, options, reporter)?;
            if options.repair {
                let records = std::mem::take(&mut findings.delete_records);
                findings.report.removed_records = records.len() as u64;
                self.index.with(|db| db.delete_all(&records, "removing broken records"))?;
                for path in &findings.delete_paths {
                    crate::lock::remove_tree_forcibly(path)?;
                    findings.report.removed_files += 1;
                }
                findings.report.repaired = true;
            }
            Ok(findings.report)
        };
        if options.repair {
            self.exclusive(reporter, run)
        } else {
            let _op = self.shared_op();
            run()
        }
    }

    /// Deletes everything no GC root reaches (see [`crate::gc`]). Takes the store
    /// lock exclusively, waiting for other processes that have the store open.
    pub fn gc(&self, options: &GcOptions, reporter: &dyn Reporter) -> Result<GcReport> {
        let run = || {
            let snapshot = self.index.with(|db| {
                [Table::Roots, Table::Entries, Table::Trees]
                    .iter()
                    .map(|t| Ok((*t, db.scan(*t)?)))
                    .collect::<Result<Vec<_>>>()
            })?;
            let (report, plan) = gc::plan(&self.layout, &snapshot)?;
            if !options.dry_run {
                self.index.with(|db| db.delete_all(&plan.records, "deleting unreachable records"))?;
                gc::delete_files(&plan, reporter)?;
            }
            Ok(GcReport { dry_run: options.dry_run, ..report })
        };
        if options.dry_run {
            let _op = self.shared_op();
            run()
        } else {
            self.exclusive(reporter, run)
        }
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Result<StoreStats> {
        let _op = self.shared_op();
        let from_index = self.index.with(stats::from_index)?;
        stats::add_files(&self.layout, from_index)
    }

    /// Writes a raw index value, bypassing every check. Only for tests that need to
    /// simulate damage.
    #[doc(hidden)]
    pub fn debug_put_index_value(&self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.index.with(|db| db.put_raw(table, key, value))
    }

    /// Where an object is stored. Only for tests that need to simulate damage.
    #[doc(hidden)]
    pub fn debug_object_path(&self, kind: ObjectKind, digest: &Digest) -> PathBuf {
        self.layout.object_path(kind, digest)
    }
}

/// Objects arriving in batches (from a binary cache), each verified as it arrives,
/// none visible before [`Import::commit`]. Dropped without commit, nothing is stored.
pub struct Import<'a> {
    staging: Staging<'a>,
    sync_dir: &'a File,
    _op: RwLockReadGuard<'a, ()>,
}

impl Import<'_> {
    /// Verifies `objects` (each must hash to its name; on every core) and stages them.
    pub fn add(&mut self, objects: &[(ObjectKind, Digest, &[u8])]) -> Result<()> {
        // Decompressing and hashing is most of the work: on every core.
        use rayon::prelude::*;
        objects.par_iter().try_for_each(|(kind, digest, raw)| {
            check_raw_object(*kind, digest, raw).map_err(|source| StoreError::ImportRejected {
                kind: *kind,
                expected: *digest,
                source,
            })
        })?;
        for (kind, digest, raw) in objects {
            if self.staging.claim(*kind, digest) {
                self.staging.write_bytes(*kind, *digest, raw)?;
            }
        }
        Ok(())
    }

    /// Makes every object added durable, then visible.
    pub fn commit(self) -> Result<()> {
        self.staging.commit(self.sync_dir)?;
        Ok(())
    }
}

fn incomplete(root: &TreeDigest, e: StoreError) -> StoreError {
    match e {
        StoreError::MissingObject { kind, digest } => StoreError::IncompleteTree { root: *root, kind, missing: digest },
        other => other,
    }
}

fn check_identity(identity: &str) -> Result<()> {
    let bad = |reason| StoreError::InvalidTaskIdentity { identity: identity.to_owned(), reason };
    if identity.is_empty() {
        return Err(bad("empty"));
    }
    if identity.len() > MAX_TASK_IDENTITY {
        return Err(bad("longer than 4096 bytes"));
    }
    Ok(())
}

/// Checks an object in its raw form (as [`Store::read_raw_object`] gives it and a
/// binary cache ships it): a tree's encoding must hash to `digest` and decode; a
/// blob's zstd frame must decompress to contents that hash to `digest`.
pub fn check_raw_object(kind: ObjectKind, digest: &Digest, raw: &[u8]) -> std::result::Result<(), Corruption> {
    match kind {
        ObjectKind::Tree => {
            let actual = *tree::digest_of_encoding(raw).digest();
            if actual != *digest {
                return Err(Corruption::HashMismatch { actual });
            }
            Tree::decode(raw).map(|_| ()).map_err(Corruption::Decode)
        }
        ObjectKind::Blob => check_raw_blob(digest, raw),
    }
}

fn check_raw_blob(digest: &Digest, raw: &[u8]) -> std::result::Result<(), Corruption> {
    if raw.is_empty() {
        return Err(Corruption::Decompress(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "empty blob")));
    }
    let mut decoder = zstd::stream::read::Decoder::new(raw).map_err(Corruption::Decompress)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
            }
            Err(e) => return Err(Corruption::Decompress(e)),
        }
    }
    let actual: Digest = hasher.finalize().into();
    if actual != *digest {
        return Err(Corruption::HashMismatch { actual });
    }
    Ok(())
}

fn absolute_link_path(link: &Path) -> Result<PathBuf> {
    let link = if link.is_absolute() {
        link.to_owned()
    } else {
        std::env::current_dir().ctx("reading current directory", ".")?.join(link)
    };
    // Canonicalise the parent only: the link itself may be a symlink (or not exist yet).
    match (link.parent(), link.file_name()) {
        (Some(parent), Some(name)) => match fs::canonicalize(parent) {
            Ok(p) => Ok(p.join(name)),
            Err(_) => Ok(link.clone()),
        },
        _ => Ok(link),
    }
}
