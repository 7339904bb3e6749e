//! [`Digest`]: a blake3 hash, 32 bytes, printed as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

/// Length of a [`Digest`] in bytes.
pub const DIGEST_LEN: usize = 32;

/// A blake3 digest (32 bytes).
///
/// Blob digests are the plain blake3 hash of the file contents (what `b3sum` prints);
/// tree digests use blake3 in key-derivation mode over the canonical tree encoding
/// (see [`crate::tree`]). Printed and parsed as 64 lowercase hexadecimal digits.
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

    /// The plain blake3 hash of `data` (the digest of a blob with these contents).
    pub fn of_blob(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
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
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; DIGEST_LEN * 2];
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        // The buffer only holds ASCII hex digits.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Why a string is not a valid [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDigestError {
    /// Wrong number of hex digits.
    #[error("a digest has 64 hex digits, found {found}")]
    Length {
        /// Number of characters found.
        found: usize,
    },
    /// A character that is not a lowercase hex digit.
    #[error("invalid character {found:?} at position {position} (expected 0-9 or a-f)")]
    Character {
        /// The offending character.
        found: char,
        /// Its character position.
        position: usize,
    },
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let chars = s.chars().count();
        if chars != DIGEST_LEN * 2 || s.len() != DIGEST_LEN * 2 {
            return Err(ParseDigestError::Length { found: chars });
        }
        let nibble = |position: usize, c: u8| -> Result<u8, ParseDigestError> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(ParseDigestError::Character { found: char::from(c), position }),
            }
        };
        let bytes = s.as_bytes();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let d = Digest::of_blob(b"hello");
        let hex = d.to_string();
        assert_eq!(hex, "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f");
        assert_eq!(hex.parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn rejects_bad_strings() {
        assert_eq!("abc".parse::<Digest>(), Err(ParseDigestError::Length { found: 3 }));
        let upper = "EA8F163DB38682925E4491C5E58D4BB3506EF8C14EB78A86E908C5624A67200F";
        assert!(matches!(upper.parse::<Digest>(), Err(ParseDigestError::Character { found: 'E', position: 0 })));
        let mut s = "0".repeat(63);
        s.push('é');
        assert!(s.parse::<Digest>().is_err());
    }
}
