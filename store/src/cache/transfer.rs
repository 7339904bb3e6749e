//! Moving outputs between the local store and caches, verified both ways.
//!
//! * [`push`]: the entries named (their output trees and logs) and their equivalence
//!   records go to a cache, asking first what it holds (in batches, top-down: a tree
//!   the cache has is complete there, so nothing below it is asked for), then writing
//!   only what it lacks: blobs, trees children first, entries, equivalence records.
//! * [`Substituters`]: the caches a build reads, in order, with the keys it trusts. It
//!   answers for many taskhashes or unihashes at once, and fetches outputs into the
//!   local store: every object is checked against its digest before it is stored, and
//!   an entry is recorded only once its whole tree is there. A cache that fails is
//!   warned about and not asked again; the caller builds what it could not fetch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::digest::{Digest, Taskhash, TreeDigest, Unihash};
use crate::error::{ObjectKind, StoreError};
use crate::records::Equivalence;
use crate::store::Store;
use crate::tree::{self, Node, Tree};

use super::keys::{SecretKey, TrustedKeys};
use super::record::{EntryRecord, EquivalenceRecord};
use super::{Cache, CacheError, Key, parallel_map};

/// Objects moved at once (per batch of requests).
const CHUNK: usize = 64;
/// Blobs fetched per request batch while substituting: small enough that downloading the
/// next batch overlaps verifying and writing this one from the start.
const BLOB_CHUNK: usize = 16;
/// Transfers in flight at once.
const WORKERS: usize = 8;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{cache}: {key}: {reason}")]
    Rejected { cache: String, key: String, reason: String },
    #[error("{cache}: {key} is missing (the cache's entry is incomplete)")]
    Missing { cache: String, key: String },
}

/// Counts of a transfer, updated as it goes (for progress).
#[derive(Debug, Default)]
pub struct Progress {
    pub objects: AtomicU64,
    pub bytes: AtomicU64,
}

impl Progress {
    fn add(&self, bytes: usize) {
        self.objects.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// What a push did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PushReport {
    /// Entries written (the cache lacked them).
    pub entries: usize,
    /// Entries the cache had already.
    pub entries_present: usize,
    /// Entries the store could not describe (no report of the task that made them).
    pub entries_unknown: usize,
    pub equivalences: usize,
    pub objects: usize,
    pub bytes: u64,
    /// Existence questions asked (keys) and batches they went in.
    pub asked: usize,
    pub batches: usize,
}

/// What to push: an entry (by unihash) and the taskhashes known to stand for it.
#[derive(Debug, Clone)]
pub struct PushItem {
    pub unihash: Unihash,
    pub taskhashes: Vec<Taskhash>,
}

fn ask(cache: &dyn Cache, keys: &[Key], report: &mut PushReport) -> Result<Vec<bool>, CacheError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    report.asked += keys.len();
    report.batches += 1;
    cache.contains(keys)
}

