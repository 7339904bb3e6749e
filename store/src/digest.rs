//! Digests: [`Digest`], a blake3 hash (32 bytes), and one type per kind of hash, so a
//! blob digest is never taken for a tree, nor a taskhash for a unihash.
//!
//! | type | what it hashes |
//! |---|---|
//! | [`BlobDigest`] | a file's contents (plain blake3, what `b3sum` prints) |
//! | [`TreeDigest`] | a directory's canonical encoding (see [`crate::tree`]) |
//! | [`Basehash`] | a task's canonical derivation, without its dependencies |
//! | [`Taskhash`] | a basehash, the host fingerprint and the dependencies' unihashes |
//! | [`Unihash`] | what hash equivalence says a taskhash stands for |
//! | [`Outhash`] | a task's output as hash equivalence compares it (its tree's root) |
//! | [`HostFingerprint`] | the host programs and system exposed to tasks |
//!
//! Every kind prints with its algorithm, `b3:` and 64 lowercase hex digits, and parses
//! from that form (or from the 64 hex digits alone). Converting between kinds is
//! explicit ([`Unihash::from_taskhash`], [`Outhash::of_tree`]); nothing hashes the text
//! of a digest that failed to parse.

use std::fmt;
use std::str::FromStr;

/// Length of a [`Digest`] in bytes.
pub const DIGEST_LEN: usize = 32;

/// How every digest is printed: the algorithm, then a colon.
pub const ALGORITHM_PREFIX: &str = "b3:";

/// A blake3 digest (32 bytes), of no particular kind: the store names objects of either
/// kind by it (with an [`crate::ObjectKind`] beside it). Printed as `b3:` and 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; DIGEST_LEN]);

impl Digest {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// Reads a digest from a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ParseDigestError> {
        let array: [u8; DIGEST_LEN] =
            bytes.try_into().map_err(|_| ParseDigestError::Length { found: bytes.len() * 2 })?;
        Ok(Self(array))
    }

    /// The plain blake3 hash of `data`.
    pub fn of_bytes(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// Lowercase hex, 64 characters, without the algorithm (for file names).
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(DIGEST_LEN * 2);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// The first `n` hex digits (for shard directory names and short displays).
    pub fn hex_prefix(&self, n: usize) -> String {
        let mut hex = self.to_hex();
        hex.truncate(n);
        hex
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ALGORITHM_PREFIX}{}", self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Why a string is not a valid digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDigestError {
    /// Wrong number of hex digits.
    #[error("a digest is `b3:` and 64 hex digits, found {found} digits")]
    Length {
        /// Number of characters found after the algorithm.
        found: usize,
    },
    /// A character that is not a lowercase hex digit.
    #[error("invalid character {found:?} at position {position} (expected 0-9 or a-f)")]
    Character {
        /// The offending character.
        found: char,
        /// Its character position after the algorithm.
        position: usize,
    },
    /// Another algorithm than blake3.
    #[error("unknown digest algorithm {0:?} (rstore's digests are `b3:`)")]
    Algorithm(String),
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    /// `b3:` and 64 lowercase hex digits, or the 64 digits alone.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = match s.split_once(':') {
            Some(("b3", hex)) => hex,
            Some((algorithm, _)) => return Err(ParseDigestError::Algorithm(algorithm.to_owned())),
            None => s,
        };
        let chars = hex.chars().count();
        if chars != DIGEST_LEN * 2 || hex.len() != DIGEST_LEN * 2 {
            return Err(ParseDigestError::Length { found: chars });
        }
        let nibble = |position: usize, c: u8| -> Result<u8, ParseDigestError> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(ParseDigestError::Character { found: char::from(c), position }),
            }
        };
        let bytes = hex.as_bytes();
        let mut out = [0u8; DIGEST_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = (nibble(2 * i, bytes[2 * i])? << 4) | nibble(2 * i + 1, bytes[2 * i + 1])?;
        }
        Ok(Self(out))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Defines a kind of digest: a [`Digest`] that only converts to another kind explicitly.
macro_rules! digest_kind {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Digest);

        impl $name {
            /// Takes a digest computed as this kind's definition says.
            pub const fn from_digest(digest: Digest) -> Self {
                Self(digest)
            }

            /// Wraps raw digest bytes computed as this kind's definition says.
            pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Self {
                Self(Digest::from_bytes(bytes))
            }

            /// The digest, without its kind.
            pub const fn digest(&self) -> &Digest {
                &self.0
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
                self.0.as_bytes()
            }

            /// Lowercase hex, 64 characters, without the algorithm (for file names).
            pub fn to_hex(&self) -> String {
                self.0.to_hex()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseDigestError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Digest::deserialize(deserializer).map(Self)
            }
        }
    };
}

digest_kind!(
    /// The digest of a blob: the plain blake3 hash of a file's contents.
    BlobDigest
);
digest_kind!(
    /// The digest of a tree: blake3 in key-derivation mode over its canonical encoding.
    TreeDigest
);
digest_kind!(
    /// The hash of a task's canonical derivation, without its dependencies.
    Basehash
);
digest_kind!(
    /// The hash of a task's basehash, the host fingerprint and its dependencies' unihashes.
    Taskhash
);
digest_kind!(
    /// What hash equivalence says a taskhash stands for: the first taskhash that
    /// produced the same output, or the taskhash itself.
    Unihash
);
digest_kind!(
    /// A task's output as hash equivalence compares it.
    Outhash
);
digest_kind!(
    /// The host programs and system exposed to tasks.
    HostFingerprint
);

impl BlobDigest {
    /// The digest of a blob with these contents.
    pub fn of_contents(data: &[u8]) -> Self {
        Self(Digest::of_bytes(data))
    }
}

impl Unihash {
    /// A taskhash no equivalence applies to stands for itself.
    pub const fn from_taskhash(taskhash: Taskhash) -> Self {
        Self(taskhash.0)
    }
}

impl Outhash {
    /// The outhash of a task whose output is the tree `root`.
    pub const fn of_tree(root: TreeDigest) -> Self {
        Self(root.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_with_the_algorithm_and_parsed_back() {
        let d = BlobDigest::of_contents(b"hello");
        let text = d.to_string();
        assert_eq!(text, "b3:ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f");
        assert_eq!(text.parse::<BlobDigest>().unwrap(), d);
        assert_eq!(d.to_hex().parse::<BlobDigest>().unwrap(), d);
        assert_eq!(format!("{d:?}"), format!("BlobDigest({text})"));
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn rejects_bad_strings() {
        assert_eq!("abc".parse::<Digest>(), Err(ParseDigestError::Length { found: 3 }));
        assert_eq!("b3:abc".parse::<Digest>(), Err(ParseDigestError::Length { found: 3 }));
        let upper = "EA8F163DB38682925E4491C5E58D4BB3506EF8C14EB78A86E908C5624A67200F";
        assert!(matches!(upper.parse::<Digest>(), Err(ParseDigestError::Character { found: 'E', position: 0 })));
        let sha = format!("sha256:{}", "0".repeat(64));
        assert_eq!(sha.parse::<Digest>(), Err(ParseDigestError::Algorithm("sha256".into())));
        let mut s = "0".repeat(63);
        s.push('é');
        assert!(s.parse::<Digest>().is_err());
    }
}
