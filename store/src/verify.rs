//! `verify`: re-hash every object and checkout, decode every index record, and find
//! records that name objects which are missing or corrupt.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::codec::DecodeError;
use crate::digest::{DIGEST_LEN, Digest, Taskhash};
use crate::entry::Entry;
use crate::error::{Corruption, ObjectKind, Result};
use crate::index::{Snapshot, Table, printable_key, records};
use crate::layout::{self, Layout};
use crate::objects;
use crate::records::{RootName, RootTarget, TreeInfo};
use crate::reporter::{Phase, Reporter};
use crate::tree::{self, Node, Tree};

/// Options for [`crate::Store::verify`].
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Remove what is broken (takes the store's exclusive lock).
    pub repair: bool,
    /// Also re-hash the checkout cache.
    pub checkouts: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self { repair: false, checkouts: true }
    }
}

/// Something wrong in the store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// An object whose contents do not match its name (flipped bytes, truncation).
    CorruptObject {
        /// Blob or tree.
        kind: ObjectKind,
        /// Its name.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// An object named (directly or through trees) by an index record but absent.
    MissingObject {
        /// Blob or tree.
        kind: ObjectKind,
        /// Its digest.
        digest: Digest,
    },
    /// A file in the object directories whose name is not a digest.
    StrayFile {
        /// Where.
        path: PathBuf,
    },
    /// An index record whose key or value does not decode.
    CorruptIndexValue {
        /// The table.
        table: Table,
        /// The key, printable.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A damaged copy in the checkout cache (rebuilt from blobs after repair).
    CorruptCheckout {
        /// Where.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// An index record that depends on a missing or corrupt object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct DanglingRecord {
    /// The table (`entries` or `trees`).
    pub table: Table,
    /// The record's key (a unihash or tree digest).
    pub key: Digest,
    /// A missing or corrupt object it depends on.
    pub broken: Digest,
}

/// The result of [`crate::Store::verify`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Objects re-hashed.
    pub objects: u64,
    /// Bytes of object files read.
    pub object_bytes: u64,
    /// Checkout cache files re-hashed.
    pub checkout_files: u64,
    /// Index records decoded.
    pub records: u64,
    /// What is wrong, sorted.
    pub problems: Vec<Problem>,
    /// Index records that depend on missing or corrupt objects, sorted.
    pub dangling: Vec<DanglingRecord>,
    /// Whether `--repair` removed the problems and dangling records.
    pub repaired: bool,
    /// Files and directories removed by the repair.
    pub removed_files: u64,
    /// Index records removed by the repair.
    pub removed_records: u64,
}

impl VerifyReport {
    /// No problems and no dangling records.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.dangling.is_empty()
    }
}

/// What the scan found, plus what a repair would delete.
pub(crate) struct Findings {
    pub(crate) report: VerifyReport,
    pub(crate) delete_paths: Vec<PathBuf>,
    pub(crate) delete_records: Vec<(Table, Vec<u8>)>,
}

enum ObjectCheck {
    Blob(Digest),
    Tree(Digest, Vec<(ObjectKind, Digest)>),
    Corrupt(ObjectKind, Digest, String),
    Stray,
}

