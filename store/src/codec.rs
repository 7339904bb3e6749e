//! Small helpers shared by the canonical binary encodings (trees, entries, index values).

use crate::digest::{DIGEST_LEN, Digest};

/// Why bytes are not a valid canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends before the value does.
    #[error("truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Offset where more bytes were needed.
        offset: usize,
        /// How many.
        needed: usize,
    },
    /// Bytes after the end of the value.
    #[error("{count} unexpected trailing bytes")]
    TrailingBytes {
        /// How many bytes follow the value.
        count: usize,
    },
    /// The value does not start with the expected magic bytes.
    #[error("bad magic: expected {expected:?}")]
    BadMagic {
        /// What a valid encoding starts with.
        expected: &'static str,
    },
    /// An encoding version this build does not know.
    #[error("unsupported encoding version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version in the input.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A field holds a value outside its domain.
    #[error("invalid {field} at offset {offset}: {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// A cursor over an encoding that reports offsets in its errors.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.bytes.len() - self.pos;
        if remaining < n {
            return Err(DecodeError::Truncated { offset: self.pos, needed: n - remaining });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn magic(&mut self, magic: &'static str) -> Result<(), DecodeError> {
        let got = self.take(magic.len()).map_err(|_| DecodeError::BadMagic { expected: magic })?;
        if got != magic.as_bytes() {
            return Err(DecodeError::BadMagic { expected: magic });
        }
        Ok(())
    }

    pub(crate) fn version(&mut self, supported: u8) -> Result<(), DecodeError> {
        let found = self.u8()?;
        if found != supported {
            return Err(DecodeError::UnsupportedVersion { found, supported });
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn digest(&mut self) -> Result<Digest, DecodeError> {
        let b = self.take(DIGEST_LEN)?;
        let mut a = [0u8; DIGEST_LEN];
        a.copy_from_slice(b);
        Ok(Digest::from_bytes(a))
    }

    /// A byte string prefixed by its u16 little-endian length.
    pub(crate) fn bytes16(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 string prefixed by its u16 little-endian length.
    pub(crate) fn str16(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let offset = self.pos;
        let bytes = self.bytes16()?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidField { field, offset, reason: e.to_string() })
    }

    pub(crate) fn invalid(&self, field: &'static str, offset: usize, reason: impl Into<String>) -> DecodeError {
        DecodeError::InvalidField { field, offset, reason: reason.into() }
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        let count = self.bytes.len() - self.pos;
        if count != 0 {
            return Err(DecodeError::TrailingBytes { count });
        }
        Ok(())
    }
}

/// Appends a byte string prefixed by its u16 little-endian length.
/// Callers validate lengths first; longer input is a programming error caught here.
pub(crate) fn put_bytes16(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}