/// Pushes `items` from `store` to `cache`, signing records with `key`.
pub fn push(
    store: &Store,
    cache: &dyn Cache,
    items: &[PushItem],
    key: Option<&SecretKey>,
    progress: &Progress,
) -> Result<PushReport, TransferError> {
    let mut report = PushReport::default();
    cache.initialise()?;
    let mut entries: BTreeMap<Unihash, EntryRecord> = BTreeMap::new();
    let mut equivalences: BTreeMap<Taskhash, EquivalenceRecord> = BTreeMap::new();
    for item in items {
        match store.entry_record(&item.unihash)? {
            Some(mut r) => {
                if let Some(k) = key {
                    r.sign(k);
                }
                entries.insert(item.unihash, r);
            }
            None => report.entries_unknown += 1,
        }
        for t in &item.taskhashes {
            if *t.digest() == *item.unihash.digest() {
                continue;
            }
            if let Some(mut r) = store.equivalence_record(t)? {
                if let Some(k) = key {
                    r.sign(k);
                }
                equivalences.insert(*t, r);
            }
        }
    }
    let entry_keys: Vec<Key> = entries.keys().map(|u| Key::Entry(*u)).collect();
    let present = ask(cache, &entry_keys, &mut report)?;
    let missing: Vec<&EntryRecord> = entries.values().zip(&present).filter(|(_, p)| !**p).map(|(r, _)| r).collect();
    report.entries_present = entries.len() - missing.len();

    // Trees top-down: a tree the cache has is complete there.
    let mut trees: Vec<Vec<(Digest, Vec<u8>)>> = Vec::new();
    let mut blobs: BTreeSet<Digest> = missing.iter().filter_map(|r| r.entry.log.map(|l| *l.digest())).collect();
    let mut seen: BTreeSet<Digest> = BTreeSet::new();
    let mut frontier: Vec<Digest> =
        missing.iter().map(|r| *r.entry.root.digest()).filter(|d| seen.insert(*d)).collect();
    while !frontier.is_empty() {
        let keys: Vec<Key> = frontier.iter().map(|d| Key::Object(ObjectKind::Tree, *d)).collect();
        let present = ask(cache, &keys, &mut report)?;
        let mut level = Vec::new();
        let mut next = Vec::new();
        for (d, p) in frontier.iter().zip(present) {
            if p {
                continue;
            }
            let t = store.read_tree(&TreeDigest::from_digest(*d))?;
            for e in t.entries() {
                match &e.node {
                    Node::File { digest, .. } => {
                        blobs.insert(*digest.digest());
                    }
                    Node::Directory { digest, .. } if seen.insert(*digest.digest()) => next.push(*digest.digest()),
                    _ => {}
                }
            }
            level.push((*d, t.encode()));
        }
        trees.push(level);
        frontier = next;
    }
    let blobs: Vec<Digest> = blobs.into_iter().collect();
    let mut upload: Vec<Key> = Vec::new();
    for chunk in blobs.chunks(8192) {
        let keys: Vec<Key> = chunk.iter().map(|d| Key::Object(ObjectKind::Blob, *d)).collect();
        let present = ask(cache, &keys, &mut report)?;
        upload.extend(keys.into_iter().zip(present).filter(|(_, p)| !p).map(|(k, _)| k));
    }
    let chunks: Vec<&[Key]> = upload.chunks(CHUNK).collect();
    let results = parallel_map(&chunks, WORKERS, |chunk| -> Result<(usize, u64), TransferError> {
        let mut raws = Vec::with_capacity(chunk.len());
        for k in chunk.iter() {
            if let Key::Object(kind, d) = k {
                raws.push((*k, store.read_raw_object(*kind, d)?));
            }
        }
        let items: Vec<(Key, &[u8])> = raws.iter().map(|(k, raw)| (*k, raw.as_slice())).collect();
        cache.put_many(&items)?;
        raws.iter().for_each(|(_, raw)| progress.add(raw.len()));
        Ok((raws.len(), raws.iter().map(|(_, raw)| raw.len() as u64).sum()))
    });
    for r in results {
        let (objects, bytes) = r?;
        report.objects += objects;
        report.bytes += bytes;
    }
    // Trees children first (deepest level first), each level in chunks.
    for level in trees.iter().rev() {
        let chunks: Vec<&[(Digest, Vec<u8>)]> = level.chunks(CHUNK).collect();
        let results = parallel_map(&chunks, WORKERS, |chunk| -> Result<(usize, u64), TransferError> {
            let items: Vec<(Key, &[u8])> =
                chunk.iter().map(|(d, raw)| (Key::Object(ObjectKind::Tree, *d), raw.as_slice())).collect();
            cache.put_many(&items)?;
            chunk.iter().for_each(|(_, raw)| progress.add(raw.len()));
            Ok((chunk.len(), chunk.iter().map(|(_, raw)| raw.len() as u64).sum()))
        });
        for r in results {
            let (objects, bytes) = r?;
            report.objects += objects;
            report.bytes += bytes;
        }
    }
    let encoded: Vec<(Key, Vec<u8>)> = missing.iter().map(|r| (Key::Entry(r.unihash), r.encode())).collect();
    report.entries += put_records(cache, &encoded)?;
    let eq_keys: Vec<Key> = equivalences.keys().map(|t| Key::Equivalence(*t)).collect();
    let present = ask(cache, &eq_keys, &mut report)?;
    let eq_missing: Vec<&EquivalenceRecord> =
        equivalences.values().zip(present).filter(|(_, p)| !p).map(|(r, _)| r).collect();
    let encoded: Vec<(Key, Vec<u8>)> =
        eq_missing.iter().map(|r| (Key::Equivalence(r.equivalence.taskhash), r.encode())).collect();
    report.equivalences += put_records(cache, &encoded)?;
    Ok(report)
}

