//! The index: an embedded rocksdb database with one column family per table.
//!
//! | table      | key                         | value                              |
//! |------------|-----------------------------|------------------------------------|
//! | `meta`     | `schema`                    | schema version, decimal ASCII      |
//! | `taskhash` | taskhash (32 bytes)         | unihash (32 bytes)                 |
//! | `entries`  | unihash (32 bytes)          | [`Entry`] encoding                 |
//! | `outhash`  | outhash (32) ‖ task identity| unihash (32 bytes)                 |
//! | `trees`    | root digest (32 bytes)      | [`TreeInfo`] encoding              |
//! | `roots`    | `pin:NAME` / `link:PATH`    | [`RootTarget`] encoding            |
//! | `reports`  | taskhash (32 bytes)         | [`Equivalence`] encoding           |
//!
//! `reports` keeps, for each taskhash, the task it belongs to and the outhash that gave
//! it its unihash: what a binary cache's signed equivalence records carry. It was
//! added to schema 2 without a version change (a table rocksdb creates when missing);
//! taskhashes reported before it existed have no report and are not pushed.
//!
//! rocksdb lets one process at a time open a database for writing. The index is
//! therefore opened only while a process needs it, under an exclusive `flock` on
//! `index.lock`, and closed again at the end of the operation. A process that wants
//! the index while another has it holds a shared lock on `index.want` while it
//! waits. A process keeps the index open while it uses it: a background thread
//! closes the database 50 ms after the last operation, or within 10 ms once another
//! process is waiting (seen through `index.want`), so bursts of operations pay for
//! one open and no process waits for long. Every multi-key update is one `WriteBatch`
//! written with `sync`, and read-modify-write updates happen while the lock is held,
//! so they are atomic with respect to other processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::codec::DecodeError;
use crate::digest::{DIGEST_LEN, Digest, Outhash, Taskhash, TreeDigest, Unihash};
use crate::entry::Entry;
use crate::error::{Result, StoreError};
use crate::lock::LockFile;
use crate::records::{Equivalence, GcRoot, RootName, RootTarget, TreeInfo};

/// The index schema version this build reads and writes.
///
/// * 1: the first.
/// * 2: taskhashes and unihashes of the derivation encoding version 2 (length-prefixed,
///   see `rstore_evaluator::derivation`). The records keyed by version-1 hashes can
///   never be looked up again: opening a schema-1 index upgrades it in place
///   ([`upgrade_from_1`]), keeping every object, tree record and GC root.
pub const SCHEMA_VERSION: u32 = 2;

/// Names of the tables (column families).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// Schema version.
    Meta,
    /// taskhash → unihash.
    Taskhash,
    /// unihash → entry.
    Entries,
    /// (outhash, task identity) → first unihash.
    Outhash,
    /// Complete trees.
    Trees,
    /// GC roots.
    Roots,
    /// taskhash → task identity, unihash and outhash.
    Reports,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 7] =
        [Table::Meta, Table::Taskhash, Table::Entries, Table::Outhash, Table::Trees, Table::Roots, Table::Reports];

    /// The column family name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Taskhash => "taskhash",
            Table::Entries => "entries",
            Table::Outhash => "outhash",
            Table::Trees => "trees",
            Table::Roots => "roots",
            Table::Reports => "reports",
        }
    }
}

const SCHEMA_KEY: &[u8] = b"schema";

/// The records of some tables, read in one go.
pub(crate) type Snapshot = Vec<(Table, Vec<(Vec<u8>, Vec<u8>)>)>;

/// The records of `table` in a snapshot.
pub(crate) fn records(snapshot: &Snapshot, table: Table) -> &[(Vec<u8>, Vec<u8>)] {
    snapshot.iter().find(|(t, _)| *t == table).map(|(_, r)| r.as_slice()).unwrap_or(&[])
}

/// How long the index stays open after the last operation.
const IDLE_CLOSE: Duration = Duration::from_millis(50);
/// How often the closer thread looks for idleness and waiting processes.
const CLOSER_TICK: Duration = Duration::from_millis(10);

/// Lazily opened, lock-guarded access to the rocksdb database.
pub(crate) struct Index {
    shared: Arc<Shared>,
    closer: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    dir: PathBuf,
    lock_path: PathBuf,
    want: LockFile,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    open: Option<OpenDb>,
    last_used: Option<Instant>,
    shutdown: bool,
}

struct OpenDb {
    db: DB,
    // Declared after `db` so the database closes before the lock is released.
    _lock: LockFile,
}

