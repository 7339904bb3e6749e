//! Store entries: what a task produced, keyed by its unihash.
//!
//! # Canonical encoding (entry version 2)
//!
//! All integers are little-endian; strings are UTF-8 prefixed by a u16 length.
//!
//! ```text
//! entry     := "RSENTRY" version:u8(=2) root:[u8;32] log duration_ms:u64
//!              host count:u16 signature{count}
//! log       := 0 | 1 log_blob:[u8;32]
//! host      := 0 | 1 host_fingerprint:[u8;32]
//! signature := key_name:str16 signature:bytes16     (sorted by key name, then bytes;
//!                                                    no two with the same key name)
//! ```
//!
//! [`Entry::signing_bytes`] is what a signature covers: the unihash followed by the
//! encoding of the entry with zero signatures, so adding a signature never changes
//! what the other signatures sign.

use crate::codec::{DecodeError, Reader, put_bytes16};
use crate::digest::{BlobDigest, HostFingerprint, TreeDigest, Unihash};

/// Magic bytes of an encoded entry.
pub const ENTRY_MAGIC: &str = "RSENTRY";
/// The entry encoding version this build writes and reads.
pub const ENTRY_VERSION: u8 = 2;

/// A signature over an entry's [`Entry::signing_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Signature {
    /// Name of the signing key (for example `cache.example.org-1`).
    pub key_name: String,
    /// The signature bytes.
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

/// What a task produced: its output tree and metadata. Written once, never mutated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Root of the output tree (the outhash).
    pub root: TreeDigest,
    /// Blob holding the task log, if one was kept.
    pub log: Option<BlobDigest>,
    /// How long the task ran, in milliseconds.
    pub duration_ms: u64,
    /// Fingerprint of the host tools that built it.
    pub host_fingerprint: Option<HostFingerprint>,
    /// Signatures, kept sorted by key name.
    pub signatures: Vec<Signature>,
}

/// Why an [`Entry`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEntry {
    /// A string or byte field is longer than 65535 bytes.
    #[error("{field} is {len} bytes long (the limit is 65535)")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// More than 65535 signatures.
    #[error("{0} signatures (the limit is 65535)")]
    TooManySignatures(usize),
    /// Two signatures by the same key.
    #[error("two signatures by key {0:?}")]
    DuplicateKey(String),
}

impl Entry {
    /// Checks the limits of the encoding and sorts the signatures.
    pub fn validate(&mut self) -> Result<(), InvalidEntry> {
        let check = |field: &'static str, len: usize| {
            if len > usize::from(u16::MAX) { Err(InvalidEntry::TooLong { field, len }) } else { Ok(()) }
        };
        if self.signatures.len() > usize::from(u16::MAX) {
            return Err(InvalidEntry::TooManySignatures(self.signatures.len()));
        }
        for s in &self.signatures {
            check("signature key name", s.key_name.len())?;
            check("signature", s.signature.len())?;
        }
        self.signatures.sort();
        for pair in self.signatures.windows(2) {
            if pair[0].key_name == pair[1].key_name {
                return Err(InvalidEntry::DuplicateKey(pair[0].key_name.clone()));
            }
        }
        Ok(())
    }

    /// The canonical encoding. Fails only if a field exceeds the encoding's limits.
    pub fn encode(&self) -> Result<Vec<u8>, InvalidEntry> {
        let mut sorted = self.clone();
        sorted.validate()?;
        Ok(sorted.encode_validated(true))
    }

    fn encode_validated(&self, with_signatures: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(ENTRY_MAGIC.as_bytes());
        out.push(ENTRY_VERSION);
        out.extend_from_slice(self.root.as_bytes());
        match self.log {
            None => out.push(0),
            Some(log) => {
                out.push(1);
                out.extend_from_slice(log.as_bytes());
            }
        }
        out.extend_from_slice(&self.duration_ms.to_le_bytes());
        match self.host_fingerprint {
            None => out.push(0),
            Some(host) => {
                out.push(1);
                out.extend_from_slice(host.as_bytes());
            }
        }
        let sigs: &[Signature] = if with_signatures { &self.signatures } else { &[] };
        out.extend_from_slice(&(sigs.len() as u16).to_le_bytes());
        for s in sigs {
            put_bytes16(&mut out, s.key_name.as_bytes());
            put_bytes16(&mut out, &s.signature);
        }
        out
    }

    /// The bytes a signature for this entry under `unihash` covers.
    pub fn signing_bytes(&self, unihash: &Unihash) -> Result<Vec<u8>, InvalidEntry> {
        let mut sorted = self.clone();
        sorted.validate()?;
        let mut out = unihash.as_bytes().to_vec();
        out.extend(sorted.encode_validated(false));
        Ok(out)
    }

    /// Decodes a canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.magic(ENTRY_MAGIC)?;
        r.version(ENTRY_VERSION)?;
        let root = TreeDigest::from_digest(r.digest()?);
        let at = r.offset();
        let log = match r.u8()? {
            0 => None,
            1 => Some(BlobDigest::from_digest(r.digest()?)),
            other => return Err(r.invalid("log flag", at, format!("{other} is not 0 or 1"))),
        };
        let duration_ms = r.u64()?;
        let at = r.offset();
        let host_fingerprint = match r.u8()? {
            0 => None,
            1 => Some(HostFingerprint::from_digest(r.digest()?)),
            other => return Err(r.invalid("host flag", at, format!("{other} is not 0 or 1"))),
        };
        let count = r.u16()?;
        let mut signatures: Vec<Signature> = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let at = r.offset();
            let key_name = r.str16("signature key name")?.to_owned();
            let signature = r.bytes16()?.to_vec();
            let sig = Signature { key_name, signature };
            if let Some(prev) = signatures.last()
                && prev.key_name >= sig.key_name
            {
                return Err(r.invalid("signature", at, "signatures are not sorted by distinct key names"));
            }
            signatures.push(sig);
        }
        r.finish()?;
        Ok(Self { root, log, duration_ms, host_fingerprint, signatures })
    }
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        if !s.len().is_multiple_of(2) {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn sample() -> Entry {
        Entry {
            root: TreeDigest::from_digest(Digest::of_bytes(b"root")),
            log: Some(BlobDigest::of_contents(b"log")),
            duration_ms: 1234,
            host_fingerprint: Some(HostFingerprint::from_digest(Digest::of_bytes(b"host-tools-abc"))),
            signatures: vec![
                Signature { key_name: "z".into(), signature: vec![1, 2] },
                Signature { key_name: "a".into(), signature: vec![3] },
            ],
        }
    }

    #[test]
    fn round_trip_sorts_signatures() {
        let e = sample();
        let bytes = e.encode().unwrap();
        let back = Entry::decode(&bytes).unwrap();
        assert_eq!(back.signatures[0].key_name, "a");
        assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn signing_bytes_ignore_signatures() {
        let mut e = sample();
        let u = Unihash::from_digest(Digest::of_bytes(b"u"));
        let before = e.signing_bytes(&u).unwrap();
        e.signatures.clear();
        assert_eq!(e.signing_bytes(&u).unwrap(), before);
        assert_ne!(e.signing_bytes(&Unihash::from_digest(Digest::of_bytes(b"v"))).unwrap(), before);
    }

    #[test]
    fn rejects_garbage() {
        let bytes = sample().encode().unwrap();
        assert!(Entry::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Entry::decode(b"RSENTRY\x02").is_err());
        let mut dup = sample();
        dup.signatures[1].key_name = "z".into();
        assert!(matches!(dup.encode(), Err(InvalidEntry::DuplicateKey(_))));
    }
}