/// Writes records, in chunks, several chunks at once; returns how many.
fn put_records(cache: &dyn Cache, records: &[(Key, Vec<u8>)]) -> Result<usize, CacheError> {
    let chunks: Vec<&[(Key, Vec<u8>)]> = records.chunks(CHUNK).collect();
    let mut done = 0;
    for r in parallel_map(&chunks, WORKERS, |chunk| {
        let items: Vec<(Key, &[u8])> = chunk.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        cache.put_many(&items).map(|_| chunk.len())
    }) {
        done += r?;
    }
    Ok(done)
}

/// An entry a cache offers, with a trusted signature.
#[derive(Debug, Clone)]
pub struct Found {
    /// Which cache (position in [`Substituters`]).
    pub cache: usize,
    pub record: EntryRecord,
}

/// The caches a build substitutes from, in order, and the keys it trusts.
pub struct Substituters {
    caches: Vec<Box<dyn Cache>>,
    down: Vec<AtomicBool>,
    trusted: TrustedKeys,
}

impl Substituters {
    pub fn new(caches: Vec<Box<dyn Cache>>, trusted: TrustedKeys) -> Self {
        let down = caches.iter().map(|_| AtomicBool::new(false)).collect();
        Self { caches, down, trusted }
    }

    /// No cache to ask.
    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// The caches' URLs, in order.
    pub fn urls(&self) -> Vec<&str> {
        self.caches.iter().map(|c| c.url()).collect()
    }

    fn usable(&self, i: usize) -> bool {
        !self.down[i].load(Ordering::Relaxed)
    }

    fn failed(&self, i: usize, e: &dyn std::fmt::Display) {
        if !self.down[i].swap(true, Ordering::Relaxed) {
            tracing::warn!("binary cache {}: {e}; not asking it again in this build", self.caches[i].url());
        }
    }

    /// The values of `keys` that cache `i` holds (None for the others, and for all
    /// when the cache fails).
    fn values(&self, i: usize, keys: &[Key]) -> Vec<Option<Vec<u8>>> {
        let cache = &self.caches[i];
        let present = match cache.contains(keys) {
            Ok(p) => p,
            Err(e) => {
                self.failed(i, &e);
                return vec![None; keys.len()];
            }
        };
        let wanted: Vec<Key> = keys.iter().zip(&present).filter(|(_, p)| **p).map(|(k, _)| *k).collect();
        let mut got = cache.get_many(&wanted).into_iter();
        let mut out = Vec::with_capacity(keys.len());
        for p in present {
            if !p {
                out.push(None);
                continue;
            }
            match got.next() {
                Some(Ok(v)) => out.push(v),
                Some(Err(e)) => {
                    self.failed(i, &e);
                    out.push(None);
                }
                None => out.push(None),
            }
        }
        out
    }

    /// For each of `n` asks, the first answer (caches in order) that `accept` takes from
    /// the value of `key(ask)`; `accept(ask, cache, url, bytes)` says why it refuses.
    fn first_accepted<T: Clone>(
        &self,
        n: usize,
        key: impl Fn(usize) -> Key,
        accept: impl Fn(usize, usize, &str, &[u8]) -> Option<T>,
    ) -> Vec<Option<T>> {
        let mut out: Vec<Option<T>> = vec![None; n];
        for i in 0..self.caches.len() {
            let open: Vec<usize> = (0..n).filter(|&a| out[a].is_none()).collect();
            if open.is_empty() || !self.usable(i) {
                continue;
            }
            let keys: Vec<Key> = open.iter().map(|&a| key(a)).collect();
            for (a, value) in open.into_iter().zip(self.values(i, &keys)) {
                if let Some(bytes) = value {
                    out[a] = accept(a, i, self.caches[i].url(), &bytes);
                }
            }
        }
        out
    }