impl Index {
    pub(crate) fn new(dir: PathBuf, lock_path: PathBuf, want_path: &Path) -> Result<Self> {
        let shared = Arc::new(Shared {
            dir,
            lock_path,
            want: LockFile::open(want_path)?,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let closer = std::thread::Builder::new()
            .name("rstore-index-closer".into())
            .spawn(move || for_thread.close_when_idle())
            .map_err(|e| StoreError::io("starting the index closer thread", "<thread>", e))?;
        Ok(Self { shared, closer: Some(closer) })
    }

    /// Runs `f` with the database open, opening it first if needed. The database
    /// stays open for [`IDLE_CLOSE`] after the last operation, or until another
    /// process waits for it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Db<'_>) -> Result<R>) -> Result<R> {
        let mut state = self.shared.state();
        if state.open.is_none() {
            state.open = Some(self.shared.open()?);
            self.shared.wake.notify_all();
        }
        let result = match state.open.as_ref() {
            Some(open) => f(&Db { db: &open.db }),
            None => unreachable!("opened above"),
        };
        state.last_used = Some(Instant::now());
        result
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.shared.state().shutdown = true;
        self.shared.wake.notify_all();
        if let Some(handle) = self.closer.take() {
            let _ = handle.join();
        }
        self.shared.state().open = None;
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn close_when_idle(&self) {
        let mut state = self.state();
        loop {
            if state.shutdown {
                return;
            }
            if state.open.is_none() {
                state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let idle = state.last_used.is_none_or(|t| t.elapsed() >= IDLE_CLOSE);
            if idle || self.someone_waiting() {
                state.open = None;
                continue;
            }
            state = self.wake.wait_timeout(state, CLOSER_TICK).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn someone_waiting(&self) -> bool {
        match self.want.try_lock_exclusive() {
            Ok(true) => {
                let _ = self.want.unlock();
                false
            }
            _ => true,
        }
    }

    fn open(&self) -> Result<OpenDb> {
        let lock = LockFile::open(&self.lock_path)?;
        if !lock.try_lock_exclusive()? {
            tracing::debug!("waiting for another process to close the store index");
            self.want.lock_shared()?;
            let locked = lock.lock_exclusive();
            self.want.unlock()?;
            locked?;
        }
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(2);
        opts.set_max_log_file_size(1 << 20);
        opts.set_log_level(rocksdb::LogLevel::Warn);
        opts.set_skip_stats_update_on_db_open(true);
        opts.set_stats_dump_period_sec(0);
        opts.set_stats_persist_period_sec(0);
        let cfs = Table::ALL.iter().map(|t| ColumnFamilyDescriptor::new(t.name(), Options::default()));
        let db = DB::open_cf_descriptors(&opts, &self.dir, cfs).map_err(|e| StoreError::index("opening", e))?;
        let handle = Db { db: &db };
        match handle.get(Table::Meta, SCHEMA_KEY)? {
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(handle.cf(Table::Meta)?, SCHEMA_KEY, SCHEMA_VERSION.to_string());
                handle.write(batch, "writing schema version")?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(v) if v == b"1" => upgrade_from_1(&handle)?,
            Some(v) => {
                return Err(StoreError::IndexSchema {
                    found: String::from_utf8_lossy(&v).into_owned(),
                    supported: SCHEMA_VERSION,
                });
            }
        }
        Ok(OpenDb { db, _lock: lock })
    }
}

/// The open database, with typed accessors.
pub(crate) struct Db<'a> {
    db: &'a DB,
}

/// Upgrades a schema-1 index to schema 2 in one batch. Hash-equivalence records
/// (`taskhash`, `outhash`) and entries are keyed by hashes of the old derivation
/// encoding, which no build computes any more: they are dropped. A GC root that kept an
/// entry alive keeps that entry's output tree instead, so nothing a user kept is
/// collected. Objects and tree records are untouched; the next build of a task runs it
/// again and finds its output's objects already stored.
fn upgrade_from_1(db: &Db<'_>) -> Result<()> {
    let mut batch = WriteBatch::default();
    let mut dropped = 0usize;
    for table in [Table::Taskhash, Table::Outhash] {
        for (key, _) in db.scan(table)? {
            batch.delete_cf(db.cf(table)?, key);
            dropped += 1;
        }
    }
    let entries = db.scan(Table::Entries)?;
    for (key, value) in db.scan(Table::Roots)? {
        let Ok(RootTarget::Entry(unihash)) = RootTarget::decode(&value) else { continue };
        let root = entries.iter().find(|(k, _)| k.as_slice() == unihash.as_bytes()).and_then(|(_, v)| entry_v1_root(v));
        match root {
            Some(root) => batch.put_cf(db.cf(Table::Roots)?, &key, RootTarget::Tree(root).encode()),
            None => batch.delete_cf(db.cf(Table::Roots)?, &key),
        }
    }
    for (key, _) in entries {
        batch.delete_cf(db.cf(Table::Entries)?, key);
        dropped += 1;
    }
    batch.put_cf(db.cf(Table::Meta)?, SCHEMA_KEY, SCHEMA_VERSION.to_string());
    db.write(batch, "upgrading the index from schema 1")?;
    tracing::info!(
        "upgraded the store index from schema 1 to {SCHEMA_VERSION}: {dropped} records of old hashes dropped"
    );
    Ok(())
}

/// The output tree an entry of encoding version 1 (schema 1) names: it follows the
/// magic and the version byte.
fn entry_v1_root(bytes: &[u8]) -> Option<TreeDigest> {
    let rest = bytes.strip_prefix(crate::entry::ENTRY_MAGIC.as_bytes())?.strip_prefix(&[1])?;
    Digest::from_slice(rest.get(..DIGEST_LEN)?).ok().map(TreeDigest::from_digest)
}

fn key_text(key: &[u8]) -> String {
    match Digest::from_slice(key) {
        Ok(d) => d.to_string(),
        Err(_) => String::from_utf8_lossy(key).into_owned(),
    }
}

/// A printable form of an index key (hex for digest keys).
pub(crate) fn printable_key(table: Table, key: &[u8]) -> String {
    match table {
        Table::Outhash if key.len() > DIGEST_LEN => {
            let (d, rest) = key.split_at(DIGEST_LEN);
            format!(
                "{}:{}",
                Digest::from_slice(d).map(|d| d.to_string()).unwrap_or_default(),
                String::from_utf8_lossy(rest)
            )
        }
        _ => key_text(key),
    }
}

fn digest_value(table: Table, key: &[u8], value: &[u8]) -> Result<Digest> {
    Digest::from_slice(value).map_err(|_| StoreError::CorruptIndexValue {
        table: table.name(),
        key: printable_key(table, key),
        source: DecodeError::InvalidField {
            field: "digest",
            offset: 0,
            reason: format!("{} bytes instead of 32", value.len()),
        },
    })
}

impl Db<'_> {
    pub(crate) fn cf(&self, table: Table) -> Result<&ColumnFamily> {
        self.db.cf_handle(table.name()).ok_or(StoreError::MissingTable { table: table.name() })
    }

    pub(crate) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(table)?, key).map_err(|e| StoreError::index("reading", e))
    }

    pub(crate) fn write(&self, batch: WriteBatch, action: &'static str) -> Result<()> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts).map_err(|e| StoreError::index(action, e))
    }

    /// Every (key, value) of a table, in key order.
    pub(crate) fn scan(&self, table: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(table)?, IteratorMode::Start) {
            let (k, v) = item.map_err(|e| StoreError::index("scanning", e))?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// Number of keys in a table.
    pub(crate) fn count(&self, table: Table) -> Result<u64> {
        let mut n = 0;
        for item in self.db.iterator_cf(self.cf(table)?, IteratorMode::Start) {
            item.map_err(|e| StoreError::index("scanning", e))?;
            n += 1;
        }
        Ok(n)
    }

    pub(crate) fn unihash(&self, taskhash: &Taskhash) -> Result<Option<Unihash>> {
        match self.get(Table::Taskhash, taskhash.as_bytes())? {
            None => Ok(None),
            Some(v) => digest_value(Table::Taskhash, taskhash.as_bytes(), &v).map(|d| Some(Unihash::from_digest(d))),
        }
    }

    /// Hash equivalence: see [`crate::Store::report`] for the rules.
    pub(crate) fn report(&self, identity: &str, taskhash: &Taskhash, outhash: &Outhash) -> Result<Unihash> {
        let mut out_key = outhash.as_bytes().to_vec();
        out_key.extend_from_slice(identity.as_bytes());
        let owner = match self.get(Table::Outhash, &out_key)? {
            Some(v) => Some(Unihash::from_digest(digest_value(Table::Outhash, &out_key, &v)?)),
            None => None,
        };
        let existing = self.unihash(taskhash)?;
        let unihash = existing.or(owner).unwrap_or(Unihash::from_taskhash(*taskhash));
        let mut batch = WriteBatch::default();
        if existing.is_none() {
            batch.put_cf(self.cf(Table::Taskhash)?, taskhash.as_bytes(), unihash.as_bytes());
            let report = Equivalence { identity: identity.to_owned(), taskhash: *taskhash, unihash, outhash: *outhash };
            batch.put_cf(self.cf(Table::Reports)?, taskhash.as_bytes(), report.encode_value());
        }
        if owner.is_none() {
            batch.put_cf(self.cf(Table::Outhash)?, &out_key, unihash.as_bytes());
        }
        if !batch.is_empty() {
            self.write(batch, "recording hash equivalence")?;
        }
        if let (Some(existing), Some(owner)) = (existing, owner)
            && existing != owner
        {
            tracing::debug!(%taskhash, %outhash, "taskhash keeps unihash {existing}; outhash is owned by {owner}");
        }
        Ok(unihash)
    }

    /// Records an equivalence proved elsewhere (a trusted cache's record) under the
    /// rules of [`Db::report`]: a taskhash that has a unihash keeps it; an outhash
    /// that has an owner for this task keeps it. Returns the taskhash's unihash.
    pub(crate) fn import_equivalence(&self, e: &Equivalence) -> Result<Unihash> {
        let mut out_key = e.outhash.as_bytes().to_vec();
        out_key.extend_from_slice(e.identity.as_bytes());
        let existing = self.unihash(&e.taskhash)?;
        let mut batch = WriteBatch::default();
        if existing.is_none() {
            batch.put_cf(self.cf(Table::Taskhash)?, e.taskhash.as_bytes(), e.unihash.as_bytes());
            batch.put_cf(self.cf(Table::Reports)?, e.taskhash.as_bytes(), e.encode_value());
        }
        if self.get(Table::Outhash, &out_key)?.is_none() {
            batch.put_cf(self.cf(Table::Outhash)?, &out_key, e.unihash.as_bytes());
        }
        if !batch.is_empty() {
            self.write(batch, "recording hash equivalence")?;
        }
        Ok(existing.unwrap_or(e.unihash))
    }

    /// What the index knows of `taskhash`: its task, unihash and outhash.
    pub(crate) fn equivalence(&self, taskhash: &Taskhash) -> Result<Option<Equivalence>> {
        match self.get(Table::Reports, taskhash.as_bytes())? {
            None => Ok(None),
            Some(v) => Equivalence::decode_value(*taskhash, &v).map(Some).map_err(|source| {
                StoreError::CorruptIndexValue { table: Table::Reports.name(), key: taskhash.to_string(), source }
            }),
        }
    }

    pub(crate) fn entry(&self, unihash: &Unihash) -> Result<Option<Entry>> {
        match self.get(Table::Entries, unihash.as_bytes())? {
            None => Ok(None),
            Some(v) => Entry::decode(&v).map(Some).map_err(|source| StoreError::CorruptIndexValue {
                table: Table::Entries.name(),
                key: unihash.to_string(),
                source,
            }),
        }
    }

    pub(crate) fn tree_info(&self, root: &TreeDigest) -> Result<Option<TreeInfo>> {
        match self.get(Table::Trees, root.as_bytes())? {
            None => Ok(None),
            Some(v) => TreeInfo::decode(&v).map(Some).map_err(|source| StoreError::CorruptIndexValue {
                table: Table::Trees.name(),
                key: root.to_string(),
                source,
            }),
        }
    }

    pub(crate) fn put_tree_info(&self, root: &TreeDigest, info: &TreeInfo) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(Table::Trees)?, root.as_bytes(), info.encode());
        self.write(batch, "recording a complete tree")
    }

