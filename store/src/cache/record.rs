//! The signed records of a binary cache.
//!
//! # Encodings (version 1; integers little-endian; `str16`/`bytes16` are a u16 length
//! and that many bytes)
//!
//! ```text
//! entry record       := "RSCENTRY" version:u8(=1) identity:str16 taskhash:[u8;32]
//!                       unihash:[u8;32] root:[u8;32] log duration_ms:u64 host
//!                       count:u16 signature{count}
//! log                := 0 | 1 log_blob:[u8;32]
//! host               := 0 | 1 host_fingerprint:[u8;32]
//! equivalence record := "RSCEQUIV" version:u8(=1) identity:str16 taskhash:[u8;32]
//!                       unihash:[u8;32] outhash:[u8;32] count:u16 signature{count}
//! signature          := key_name:str16 signature:bytes16   (sorted by key name,
//!                                                          one per key name)
//! ```
//!
//! An entry record says what the task `identity` produced for `unihash` (first built
//! as `taskhash`): the output tree `root` (its outhash) and the log. An equivalence
//! record says that `taskhash` of task `identity` stands for `unihash`, because its
//! output was `outhash`. A signature is ed25519 over the record's encoding with zero
//! signatures (its *signing bytes*), so adding a signature never changes what the
//! others sign; the magic bytes keep an entry's signature from passing for an
//! equivalence's.

use crate::codec::{DecodeError, Reader, put_bytes16};
use crate::digest::{BlobDigest, HostFingerprint, Outhash, Taskhash, TreeDigest, Unihash};
use crate::entry::{Entry, Signature};
use crate::records::Equivalence;

use super::keys::{SecretKey, TrustedKeys};

const ENTRY_MAGIC: &str = "RSCENTRY";
const EQUIVALENCE_MAGIC: &str = "RSCEQUIV";
/// Records larger than this are refused before they are decoded.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// A cache's record of a task's output, keyed by unihash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    pub identity: String,
    pub taskhash: Taskhash,
    pub unihash: Unihash,
    /// The output: root, log, duration, host fingerprint (its signatures unused).
    pub entry: Entry,
    pub signatures: Vec<Signature>,
}

/// A cache's record of one hash equivalence, keyed by taskhash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivalenceRecord {
    pub equivalence: Equivalence,
    pub signatures: Vec<Signature>,
}

fn put_optional(out: &mut Vec<u8>, digest: Option<&[u8; 32]>) {
    match digest {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            out.extend_from_slice(d);
        }
    }
}

fn put_signatures(out: &mut Vec<u8>, signatures: &[Signature]) {
    let mut sorted: Vec<&Signature> = signatures.iter().take(usize::from(u16::MAX)).collect();
    sorted.sort();
    sorted.dedup_by(|a, b| a.key_name == b.key_name);
    out.extend_from_slice(&(sorted.len() as u16).to_le_bytes());
    for s in sorted {
        put_bytes16(out, s.key_name.as_bytes());
        put_bytes16(out, &s.signature);
    }
}

/// Adds `key`'s signature over `bytes`, replacing an earlier one by the same key name.
fn add_signature(signatures: &mut Vec<Signature>, key: &SecretKey, bytes: &[u8]) {
    let sig = key.sign(bytes);
    signatures.retain(|s| s.key_name != sig.key_name);
    signatures.push(sig);
    signatures.sort();
}

fn read_signatures(r: &mut Reader<'_>) -> Result<Vec<Signature>, DecodeError> {
    let count = r.u16()?;
    let mut out: Vec<Signature> = Vec::new();
    for _ in 0..count {
        let at = r.offset();
        let key_name = r.str16("signature key name")?.to_owned();
        let signature = r.bytes16()?.to_vec();
        if out.last().is_some_and(|prev| prev.key_name >= key_name) {
            return Err(r.invalid("signature", at, "signatures are not sorted by distinct key names"));
        }
        out.push(Signature { key_name, signature });
    }
    Ok(out)
}

fn read_optional(r: &mut Reader<'_>, field: &'static str) -> Result<Option<crate::digest::Digest>, DecodeError> {
    let at = r.offset();
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.digest()?)),
        other => Err(r.invalid(field, at, format!("{other} is not 0 or 1"))),
    }
}

fn check_size(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(DecodeError::InvalidField {
            field: "record",
            offset: 0,
            reason: format!("{} bytes (the limit is {MAX_RECORD_BYTES})", bytes.len()),
        });
    }
    Ok(())
}

fn identity_ok(identity: &str) -> bool {
    !identity.is_empty() && identity.len() <= crate::store::MAX_TASK_IDENTITY
}

