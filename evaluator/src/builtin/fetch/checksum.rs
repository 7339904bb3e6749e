//! The checksums a download is verified against (`SRC_URI[sha256sum]`, `[md5sum]`),
//! validated when parsed and computed while bytes stream past.

use std::fmt;
use std::io::{self, Read, Write};

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A checksum algorithm BitBake recipes name in `SRC_URI[<algo>sum]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Md5,
}

impl Algorithm {
    /// Both algorithms, strongest first (the order lookups try them in).
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    /// The name used in recipes and in the download index (`sha256`, `md5`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Md5 => "md5",
        }
    }

    /// Length of the digest in hex digits.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Md5 => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest of one algorithm as lowercase hex, checked on construction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "ChecksumRepr", into = "ChecksumRepr")]
pub struct Checksum {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Serialize, Deserialize)]
struct ChecksumRepr {
    algorithm: Algorithm,
    hex: String,
}

impl TryFrom<ChecksumRepr> for Checksum {
    type Error = BadChecksum;
    fn try_from(r: ChecksumRepr) -> Result<Self, BadChecksum> {
        Checksum::parse(r.algorithm, &r.hex)
    }
}

impl From<Checksum> for ChecksumRepr {
    fn from(c: Checksum) -> Self {
        ChecksumRepr { algorithm: c.algorithm, hex: c.hex }
    }
}

/// A checksum value that is not a valid digest of its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {algorithm} checksum ({len} hex digits expected)", len = algorithm.hex_len())]
pub struct BadChecksum {
    pub algorithm: Algorithm,
    pub value: String,
}

impl Checksum {
    /// Parse a hex digest (upper or lower case, surrounding blanks ignored).
    pub fn parse(algorithm: Algorithm, value: &str) -> Result<Checksum, BadChecksum> {
        let hex = value.trim().to_ascii_lowercase();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadChecksum { algorithm, value: value.to_owned() });
        }
        Ok(Checksum { algorithm, hex })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The digest as lowercase hex.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// What a file is expected to hash to: any of the given checksums may be absent, and
/// every one present must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Checksum>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<Checksum>,
}

impl Expected {
    /// No checksum at all (a fetch cannot be verified).
    pub fn is_empty(&self) -> bool {
        self.sha256.is_none() && self.md5.is_none()
    }

    /// The checksums present, strongest first.
    pub fn iter(&self) -> impl Iterator<Item = &Checksum> {
        self.sha256.iter().chain(self.md5.iter())
    }

    /// The first expected checksum that `actual` does not match, with the actual value.
    pub fn mismatch(&self, actual: &Computed) -> Option<(Checksum, Checksum)> {
        self.iter().find_map(|want| {
            let got = actual.get(want.algorithm());
            (got != *want).then(|| (want.clone(), got))
        })
    }
}

/// Both digests of some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    pub sha256: Checksum,
    pub md5: Checksum,
}

impl Computed {
    pub fn get(&self, algorithm: Algorithm) -> Checksum {
        match algorithm {
            Algorithm::Sha256 => self.sha256.clone(),
            Algorithm::Md5 => self.md5.clone(),
        }
    }
}

/// Computes sha256 and md5 of everything written to it.
#[derive(Default, Clone)]
pub struct Hasher {
    sha256: Sha256,
    md5: Md5,
    bytes: u64,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.md5.update(data);
        self.bytes += data.len() as u64;
    }

    /// How many bytes went through.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn finish(self) -> Computed {
        Computed {
            sha256: Checksum { algorithm: Algorithm::Sha256, hex: to_hex(&self.sha256.finalize()) },
            md5: Checksum { algorithm: Algorithm::Md5, hex: to_hex(&self.md5.finalize()) },
        }
    }
}

/// Hash everything `reader` yields, copying it to `out` on the way.
pub fn copy_hashing(reader: &mut dyn Read, out: &mut dyn Write) -> io::Result<Computed> {
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    Ok(hasher.finish())
}

/// The digests of a file's contents.
pub fn hash_file(path: &std::path::Path) -> io::Result<Computed> {
    let mut f = std::fs::File::open(path)?;
    copy_hashing(&mut f, &mut io::sink())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc() {
        let mut h = Hasher::new();
        h.update(b"abc");
        let c = h.finish();
        assert_eq!(c.sha256.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(c.md5.hex(), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn parse_normalises_and_rejects() {
        let c = Checksum::parse(Algorithm::Md5, " 900150983CD24FB0D6963F7D28E17F72 ").unwrap();
        assert_eq!(c.hex(), "900150983cd24fb0d6963f7d28e17f72");
        assert!(Checksum::parse(Algorithm::Sha256, "900150983cd24fb0d6963f7d28e17f72").is_err());
        assert!(Checksum::parse(Algorithm::Md5, "zz0150983cd24fb0d6963f7d28e17f72").is_err());
        let err: Result<Checksum, _> = serde_json::from_str(r#"{"algorithm":"md5","hex":"12"}"#);
        assert!(err.is_err(), "an invalid checksum must not deserialize");
    }

    #[test]
    fn mismatch_names_the_first_bad_checksum() {
        let mut h = Hasher::new();
        h.update(b"abc");
        let actual = h.finish();
        let good = Expected { sha256: Some(actual.sha256.clone()), md5: Some(actual.md5.clone()) };
        assert_eq!(good.mismatch(&actual), None);
        let bad_md5 = Expected {
            sha256: Some(actual.sha256.clone()),
            md5: Some(Checksum::parse(Algorithm::Md5, &"0".repeat(32)).unwrap()),
        };
        let (want, got) = bad_md5.mismatch(&actual).unwrap();
        assert_eq!(want.algorithm(), Algorithm::Md5);
        assert_eq!(got, actual.md5);
    }
}