    pub(crate) fn put_root(&self, root: &GcRoot) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(Table::Roots)?, root.name.key(), root.target.encode());
        self.write(batch, "adding a GC root")
    }

    pub(crate) fn delete_root(&self, name: &RootName) -> Result<bool> {
        let key = name.key();
        if self.get(Table::Roots, &key)?.is_none() {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(Table::Roots)?, key);
        self.write(batch, "removing a GC root")?;
        Ok(true)
    }

    /// All roots that decode; undecodable ones are verify's business.
    pub(crate) fn roots(&self) -> Result<Vec<GcRoot>> {
        let mut out = Vec::new();
        for (k, v) in self.scan(Table::Roots)? {
            match (RootName::from_key(&k), RootTarget::decode(&v)) {
                (Some(name), Ok(target)) => out.push(GcRoot { name, target }),
                _ => tracing::warn!("ignoring corrupt GC root record {}", key_text(&k)),
            }
        }
        Ok(out)
    }

    /// Deletes keys from tables in one batch.
    pub(crate) fn delete_all(&self, keys: &[(Table, Vec<u8>)], action: &'static str) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (table, key) in keys {
            batch.delete_cf(self.cf(*table)?, key);
        }
        self.write(batch, action)
    }

    /// Writes a raw value (tests use it to simulate damage).
    pub(crate) fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(table)?, key, value);
        self.write(batch, "writing")
    }

    pub(crate) fn batch_put(&self, batch: &mut WriteBatch, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        batch.put_cf(self.cf(table)?, key, value);
        Ok(())
    }
}
