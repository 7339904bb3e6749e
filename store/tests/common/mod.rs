//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rstore_store::{
    BlobDigest, Digest, HostFingerprint, IngestOptions, IngestOutcome, NoReporter, Outhash, Store, Taskhash,
    TreeDigest, Unihash,
};

/// A digest of any kind, made up from a name (`h("t1")`), for tests only.
pub trait Made {
    fn made(d: Digest) -> Self;
}

macro_rules! made {
    ($($t:ty => $f:expr),*) => { $(impl Made for $t { fn made(d: Digest) -> Self { $f(d) } })* };
}
made!(Digest => |d| d, Taskhash => Taskhash::from_digest, Unihash => Unihash::from_digest,
      Outhash => Outhash::from_digest, HostFingerprint => HostFingerprint::from_digest, TreeDigest => TreeDigest::from_digest, BlobDigest => BlobDigest::from_digest);

/// The made-up digest of kind `T` named `s`.
pub fn h<T: Made>(s: &str) -> T {
    T::made(Digest::of_bytes(s.as_bytes()))
}

/// A scratch directory with a store in it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        Self { dir, store }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn ingest(&self, path: &Path) -> IngestOutcome {
        self.store.ingest(path, &IngestOptions::default(), &NoReporter).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Read-only materialisations are not removable by non-root users as they are.
        let _ = rstore_store::remove_tree_forcibly(self.dir.path());
    }
}

/// What a file system entry should be.
pub enum Spec<'a> {
    File(&'a [u8]),
    Exec(&'a [u8]),
    Link(&'a str),
    Dir,
}

/// Creates `entries` (paths relative to `root`, parents created as needed).
pub fn make_tree(root: &Path, entries: &[(&str, Spec<'_>)]) {
    fs::create_dir_all(root).unwrap();
    for (rel, spec) in entries {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        match spec {
            Spec::File(data) => {
                fs::write(&path, data).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            }
            Spec::Exec(data) => {
                fs::write(&path, data).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
            Spec::Link(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
            Spec::Dir => fs::create_dir_all(&path).unwrap(),
        }
    }
}

/// A deterministic pseudo-random generator (xorshift64*), for reproducible data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}
