//! Binary caches: where entries and objects come from besides the local store.
//!
//! # The seam
//!
//! A [`Cache`] is a key-value store of immutable values under [`Key`]s: objects
//! (exactly as the local store keeps them: a blob is one zstd frame of its contents, a
//! tree is its canonical encoding, see [`crate::tree`]), signed entry records keyed by
//! unihash and signed hash-equivalence records keyed by taskhash (see [`record`]). Its
//! implementations: the local store itself ([`local`]), a directory ([`dir`], `file://`
//! URLs or plain paths), plain HTTP(S) ([`http`]: any static web server that answers
//! GET, HEAD and, to be pushed to, PUT). [`conformance`] holds the tests every
//! implementation passes.
//!
//! # Layout
//!
//! Under the cache's root (a directory, or a URL prefix):
//!
//! ```text
//! rstore-cache                      "rstore-cache 1\n" (written by the first push)
//! objects/blobs/xx/<hex>            blob: one zstd frame; blake3(contents) = <hex>
//! objects/trees/xx/<hex>            tree encoding; tree digest = <hex>
//! entries/xx/<unihash hex>          signed entry record
//! equivalences/xx/<taskhash hex>    signed equivalence record
//! ```
//!
//! `xx` is the first two hex digits. A cache never holds a tree whose children it
//! lacks: a push writes blobs, then trees children first, then entry records, then
//! equivalence records, so a present tree means a complete subtree and a present
//! entry a complete output.
//!
//! # Trust
//!
//! Nothing from a cache enters the local store unverified: an object's bytes must hash
//! to its name ([`crate::Store::import_raw_objects`]); an entry or equivalence record
//! must carry a signature by a trusted key ([`keys::TrustedKeys`]), and must be the
//! record of the key it was asked for (same unihash or taskhash, same task identity).

pub mod conformance;
pub mod dir;
pub mod http;
pub mod keys;
pub mod local;
pub mod record;
pub mod serve;
pub mod transfer;

use crate::digest::{Digest, Taskhash, Unihash};
use crate::error::ObjectKind;

pub use keys::{KeyError, PublicKey, SecretKey, TrustedKeys};
pub use record::{EntryRecord, EquivalenceRecord};

/// The name of the file that marks a cache's root, and its contents.
pub const CACHE_INFO: &str = "rstore-cache";
/// What [`CACHE_INFO`] holds for this version of the layout.
pub const CACHE_INFO_TEXT: &str = "rstore-cache 1\n";

/// What a value of a cache is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A blob or tree object.
    Object(ObjectKind, Digest),
    /// The entry record of a unihash.
    Entry(Unihash),
    /// The equivalence record of a taskhash.
    Equivalence(Taskhash),
}

impl Key {
    /// The value's path under the cache's root.
    pub fn path(&self) -> String {
        let (dir, digest) = match self {
            Key::Object(ObjectKind::Blob, d) => ("objects/blobs", *d),
            Key::Object(ObjectKind::Tree, d) => ("objects/trees", *d),
            Key::Entry(u) => ("entries", *u.digest()),
            Key::Equivalence(t) => ("equivalences", *t.digest()),
        };
        let hex = digest.to_hex();
        format!("{dir}/{}/{hex}", &hex[..2])
    }

