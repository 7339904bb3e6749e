//! Progress reporting: the library calls a [`Reporter`]; the binary draws it.

/// A long-running step of a store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Walking a directory before ingesting it (no total).
    Scanning,
    /// Hashing and compressing file contents (total in bytes).
    Ingesting,
    /// Making new objects durable (no total).
    Syncing,
    /// Decompressing blobs into the checkout cache (total in bytes).
    CheckingOut,
    /// Creating files and links at the destination (total in entries).
    Linking,
    /// Re-hashing stored objects (total in bytes).
    Verifying,
    /// Waiting for other processes to release the store lock (no total).
    WaitingForLock,
    /// Deleting unreachable objects (total in files).
    Collecting,
}

/// Receives progress from store operations. Every method has a no-op default.
pub trait Reporter: Sync {
    /// A phase begins; `total` is in the phase's unit, when known.
    fn start(&self, _phase: Phase, _total: Option<u64>) {}
    /// Some units of the current phase are done.
    fn advance(&self, _amount: u64) {}
    /// The current phase is over.
    fn finish(&self, _phase: Phase) {}
}

/// A [`Reporter`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {}