impl EntryRecord {
    /// The bytes a signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = ENTRY_MAGIC.as_bytes().to_vec();
        out.push(1);
        put_bytes16(&mut out, self.identity.as_bytes());
        out.extend_from_slice(self.taskhash.as_bytes());
        out.extend_from_slice(self.unihash.as_bytes());
        out.extend_from_slice(self.entry.root.as_bytes());
        put_optional(&mut out, self.entry.log.as_ref().map(|d| d.as_bytes()));
        out.extend_from_slice(&self.entry.duration_ms.to_le_bytes());
        put_optional(&mut out, self.entry.host_fingerprint.as_ref().map(|d| d.as_bytes()));
        out
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signing_bytes();
        put_signatures(&mut out, &self.signatures);
        out
    }

    /// Decodes an encoding (at most [`MAX_RECORD_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        check_size(bytes)?;
        let mut r = Reader::new(bytes);
        r.magic(ENTRY_MAGIC)?;
        r.version(1)?;
        let at = r.offset();
        let identity = r.str16("task identity")?.to_owned();
        if !identity_ok(&identity) {
            return Err(r.invalid("task identity", at, "empty or longer than 4096 bytes"));
        }
        let taskhash = Taskhash::from_digest(r.digest()?);
        let unihash = Unihash::from_digest(r.digest()?);
        let root = TreeDigest::from_digest(r.digest()?);
        let log = read_optional(&mut r, "log flag")?.map(BlobDigest::from_digest);
        let duration_ms = r.u64()?;
        let host_fingerprint = read_optional(&mut r, "host flag")?.map(HostFingerprint::from_digest);
        let signatures = read_signatures(&mut r)?;
        r.finish()?;
        let entry = Entry { root, log, duration_ms, host_fingerprint, signatures: Vec::new() };
        Ok(Self { identity, taskhash, unihash, entry, signatures })
    }

    /// Adds `key`'s signature (replacing an earlier one by the same key name).
    pub fn sign(&mut self, key: &SecretKey) {
        let bytes = self.signing_bytes();
        add_signature(&mut self.signatures, key, &bytes);
    }

    /// The trusted key that signed it, if one did.
    pub fn trusted_by<'a>(&'a self, keys: &TrustedKeys) -> Option<&'a str> {
        keys.verify(&self.signing_bytes(), &self.signatures)
    }

    /// The outhash of the output (its root).
    pub fn outhash(&self) -> Outhash {
        Outhash::of_tree(self.entry.root)
    }
}

impl EquivalenceRecord {
    /// The bytes a signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let e = &self.equivalence;
        let mut out = EQUIVALENCE_MAGIC.as_bytes().to_vec();
        out.push(1);
        put_bytes16(&mut out, e.identity.as_bytes());
        out.extend_from_slice(e.taskhash.as_bytes());
        out.extend_from_slice(e.unihash.as_bytes());
        out.extend_from_slice(e.outhash.as_bytes());
        out
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signing_bytes();
        put_signatures(&mut out, &self.signatures);
        out
    }

    /// Decodes an encoding (at most [`MAX_RECORD_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        check_size(bytes)?;
        let mut r = Reader::new(bytes);
        r.magic(EQUIVALENCE_MAGIC)?;
        r.version(1)?;
        let at = r.offset();
        let identity = r.str16("task identity")?.to_owned();
        if !identity_ok(&identity) {
            return Err(r.invalid("task identity", at, "empty or longer than 4096 bytes"));
        }
        let taskhash = Taskhash::from_digest(r.digest()?);
        let unihash = Unihash::from_digest(r.digest()?);
        let outhash = Outhash::from_digest(r.digest()?);
        let signatures = read_signatures(&mut r)?;
        r.finish()?;
        Ok(Self { equivalence: Equivalence { identity, taskhash, unihash, outhash }, signatures })
    }

    /// Adds `key`'s signature (replacing an earlier one by the same key name).
    pub fn sign(&mut self, key: &SecretKey) {
        let bytes = self.signing_bytes();
        add_signature(&mut self.signatures, key, &bytes);
    }

    /// The trusted key that signed it, if one did.
    pub fn trusted_by<'a>(&'a self, keys: &TrustedKeys) -> Option<&'a str> {
        keys.verify(&self.signing_bytes(), &self.signatures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn entry_record() -> EntryRecord {
        EntryRecord {
            identity: "zlib:do_install".into(),
            taskhash: Taskhash::from_digest(Digest::of_bytes(b"t")),
            unihash: Unihash::from_digest(Digest::of_bytes(b"u")),
            entry: Entry {
                root: TreeDigest::from_digest(Digest::of_bytes(b"r")),
                log: Some(BlobDigest::of_contents(b"log")),
                duration_ms: 5,
                host_fingerprint: None,
                signatures: Vec::new(),
            },
            signatures: Vec::new(),
        }
    }

    #[test]
    fn signed_records_round_trip_and_verify() {
        let key = SecretKey::generate("a").unwrap();
        let other = SecretKey::generate("b").unwrap();
        let mut trusted = TrustedKeys::default();
        trusted.add(key.public());
        let mut e = entry_record();
        assert_eq!(e.trusted_by(&trusted), None);
        e.sign(&other);
        e.sign(&key);
        let back = EntryRecord::decode(&e.encode()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.trusted_by(&trusted), Some("a"));
        // Any change to what was signed breaks the signature.
        let mut changed = back.clone();
        changed.entry.root = TreeDigest::from_digest(Digest::of_bytes(b"evil"));
        assert_eq!(changed.trusted_by(&trusted), None);
        let mut q = EquivalenceRecord {
            equivalence: Equivalence {
                identity: e.identity.clone(),
                taskhash: e.taskhash,
                unihash: e.unihash,
                outhash: e.outhash(),
            },
            signatures: Vec::new(),
        };
        q.sign(&key);
        let back = EquivalenceRecord::decode(&q.encode()).unwrap();
        assert_eq!(back.trusted_by(&trusted), Some("a"));
        // An entry's signature does not pass for an equivalence's.
        let mut swapped = back.clone();
        swapped.signatures = e.signatures.clone();
        assert_eq!(swapped.trusted_by(&trusted), None);
    }

    #[test]
    fn garbage_is_refused() {
        let bytes = entry_record().encode();
        for cut in 0..bytes.len() {
            assert!(EntryRecord::decode(&bytes[..cut]).is_err());
        }
        assert!(EquivalenceRecord::decode(&bytes).is_err());
        assert!(EntryRecord::decode(&vec![0u8; MAX_RECORD_BYTES + 1]).is_err());
    }
}
