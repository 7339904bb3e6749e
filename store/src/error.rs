//! The store's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::codec::DecodeError;
use crate::digest::{BlobDigest, Digest, TreeDigest, Unihash};
use crate::entry::InvalidEntry;
use crate::tree::{InvalidName, InvalidTree};

/// The two kinds of content-addressed objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// File contents (stored zstd-compressed).
    Blob,
    /// A directory level (canonical tree encoding).
    Tree,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Blob => "blob",
            ObjectKind::Tree => "tree",
        })
    }
}

/// How a stored object is damaged.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    /// The bytes hash to something else.
    #[error("contents hash to {actual}")]
    HashMismatch {
        /// What the contents hash to.
        actual: Digest,
    },
    /// A blob that is not a complete zstd frame (truncated or overwritten).
    #[error("not a valid zstd stream")]
    Decompress(#[source] io::Error),
    /// A tree object that is not a canonical tree encoding.
    #[error("not a canonical tree encoding")]
    Decode(#[source] DecodeError),
}

/// Errors from store operations. Each says what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done ("reading", "creating directory", …).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A device node, socket or FIFO in a tree being ingested.
    #[error("cannot ingest {}: it is a {kind}; only regular files, directories and symlinks can be stored", path.display())]
    UnsupportedFileType {
        /// The offending path.
        path: PathBuf,
        /// "block device", "character device", "socket" or "FIFO".
        kind: &'static str,
    },
    /// The path given to ingest is not a directory.
    #[error("cannot ingest {}: not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A file name or symlink target that cannot be stored.
    #[error("cannot ingest {}: invalid {what}", path.display())]
    InvalidName {
        /// The path.
        path: PathBuf,
        /// "file name" or "symlink target".
        what: &'static str,
        /// Why.
        #[source]
        source: InvalidName,
    },
    /// A directory that cannot form a tree (too many entries).
    #[error("cannot ingest directory {}", path.display())]
    InvalidTree {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: InvalidTree,
    },
    /// A path given as a file is a directory, FIFO, socket or device (a symlink is
    /// refused when opening it).
    #[error("{} is not a regular file", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
    },
    /// A file's contents changed between hashing and storing.
    #[error("{} changed while it was being ingested", path.display())]
    ChangedDuringIngest {
        /// The file.
        path: PathBuf,
    },
    /// An object that should be in the store is not.
    #[error("{kind} {digest} is missing from the store")]
    MissingObject {
        /// Blob or tree.
        kind: ObjectKind,
        /// Its digest.
        digest: Digest,
    },
    /// An object in the store is damaged.
    #[error("{kind} {digest} in the store is corrupt ({})", path.display())]
    CorruptObject {
        /// Blob or tree.
        kind: ObjectKind,
        /// Its digest.
        digest: Digest,
        /// Where it is stored.
        path: PathBuf,
        /// How it is damaged.
        #[source]
        source: Corruption,
    },
    /// Bytes offered for import do not hash to the digest they were offered under.
    #[error("refusing {kind} offered as {expected}")]
    ImportRejected {
        /// Blob or tree.
        kind: ObjectKind,
        /// The digest it was offered under.
        expected: Digest,
        /// Why it was refused.
        #[source]
        source: Corruption,
    },
    /// A tree imported before all of the objects it names.
    #[error("tree {root} cannot be committed: {kind} {missing} is missing")]
    IncompleteTree {
        /// The tree being committed.
        root: TreeDigest,
        /// Kind of the first missing object.
        kind: ObjectKind,
        /// The first missing object found.
        missing: Digest,
    },
    /// rocksdb failed.
    #[error("index: {action}")]
    Index {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: rocksdb::Error,
    },
    /// A column family missing from the index.
    #[error("index: table {table} is missing")]
    MissingTable {
        /// The table.
        table: &'static str,
    },
    /// An index value that does not decode.
    #[error("index record {table}/{key} is corrupt")]
    CorruptIndexValue {
        /// Column family.
        table: &'static str,
        /// The key, printable.
        key: String,
        /// Why it does not decode.
        #[source]
        source: DecodeError,
    },
    /// A store created by an incompatible version.
    #[error("store {} has layout version {found:?}; this rstore understands version {supported}", path.display())]
    LayoutVersion {
        /// The store directory.
        path: PathBuf,
        /// What the VERSION file says.
        found: String,
        /// What this build understands.
        supported: u32,
    },
    /// An index written by an incompatible version.
    #[error("store index has schema version {found:?}; this rstore understands version {supported}")]
    IndexSchema {
        /// What the index says.
        found: String,
        /// What this build understands.
        supported: u32,
    },
    /// A path that does not exist inside a tree.
    #[error("{path:?} does not exist in tree {root}")]
    PathNotFound {
        /// The tree.
        root: TreeDigest,
        /// The path inside it.
        path: String,
    },
    /// A path inside a tree that is not a regular file.
    #[error("{path:?} in tree {root} is a {kind}, not a regular file")]
    NotAFile {
        /// The tree.
        root: TreeDigest,
        /// The path inside it.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A digest that names neither a tree nor an entry.
    #[error("{digest} is neither a tree nor an entry in this store")]
    UnknownDigest {
        /// The digest.
        digest: Digest,
    },
    /// An entry that cannot be encoded.
    #[error("entry for {unihash} is invalid")]
    InvalidEntry {
        /// The unihash it was to be stored under.
        unihash: Unihash,
        /// Why.
        #[source]
        source: InvalidEntry,
    },
    /// An entry naming a tree that is not complete in the store.
    #[error("entry for {unihash} names output tree {root}, which is not in the store")]
    EntryTreeMissing {
        /// The unihash.
        unihash: Unihash,
        /// The tree.
        root: TreeDigest,
    },
    /// An entry naming a log blob that is not in the store.
    #[error("entry for {unihash} names log blob {log}, which is not in the store")]
    EntryLogMissing {
        /// The unihash.
        unihash: Unihash,
        /// The blob.
        log: BlobDigest,
    },
    /// A task identity that cannot be used as an index key.
    #[error("invalid task identity {identity:?}: {reason}")]
    InvalidTaskIdentity {
        /// The identity.
        identity: String,
        /// Why.
        reason: &'static str,
    },
    /// A GC root name that cannot be used.
    #[error("invalid GC root name {name:?}: {reason}")]
    InvalidRootName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A GC root that does not exist.
    #[error("no GC root named {name:?}")]
    NoSuchRoot {
        /// The name.
        name: String,
    },
    /// A destination for materialisation that already exists.
    #[error("cannot materialise into {}: it already exists", path.display())]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
}

impl StoreError {
    /// Shorthand for [`StoreError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { action, path: path.into(), source }
    }

    /// Shorthand for [`StoreError::Index`].
    pub(crate) fn index(action: &'static str, source: rocksdb::Error) -> Self {
        Self::Index { action, source }
    }
}

/// Attaches an action and a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::io(action, path, source))
    }
}

impl<T> IoContext<T> for Result<T, rustix::io::Errno> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::io(action, path, e.into()))
    }
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