    /// Trusted hash equivalence for `(task identity, taskhash)` pairs: the first cache
    /// (in order) with a trusted record of that taskhash for that task.
    pub fn equivalences(&self, asks: &[(String, Taskhash)]) -> Vec<Option<Equivalence>> {
        self.first_accepted(
            asks.len(),
            |a| Key::Equivalence(asks[a].1),
            |a, _, url, bytes| {
                let (identity, taskhash) = &asks[a];
                match EquivalenceRecord::decode(bytes) {
                    Ok(r) if r.equivalence.taskhash != *taskhash || r.equivalence.identity != *identity => {
                        tracing::warn!("{url}: ignoring the equivalence record of {taskhash}: it is another task's");
                        None
                    }
                    Ok(r) if r.trusted_by(&self.trusted).is_some() => Some(r.equivalence),
                    Ok(_) => {
                        tracing::warn!(
                            "{url}: ignoring the equivalence record of {identity} ({taskhash}): no signature by a \
                             trusted key (RSTORE_TRUSTED_KEYS)"
                        );
                        None
                    }
                    Err(e) => {
                        tracing::warn!("{url}: ignoring the equivalence record of {taskhash}: {e}");
                        None
                    }
                }
            },
        )
    }

    /// Trusted entries for `(task identity, unihash)` pairs: the first cache (in order)
    /// with a trusted entry record of that unihash for that task.
    pub fn entries(&self, asks: &[(String, Unihash)]) -> Vec<Option<Found>> {
        self.first_accepted(
            asks.len(),
            |a| Key::Entry(asks[a].1),
            |a, cache, url, bytes| {
                let (identity, unihash) = &asks[a];
                match EntryRecord::decode(bytes) {
                    Ok(r) if r.unihash != *unihash || r.identity != *identity => {
                        tracing::warn!("{url}: ignoring the entry record of {unihash}: it is another task's");
                        None
                    }
                    Ok(r) if r.trusted_by(&self.trusted).is_some() => Some(Found { cache, record: r }),
                    Ok(_) => {
                        tracing::warn!(
                            "{url}: ignoring the entry record of {identity} ({unihash}): no signature by a trusted \
                             key (RSTORE_TRUSTED_KEYS)"
                        );
                        None
                    }
                    Err(e) => {
                        tracing::warn!("{url}: ignoring the entry record of {unihash}: {e}");
                        None
                    }
                }
            },
        )
    }

    /// Fetches found entries into `store`, several at once. One result per entry: an
    /// entry is recorded only when its whole output is stored and verified.
    pub fn fetch(&self, store: &Store, found: &[Found], progress: &Progress) -> Vec<Result<(), TransferError>> {
        parallel_map(found, 4, |f| {
            let r = fetch_one(store, &*self.caches[f.cache], &f.record, progress);
            if let Err(TransferError::Cache(e)) = &r {
                self.failed(f.cache, e);
            }
            r
        })
    }
}

fn rejected(cache: &dyn Cache, key: &Key, reason: impl Into<String>) -> TransferError {
    TransferError::Rejected { cache: cache.url().to_owned(), key: key.to_string(), reason: reason.into() }
}

/// The values of `keys` (all of them, or an error).
fn get_all(cache: &dyn Cache, keys: &[Key]) -> Result<Vec<Vec<u8>>, TransferError> {
    keys.iter()
        .zip(cache.get_many(keys))
        .map(|(k, v)| v?.ok_or_else(|| TransferError::Missing { cache: cache.url().to_owned(), key: k.to_string() }))
        .collect()
}

