//! Content-addressed store: blake3 merkle trees of zstd blobs, a rocksdb index,
//! hash equivalence, GC roots, verification and deterministic export.
//!
//! The store replaces BitBake's stamp files and sstate cache. A task's output
//! directory is ingested into a merkle tree whose root digest is the task's
//! *outhash*; an [`Entry`] keyed by the task's *unihash* records that root with the
//! task's log, duration, host fingerprint and signatures; hash equivalence
//! ([`Store::report`], [`Store::lookup`]) maps taskhashes to unihashes.
//!
//! # On-disk layout (version 1)
//!
//! ```text
//! STORE/
//! ├── VERSION                  layout version ("1"); written last when the store is created
//! ├── lock                     flock: shared by every open Store, exclusive for gc and repair
//! ├── index.lock               flock: exclusive while a process has the index open
//! ├── index.want               flock: shared by processes waiting for index.lock
//! ├── index-v1/                rocksdb database (see [`index`] for the tables)
//! ├── objects-v1/
//! │   ├── blobs/xx/<digest>    file contents: one zstd frame (content size in the header)
//! │   └── trees/xx/<digest>    canonical tree encoding (see [`tree`])
//! ├── checkouts-v1/
//! │   ├── blobs/xx/<digest>.<mode>   uncompressed read-only copies, hardlinked on materialise
//! │   └── trees/xx/<digest>/         whole read-only trees (overlayfs lower directories)
//! └── tmp/<process>/           per-process scratch, guarded by tmp/<process>.lock
//! ```
//!
//! `xx` is the first two hex digits of the digest. Blob digests are plain blake3 of
//! the contents (what `b3sum` prints); tree digests are blake3 in key-derivation
//! mode over the canonical encoding (context [`tree::TREE_DIGEST_CONTEXT`]). The
//! encodings of trees ([`tree`]), entries ([`entry`]) and index records
//! ([`records`]) are versioned, canonical and documented in their modules, so binary
//! caches can ship objects as they are stored ([`Store::read_raw_object`],
//! [`Store::import_raw_object`]).
//!
//! # Integrity
//!
//! New objects are written to files in the process's scratch directory, made
//! durable with one `syncfs`, renamed into place (blobs first, then trees children
//! first) and synced again; only then is an index record written (a synced rocksdb
//! `WriteBatch`). So an object file is always complete, a visible tree's children are
//! visible, and an index record only names durable objects. A process killed at
//! any point leaves at most a scratch directory, removed by the next process that
//! opens the store. [`Store::verify`] re-hashes everything; with repair it removes
//! corrupt objects and every record that depends on a missing or corrupt object.
//!
//! # Locking model
//!
//! * `lock` is held **shared** by every open [`Store`] for its lifetime, so any number
//!   of processes may ingest, materialise and read at once. Object writes need no
//!   further locking: objects are immutable and named by content, and renaming a
//!   complete file over an identical one is harmless.
//! * [`Store::gc`] and repairing [`Store::verify`] take `lock` **exclusively**, and so
//!   wait until no other process has the store open (and block new opens meanwhile).
//! * rocksdb lets one process at a time open the index, so a process opens it when
//!   it needs it, under an exclusive `flock` on `index.lock`, and a background thread
//!   closes it 50 ms after the last operation, or within 10 ms when another process
//!   signals (with a shared lock on `index.want`) that it is waiting. Bursts of
//!   operations pay for one open (≈10 ms); a waiting process waits for at most one
//!   operation plus the hand-over. Read-modify-write updates such as
//!   [`Store::report`] run while the lock is held and are atomic across processes.

mod boot;
pub mod cache;
pub mod checkout;
mod codec;
pub mod digest;
pub mod entry;
pub mod error;
mod exact;
pub mod export;
pub mod gc;
pub mod index;
pub mod ingest;
mod layout;
mod lock;
mod objects;
pub mod records;
pub mod reporter;
pub mod stats;
mod store;
pub mod tree;
pub mod verify;

pub use checkout::{Access, MaterialiseOutcome};
pub use codec::DecodeError;
pub use digest::{
    ALGORITHM_PREFIX, Basehash, BlobDigest, Digest, HostFingerprint, Outhash, ParseDigestError, Taskhash, TreeDigest,
    Unihash,
};
pub use entry::{Entry, Signature};
pub use error::{Corruption, ObjectKind, StoreError};
pub use exact::{ExactCheckout, TaskIds, WITHHELD_BITS, WithheldMode, set_times};
pub use export::TarOptions;
pub use gc::{GcOptions, GcReport};
pub use index::{SCHEMA_VERSION, Table};
pub use ingest::{IngestOptions, IngestOutcome};
pub use layout::LAYOUT_VERSION;
pub use lock::remove_tree_forcibly;
pub use objects::BlobReader;
pub use records::{Equivalence, GcRoot, RootName, RootTarget, TreeInfo};
pub use reporter::{NoReporter, Phase, Reporter};
pub use stats::StoreStats;
pub use store::{Import, MAX_TASK_IDENTITY, Store, check_raw_object};
pub use tree::{Attributes, Name, Node, Owner, SymlinkTarget, Tree, TreeEntry};
pub use verify::{DanglingRecord, Problem, VerifyOptions, VerifyReport};