fn check_object(kind: ObjectKind, path: &Path) -> ObjectCheck {
    let Some(digest) = path.file_name().and_then(layout::digest_from_file_name) else {
        return ObjectCheck::Stray;
    };
    let shard_ok = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()) == Some(&digest.to_hex()[..2]);
    if !shard_ok {
        return ObjectCheck::Stray;
    }
    match kind {
        ObjectKind::Blob => match objects::hash_blob_file(path) {
            Ok((actual, _)) if actual == digest => ObjectCheck::Blob(digest),
            Ok((actual, _)) => ObjectCheck::Corrupt(kind, digest, Corruption::HashMismatch { actual }.to_string()),
            Err(e) => ObjectCheck::Corrupt(kind, digest, error_chain(&e)),
        },
        ObjectKind::Tree => {
            let bytes = match fs::read(path) {
                Ok(b) => b,
                Err(e) => return ObjectCheck::Corrupt(kind, digest, format!("unreadable: {e}")),
            };
            let actual = *tree::digest_of_encoding(&bytes).digest();
            if actual != digest {
                return ObjectCheck::Corrupt(kind, digest, Corruption::HashMismatch { actual }.to_string());
            }
            match Tree::decode(&bytes) {
                Ok(t) => ObjectCheck::Tree(digest, children(&t)),
                Err(e) => ObjectCheck::Corrupt(kind, digest, error_chain(&Corruption::Decode(e))),
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

pub(crate) fn children(tree: &Tree) -> Vec<(ObjectKind, Digest)> {
    tree.entries()
        .iter()
        .filter_map(|e| match &e.node {
            Node::File { digest, .. } => Some((ObjectKind::Blob, *digest.digest())),
            Node::Directory { digest, .. } => Some((ObjectKind::Tree, *digest.digest())),
            Node::Symlink { .. } => None,
        })
        .collect()
}

/// The objects known to be present and sound.
struct Inventory {
    blobs: HashSet<Digest>,
    trees: HashMap<Digest, Vec<(ObjectKind, Digest)>>,
    corrupt: HashSet<(ObjectKind, Digest)>,
    /// First broken object in each tree's closure (None: intact).
    memo: HashMap<Digest, Option<(ObjectKind, Digest)>>,
    missing: HashSet<(ObjectKind, Digest)>,
}

impl Inventory {
    fn broken_object(&mut self, kind: ObjectKind, digest: Digest) -> Option<(ObjectKind, Digest)> {
        match kind {
            ObjectKind::Blob => {
                if self.blobs.contains(&digest) {
                    return None;
                }
                if !self.corrupt.contains(&(kind, digest)) {
                    self.missing.insert((kind, digest));
                }
                Some((kind, digest))
            }
            ObjectKind::Tree => {
                if let Some(m) = self.memo.get(&digest) {
                    return *m;
                }
                let result = match self.trees.get(&digest).cloned() {
                    None => {
                        if !self.corrupt.contains(&(kind, digest)) {
                            self.missing.insert((kind, digest));
                        }
                        Some((kind, digest))
                    }
                    Some(kids) => {
                        let mut first = None;
                        for (k, d) in kids {
                            if let Some(b) = self.broken_object(k, d) {
                                first.get_or_insert(b);
                            }
                        }
                        first
                    }
                };
                self.memo.insert(digest, result);
                result
            }
        }
    }
}

pub(crate) fn scan(
    layout: &Layout,
    snapshot: &Snapshot,
    options: &VerifyOptions,
    reporter: &dyn Reporter,
) -> Result<Findings> {
    let mut report = VerifyReport::default();
    let mut delete_paths = Vec::new();
    let mut delete_records = Vec::new();

    // 1. Objects.
    let mut listing = Vec::new();
    for kind in [ObjectKind::Blob, ObjectKind::Tree] {
        for path in layout::list_sharded(&layout.objects_dir(kind))? {
            let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            listing.push((kind, path, size));
        }
    }
    let total: u64 = listing.iter().map(|(_, _, s)| s).sum();
    reporter.start(Phase::Verifying, Some(total));
    let checks: Vec<(PathBuf, ObjectCheck)> = listing
        .par_iter()
        .map(|(kind, path, size)| {
            let c = check_object(*kind, path);
            reporter.advance(*size);
            (path.clone(), c)
        })
        .collect();
    reporter.finish(Phase::Verifying);
    report.objects = listing.len() as u64;
    report.object_bytes = total;
    let mut inv = Inventory {
        blobs: HashSet::new(),
        trees: HashMap::new(),
        corrupt: HashSet::new(),
        memo: HashMap::new(),
        missing: HashSet::new(),
    };
    for (path, check) in checks {
        match check {
            ObjectCheck::Blob(d) => {
                inv.blobs.insert(d);
            }
            ObjectCheck::Tree(d, kids) => {
                inv.trees.insert(d, kids);
            }
            ObjectCheck::Corrupt(kind, digest, reason) => {
                inv.corrupt.insert((kind, digest));
                report.problems.push(Problem::CorruptObject { kind, digest, reason });
                delete_paths.push(path);
            }
            ObjectCheck::Stray => {
                report.problems.push(Problem::StrayFile { path: path.clone() });
                delete_paths.push(path);
            }
        }
    }

    // 2. Index records.
    for table in Table::ALL {
        for (key, value) in records(snapshot, table).iter().cloned() {
            report.records += 1;
            let corrupt =
                |reason: String| Problem::CorruptIndexValue { table, key: printable_key(table, &key), reason };
            let problem = match table {
                Table::Meta => None,
                Table::Taskhash => check_lengths(&key, &value, false),
                Table::Outhash => check_lengths(&key, &value, true),
                Table::Entries => match (Digest::from_slice(&key), Entry::decode(&value)) {
                    (Ok(unihash), Ok(entry)) => {
                        let mut broken = inv.broken_object(ObjectKind::Tree, *entry.root.digest());
                        if let Some(log) = entry.log {
                            broken = broken.or(inv.broken_object(ObjectKind::Blob, *log.digest()));
                        }
                        if let Some((_, b)) = broken {
                            report.dangling.push(DanglingRecord { table, key: unihash, broken: b });
                            delete_records.push((table, key.clone()));
                        }
                        None
                    }
                    (Err(e), _) => Some(e.to_string()),
                    (_, Err(e)) => Some(e.to_string()),
                },
                Table::Trees => match (Digest::from_slice(&key), TreeInfo::decode(&value)) {
                    (Ok(root), Ok(_)) => {
                        if let Some((_, b)) = inv.broken_object(ObjectKind::Tree, root) {
                            report.dangling.push(DanglingRecord { table, key: root, broken: b });
                            delete_records.push((table, key.clone()));
                        }
                        None
                    }
                    (Err(e), _) => Some(e.to_string()),
                    (_, Err(e)) => Some(e.to_string()),
                },
                Table::Reports => match Digest::from_slice(&key) {
                    Ok(th) => crate::records::Equivalence::decode_value(Taskhash::from_digest(th), &value)
                        .err()
                        .map(|e| e.to_string()),
                    Err(e) => Some(e.to_string()),
                },
                Table::Roots => match (RootName::from_key(&key), RootTarget::decode(&value)) {
                    (Some(_), Ok(_)) => None,
                    (None, _) => Some("key is not pin:NAME or link:/ABSOLUTE/PATH".to_owned()),
                    (_, Err(e)) => Some(e.to_string()),
                },
            };
            if let Some(reason) = problem {
                report.problems.push(corrupt(reason));
                delete_records.push((table, key));
            }
        }
    }
    for (kind, digest) in inv.missing.iter().copied() {
        report.problems.push(Problem::MissingObject { kind, digest });
    }

    // 3. Checkout cache.
    if options.checkouts {
        let (files, problems, paths) = check_checkouts(layout, &inv)?;
        report.checkout_files = files;
        report.problems.extend(problems);
        delete_paths.extend(paths);
    }

    report.problems.sort();
    report.dangling.sort();
    Ok(Findings { report, delete_paths, delete_records })
}

fn check_lengths(key: &[u8], value: &[u8], identity_suffix: bool) -> Option<String> {
    let key_ok = if identity_suffix {
        key.len() > DIGEST_LEN && std::str::from_utf8(&key[DIGEST_LEN..]).is_ok()
    } else {
        key.len() == DIGEST_LEN
    };
    if !key_ok {
        return Some(format!("malformed key of {} bytes", key.len()));
    }
    if value.len() != DIGEST_LEN {
        return Some(
            DecodeError::InvalidField {
                field: "unihash",
                offset: 0,
                reason: format!("{} bytes instead of 32", value.len()),
            }
            .to_string(),
        );
    }
    None
}

fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut hasher = blake3::Hasher::new();
    let mut f = fs::File::open(path)?;
    hasher.update_reader(&mut f)?;
    Ok(hasher.finalize().into())
}

type CheckoutFindings = (u64, Vec<Problem>, Vec<PathBuf>);
/// (path, what is wrong, (inode, digest) when sound).
type BlobCheckoutCheck = (PathBuf, Option<String>, Option<((u64, u64), Digest)>);

/// Checks one file of the blob checkout caches: its name says digest and mode (and,
/// for exact copies, owner).
fn check_blob_copy(path: &Path, exact: bool) -> BlobCheckoutCheck {
    let name = path.file_name().unwrap_or_default();
    let parsed = if exact {
        layout::exact_blob_from_file_name(name).map(|(d, mode, uid, gid)| (d, mode, Some((uid, gid))))
    } else {
        layout::blob_checkout_from_file_name(name).map(|(d, mode)| (d, mode, None))
    };
    let Some((digest, mode, owner)) = parsed else {
        return (path.to_owned(), Some("name is not a checkout name".to_owned()), None);
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return (path.to_owned(), Some(format!("unreadable: {e}")), None),
    };
    if !meta.is_file() || meta.permissions().mode() & 0o7777 != mode {
        return (path.to_owned(), Some("wrong file type or permissions".to_owned()), None);
    }
    if owner.is_some_and(|(uid, gid)| (meta.uid(), meta.gid()) != (uid, gid)) {
        return (path.to_owned(), Some("wrong owner".to_owned()), None);
    }
    if mode & crate::exact::WITHHELD_BITS != 0 {
        return (path.to_owned(), Some("carries a setuid, setgid or world-write bit".to_owned()), None);
    }
    match hash_file(path) {
        Ok(actual) if actual == digest => (path.to_owned(), None, Some(((meta.dev(), meta.ino()), digest))),
        Ok(actual) => (path.to_owned(), Some(format!("contents hash to {actual}")), None),
        Err(e) => (path.to_owned(), Some(format!("unreadable: {e}")), None),
    }
}

fn check_checkouts(layout: &Layout, inv: &Inventory) -> Result<CheckoutFindings> {
    let mut problems = Vec::new();
    let mut paths = Vec::new();
    // Blob copies: name, mode (owner) and contents. Names starting with a dot are
    // being built by another process (or were left by a killed one, which gc removes).
    let mut blob_files: Vec<(PathBuf, bool)> = Vec::new();
    for (parent, exact) in [(layout.blob_checkouts_dir(), false), (layout.exact_blobs_dir(), true)] {
        blob_files.extend(
            layout::list_sharded(&parent)?.into_iter().filter(|p| !layout::is_temporary(p)).map(|p| (p, exact)),
        );
    }
    let results: Vec<BlobCheckoutCheck> =
        blob_files.par_iter().map(|(path, exact)| check_blob_copy(path, *exact)).collect();
    let mut good_inodes = HashMap::new();
    let mut files = blob_files.len() as u64;
    for (path, problem, inode) in results {
        if let Some(reason) = problem {
            problems.push(Problem::CorruptCheckout { path: path.clone(), reason });
            paths.push(path);
        } else if let Some((inode, digest)) = inode {
            good_inodes.insert(inode, digest);
        }
    }
    // Tree checkouts: structure against the tree objects; contents by inode or hash.
    for (parent, parse) in [
        (layout.tree_checkouts_dir(), layout::digest_from_file_name as fn(&std::ffi::OsStr) -> Option<Digest>),
        (layout.exact_trees_dir(), layout::exact_tree_from_file_name),
    ] {
        for dir in layout::list_sharded(&parent)?.into_iter().filter(|p| !layout::is_temporary(p)) {
            let Some(digest) = dir.file_name().and_then(parse) else {
                problems
                    .push(Problem::CorruptCheckout { path: dir.clone(), reason: "name is not a digest".to_owned() });
                paths.push(dir);
                continue;
            };
            let mut checked = 0u64;
            if let Err(fault) = check_tree_checkout(layout, inv, &digest, &dir, &good_inodes, &mut checked) {
                problems.push(Problem::CorruptCheckout { path: dir.clone(), reason: fault.to_string() });
                paths.push(dir);
            }
            files += checked;
        }
    }
    Ok((files, problems, paths))
}

fn check_tree_checkout(
    layout: &Layout,
    inv: &Inventory,
    digest: &Digest,
    dir: &Path,
    good_inodes: &HashMap<(u64, u64), Digest>,
    checked: &mut u64,
) -> std::result::Result<(), CheckoutFault> {
    if !inv.trees.contains_key(digest) {
        return Err(CheckoutFault::TreeMissing(*digest));
    }
    let tree = objects::read_tree(layout, digest).map_err(|e| CheckoutFault::TreeUnreadable(Box::new(e)))?;
    let mut names = HashSet::new();
    let unreadable = |source| CheckoutFault::Unreadable { dir: dir.to_owned(), source };
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        names.insert(entry.file_name());
    }
    if names.len() != tree.entries().len() {
        return Err(CheckoutFault::EntryCount {
            dir: dir.to_owned(),
            found: names.len(),
            expected: tree.entries().len(),
        });
    }
    for entry in tree.entries() {
        let path = dir.join(entry.name.as_os_str());
        let meta = fs::symlink_metadata(&path).map_err(|_| CheckoutFault::Missing(path.clone()))?;
        let wrong = |what: &'static str| CheckoutFault::Wrong { path: path.clone(), what };
        match &entry.node {
            Node::Directory { digest, .. } => {
                if !meta.is_dir() {
                    return Err(wrong("is not a directory"));
                }
                if meta.mode() & crate::exact::WITHHELD_BITS != 0 {
                    return Err(wrong("carries a setgid or world-write bit"));
                }
                check_tree_checkout(layout, inv, digest.digest(), &path, good_inodes, checked)?;
            }
            Node::Symlink { target } => {
                let actual = fs::read_link(&path).map_err(|_| wrong("is not a symlink"))?;
                if actual.as_os_str() != target.as_os_str() {
                    return Err(wrong("points elsewhere"));
                }
            }
            Node::File { digest, .. } => {
                *checked += 1;
                if !meta.is_file() {
                    return Err(wrong("is not a regular file"));
                }
                if good_inodes.get(&(meta.dev(), meta.ino())) != Some(digest.digest()) {
                    let actual =
                        hash_file(&path).map_err(|source| CheckoutFault::Hashing { path: path.clone(), source })?;
                    if actual != *digest.digest() {
                        return Err(wrong("has the wrong contents"));
                    }
                }
            }
        }
    }
    Ok(())
}

/// What is wrong with a tree checkout.
#[derive(Debug, thiserror::Error)]
enum CheckoutFault {
    #[error("tree {0} is missing or corrupt")]
    TreeMissing(Digest),
    #[error(transparent)]
    TreeUnreadable(Box<crate::error::StoreError>),
    #[error("{} is unreadable: {source}", dir.display())]
    Unreadable { dir: std::path::PathBuf, source: std::io::Error },
    #[error("{} has {found} entries, the tree has {expected}", dir.display())]
    EntryCount { dir: std::path::PathBuf, found: usize, expected: usize },
    #[error("{} is missing", .0.display())]
    Missing(std::path::PathBuf),
    #[error("{} {what}", path.display())]
    Wrong { path: std::path::PathBuf, what: &'static str },
    #[error("{}: {source}", path.display())]
    Hashing { path: std::path::PathBuf, source: std::io::Error },
}