fn fetch_one(store: &Store, cache: &dyn Cache, record: &EntryRecord, progress: &Progress) -> Result<(), TransferError> {
    let root = record.entry.root;
    if store.tree_info(&root)?.is_none() {
        let mut levels: Vec<Vec<(Digest, Vec<u8>)>> = Vec::new();
        let mut blobs: BTreeSet<Digest> = BTreeSet::new();
        let mut frontier: Vec<Digest> = vec![*root.digest()];
        let mut seen: BTreeSet<Digest> = frontier.iter().copied().collect();
        while !frontier.is_empty() {
            let mut level = Vec::new();
            let mut next = Vec::new();
            for chunk in frontier.chunks(CHUNK) {
                let keys: Vec<Key> = chunk.iter().map(|d| Key::Object(ObjectKind::Tree, *d)).collect();
                for ((d, key), raw) in chunk.iter().zip(&keys).zip(get_all(cache, &keys)?) {
                    if *tree::digest_of_encoding(&raw).digest() != *d {
                        return Err(rejected(cache, key, "its bytes do not hash to its name"));
                    }
                    let t = Tree::decode(&raw).map_err(|e| rejected(cache, key, e.to_string()))?;
                    progress.add(raw.len());
                    for e in t.entries() {
                        match &e.node {
                            Node::File { digest, .. } if !store.has_object(ObjectKind::Blob, digest.digest()) => {
                                blobs.insert(*digest.digest());
                            }
                            Node::Directory { digest, .. }
                                if !store.has_object(ObjectKind::Tree, digest.digest())
                                    && seen.insert(*digest.digest()) =>
                            {
                                next.push(*digest.digest());
                            }
                            _ => {}
                        }
                    }
                    level.push((*d, raw));
                }
            }
            levels.push(level);
            frontier = next;
        }
        fetch_blobs(store, cache, &blobs.into_iter().collect::<Vec<_>>(), progress)?;
        // Children first: a stored tree's children are always stored.
        for level in levels.iter().rev() {
            let objects: Vec<(ObjectKind, Digest, &[u8])> =
                level.iter().map(|(d, raw)| (ObjectKind::Tree, *d, raw.as_slice())).collect();
            store.import_raw_objects(&objects)?;
        }
        store.commit_tree(&root)?;
    }
    if let Some(log) = record.entry.log
        && !store.has_object(ObjectKind::Blob, log.digest())
    {
        fetch_blobs(store, cache, &[*log.digest()], progress)?;
    }
    store.put_entry(&record.unihash, record.entry.clone())?;
    store.import_equivalence(&Equivalence {
        identity: record.identity.clone(),
        taskhash: record.taskhash,
        unihash: record.unihash,
        outhash: record.outhash(),
    })?;
    Ok(())
}

/// Fetches `blobs` in chunks, the next chunk downloading while the last is verified and
/// written: the network, the cores and the disk work at once.
fn fetch_blobs(store: &Store, cache: &dyn Cache, blobs: &[Digest], progress: &Progress) -> Result<(), TransferError> {
    // Every chunk verified and staged as it arrives; all made durable by one sync.
    let mut staged = store.import()?;
    let mut import = |chunk: &[Digest], raws: Vec<Vec<u8>>| -> Result<(), TransferError> {
        let objects: Vec<(ObjectKind, Digest, &[u8])> =
            chunk.iter().zip(&raws).map(|(d, raw)| (ObjectKind::Blob, *d, raw.as_slice())).collect();
        staged.add(&objects).map_err(|e| match e {
            StoreError::ImportRejected { kind, expected, source } => {
                rejected(cache, &Key::Object(kind, expected), source.to_string())
            }
            other => TransferError::Store(other),
        })
    };
    let download = |chunk: &[Digest]| -> Result<Vec<Vec<u8>>, TransferError> {
        let keys: Vec<Key> = chunk.iter().map(|d| Key::Object(ObjectKind::Blob, *d)).collect();
        let raws = get_all(cache, &keys)?;
        raws.iter().for_each(|raw| progress.add(raw.len()));
        Ok(raws)
    };
    let chunks: Vec<&[Digest]> = blobs.chunks(BLOB_CHUNK).collect();
    if chunks.len() < 2 {
        // Nothing to overlap (a log, a small output): no thread.
        for chunk in chunks {
            import(chunk, download(chunk)?)?;
        }
        return Ok(staged.commit()?);
    }
    let stop = AtomicBool::new(false);
    let fetched = std::thread::scope(|scope| {
        // One chunk downloaded ahead, no more (memory stays at two chunks).
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Vec<Vec<u8>>, TransferError>>(1);
        let (chunks_ref, stop_ref, download_ref) = (&chunks, &stop, &download);
        scope.spawn(move || {
            for chunk in chunks_ref {
                if stop_ref.load(Ordering::Relaxed) {
                    return;
                }
                let got = download_ref(chunk);
                let failed = got.is_err();
                if sender.send(got).is_err() || failed {
                    return;
                }
            }
        });
        for chunk in &chunks {
            let raws = match receiver.recv() {
                Ok(got) => got,
                Err(_) => break,
            };
            if let Err(e) = raws.and_then(|raws| import(chunk, raws)) {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    });
    fetched?;
    Ok(staged.commit()?)
}

/// One thing wrong with a cache.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheProblem {
    /// The record or object (`entry b3:…`, `blob b3:…`).
    pub key: String,
    pub problem: String,
}

/// What [`verify`] found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub entries: usize,
    pub equivalences: usize,
    /// Records with a signature by a trusted key.
    pub trusted: usize,
    pub objects: usize,
    pub bytes: u64,
    pub problems: Vec<CacheProblem>,
}