    /// The key a path names (the inverse of [`Key::path`]).
    pub fn from_path(path: &str) -> Option<Key> {
        let (rest, hex) = path.rsplit_once('/')?;
        let (dir, fan) = rest.rsplit_once('/')?;
        if hex.contains(':') || hex.get(..2) != Some(fan) {
            return None;
        }
        let digest: Digest = hex.parse().ok()?;
        Some(match dir {
            "objects/blobs" => Key::Object(ObjectKind::Blob, digest),
            "objects/trees" => Key::Object(ObjectKind::Tree, digest),
            "entries" => Key::Entry(Unihash::from_digest(digest)),
            "equivalences" => Key::Equivalence(Taskhash::from_digest(digest)),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Object(kind, d) => write!(f, "{kind} {d}"),
            Key::Entry(u) => write!(f, "entry {u}"),
            Key::Equivalence(t) => write!(f, "equivalence {t}"),
        }
    }
}

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{cache}: {action} {key}: {source}")]
    Io {
        cache: String,
        action: &'static str,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{cache}: {key}: the server answered {status}")]
    Status { cache: String, key: String, status: u16 },
    #[error("{cache}: {key}: {reason}")]
    Transport { cache: String, key: String, reason: String },
    #[error("{cache}: {key} is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge { cache: String, key: String, size: u64, limit: u64 },
    #[error("{cache}: {reason}")]
    Unsupported { cache: String, reason: String },
    #[error("{url}: not a cache URL ({reason})")]
    BadUrl { url: String, reason: String },
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

/// The largest value a cache returns (a blob's compressed bytes, at most).
pub const MAX_VALUE_BYTES: u64 = 16 << 30;

/// Where entries and objects come from (and go to): one implementation per kind of
/// cache. Values are immutable: putting a key twice puts the same bytes.
pub trait Cache: Send + Sync {
    /// The cache's URL, for messages.
    fn url(&self) -> &str;
    /// Which of `keys` the cache holds (one answer per key, in order), asked in as few
    /// requests as the cache allows.
    fn contains(&self, keys: &[Key]) -> Result<Vec<bool>, CacheError>;
    /// The value of `key`, or None when the cache does not hold it.
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, CacheError>;
    /// Stores a value.
    fn put(&self, key: &Key, value: &[u8]) -> Result<(), CacheError>;
    /// Stores several values; implementations send them at once where they can.
    fn put_many(&self, items: &[(Key, &[u8])]) -> Result<(), CacheError> {
        items.iter().try_for_each(|(k, v)| self.put(k, v))
    }
    /// Several values (one answer per key, in order); implementations fetch them at
    /// once where they can.
    fn get_many(&self, keys: &[Key]) -> Vec<Result<Option<Vec<u8>>, CacheError>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// The keys of every record (entries and equivalences) when the cache can list
    /// them (a directory can; a web server cannot), else None.
    fn list_records(&self) -> Result<Option<Vec<Key>>, CacheError> {
        Ok(None)
    }
    /// Marks the cache's root (writes [`CACHE_INFO`]) before the first push.
    fn initialise(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

/// Opens the cache a URL names: `file:///path` or a path (a directory), `http://` or
/// `https://` (a web server; `token` is sent as a bearer token with pushes).
pub fn open(url: &str, token: Option<String>) -> Result<Box<dyn Cache>, CacheError> {
    let bad = |reason: &str| CacheError::BadUrl { url: url.to_owned(), reason: reason.to_owned() };
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad("a file:// URL needs an absolute path (file:///srv/cache)"));
        }
        return Ok(Box::new(dir::DirCache::new(path)));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Box::new(http::HttpCache::new(url, token)?));
    }
    if url.contains("://") {
        return Err(bad("rstore reads file://, http:// and https:// caches, or a directory"));
    }
    if url.is_empty() {
        return Err(bad("empty"));
    }
    Ok(Box::new(dir::DirCache::new(url)))
}

/// `f` over `items` on up to `workers` threads; results in the order of `items`.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<R>>> = std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item is mapped"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_round_trip() {
        let d = Digest::of_bytes(b"x");
        for key in [
            Key::Object(ObjectKind::Blob, d),
            Key::Object(ObjectKind::Tree, d),
            Key::Entry(Unihash::from_digest(d)),
            Key::Equivalence(Taskhash::from_digest(d)),
        ] {
            assert_eq!(Key::from_path(&key.path()), Some(key), "{}", key.path());
        }
        assert_eq!(Key::from_path("objects/blobs/zz/00"), None);
        assert_eq!(Key::from_path("../etc/passwd"), None);
        let hex = d.to_hex();
        assert_eq!(Key::from_path(&format!("objects/blobs/00/{hex}")), None);
    }
}