/// Checks the records `keys` of `cache`: each decodes, is the record of its key and is
/// signed by a trusted key; each entry's output tree and log are all there, and every
/// object hashes to its name.
pub fn verify(cache: &dyn Cache, keys: &[Key], trusted: &TrustedKeys, progress: &Progress) -> VerifyReport {
    let mut report = VerifyReport::default();
    let problem = |report: &mut VerifyReport, key: &Key, text: String| {
        report.problems.push(CacheProblem { key: key.to_string(), problem: text });
    };
    let mut roots: Vec<Digest> = Vec::new();
    let mut blobs: BTreeSet<Digest> = BTreeSet::new();
    for (key, value) in keys.iter().zip(cache.get_many(keys)) {
        let bytes = match value {
            Ok(Some(b)) => b,
            Ok(None) => {
                problem(&mut report, key, "missing".into());
                continue;
            }
            Err(e) => {
                problem(&mut report, key, e.to_string());
                continue;
            }
        };
        let signed = match key {
            Key::Entry(u) => {
                report.entries += 1;
                match EntryRecord::decode(&bytes) {
                    Ok(r) if r.unihash != *u => Err("the record is another unihash's".to_owned()),
                    Ok(r) => {
                        roots.push(*r.entry.root.digest());
                        blobs.extend(r.entry.log.map(|l| *l.digest()));
                        Ok(r.trusted_by(trusted).is_some())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Key::Equivalence(t) => {
                report.equivalences += 1;
                match EquivalenceRecord::decode(&bytes) {
                    Ok(r) if r.equivalence.taskhash != *t => Err("the record is another taskhash's".to_owned()),
                    Ok(r) => Ok(r.trusted_by(trusted).is_some()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Key::Object(..) => Ok(true),
        };
        match signed {
            Ok(true) => report.trusted += 1,
            Ok(false) => problem(&mut report, key, "no signature by a trusted key".into()),
            Err(e) => problem(&mut report, key, e),
        }
    }
    // Trees top-down, then blobs; every object once.
    let mut seen: BTreeSet<Digest> = roots.iter().copied().collect();
    let mut frontier: Vec<Digest> = seen.iter().copied().collect();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for chunk in frontier.chunks(CHUNK) {
            let keys: Vec<Key> = chunk.iter().map(|d| Key::Object(ObjectKind::Tree, *d)).collect();
            for ((d, key), value) in chunk.iter().zip(&keys).zip(cache.get_many(&keys)) {
                let raw = match value {
                    Ok(Some(raw)) => raw,
                    Ok(None) => {
                        problem(&mut report, key, "missing".into());
                        continue;
                    }
                    Err(e) => {
                        problem(&mut report, key, e.to_string());
                        continue;
                    }
                };
                report.objects += 1;
                report.bytes += raw.len() as u64;
                progress.add(raw.len());
                if let Err(e) = crate::store::check_raw_object(ObjectKind::Tree, d, &raw) {
                    problem(&mut report, key, e.to_string());
                    continue;
                }
                let Ok(t) = Tree::decode(&raw) else { continue };
                for e in t.entries() {
                    match &e.node {
                        Node::File { digest, .. } => {
                            blobs.insert(*digest.digest());
                        }
                        Node::Directory { digest, .. } if seen.insert(*digest.digest()) => next.push(*digest.digest()),
                        _ => {}
                    }
                }
            }
        }
        frontier = next;
    }
    let blobs: Vec<Digest> = blobs.into_iter().collect();
    for chunk in blobs.chunks(CHUNK) {
        let keys: Vec<Key> = chunk.iter().map(|d| Key::Object(ObjectKind::Blob, *d)).collect();
        for ((d, key), value) in chunk.iter().zip(&keys).zip(cache.get_many(&keys)) {
            match value {
                Ok(Some(raw)) => {
                    report.objects += 1;
                    report.bytes += raw.len() as u64;
                    progress.add(raw.len());
                    if let Err(e) = crate::store::check_raw_object(ObjectKind::Blob, d, &raw) {
                        problem(&mut report, key, e.to_string());
                    }
                }
                Ok(None) => problem(&mut report, key, "missing".into()),
                Err(e) => problem(&mut report, key, e.to_string()),
            }
        }
    }
    report
}
