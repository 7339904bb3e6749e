//! Small index records: complete-tree records and GC roots.
//!
//! # Encodings (version 1, integers little-endian)
//!
//! ```text
//! tree record (table `trees`, key = root digest)
//!     := "RSTINFO" version:u8(=1) logical_bytes:u64 files:u64 directories:u64 symlinks:u64
//! GC root (table `roots`, key = "pin:" NAME | "link:" ABSOLUTE-PATH)
//!     := "RSROOT" version:u8(=1) kind:u8 (1 entry, 2 tree) digest:[u8;32]
//! report (table `reports`, key = taskhash)
//!     := "RSREPORT" version:u8(=1) identity:str16 unihash:[u8;32] outhash:[u8;32]
//! ```
//!
//! `str16` is a u16 length followed by that many bytes of UTF-8.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::codec::{DecodeError, Reader, put_bytes16};
use crate::digest::{Digest, Outhash, Taskhash, TreeDigest, Unihash};
use crate::error::StoreError;

const TREE_INFO_MAGIC: &str = "RSTINFO";
const ROOT_MAGIC: &str = "RSROOT";
const REPORT_MAGIC: &str = "RSREPORT";

/// What hash equivalence knows of one taskhash: the task it belongs to, the unihash
/// it stands for, and the outhash it was reported with (the output of that unihash).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Equivalence {
    /// The task's identity (`recipe:do_task`).
    pub identity: String,
    /// The taskhash.
    pub taskhash: Taskhash,
    /// What it stands for.
    pub unihash: Unihash,
    /// The output tree's root, as hash equivalence compares outputs.
    pub outhash: Outhash,
}

impl Equivalence {
    /// The `reports` value (the taskhash is the key).
    pub(crate) fn encode_value(&self) -> Vec<u8> {
        let mut out = REPORT_MAGIC.as_bytes().to_vec();
        out.push(1);
        put_bytes16(&mut out, self.identity.as_bytes());
        out.extend_from_slice(self.unihash.as_bytes());
        out.extend_from_slice(self.outhash.as_bytes());
        out
    }

    pub(crate) fn decode_value(taskhash: Taskhash, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.magic(REPORT_MAGIC)?;
        r.version(1)?;
        let identity = r.str16("task identity")?.to_owned();
        let unihash = Unihash::from_digest(r.digest()?);
        let outhash = Outhash::from_digest(r.digest()?);
        r.finish()?;
        Ok(Self { identity, taskhash, unihash, outhash })
    }
}

/// A tree whose objects are all durable in the store, with its totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeInfo {
    /// Total size of the regular files.
    pub logical_bytes: u64,
    /// Regular files.
    pub files: u64,
    /// Directories, including the root.
    pub directories: u64,
    /// Symbolic links.
    pub symlinks: u64,
}

impl TreeInfo {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = TREE_INFO_MAGIC.as_bytes().to_vec();
        out.push(1);
        for v in [self.logical_bytes, self.files, self.directories, self.symlinks] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.magic(TREE_INFO_MAGIC)?;
        r.version(1)?;
        let info = Self { logical_bytes: r.u64()?, files: r.u64()?, directories: r.u64()?, symlinks: r.u64()? };
        r.finish()?;
        Ok(info)
    }
}

/// What a GC root keeps alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootTarget {
    /// An entry (its output tree and log).
    Entry(Unihash),
    /// A tree.
    Tree(TreeDigest),
}

impl RootTarget {
    /// The digest it names.
    pub fn digest(&self) -> Digest {
        match self {
            RootTarget::Entry(d) => *d.digest(),
            RootTarget::Tree(d) => *d.digest(),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = ROOT_MAGIC.as_bytes().to_vec();
        out.push(1);
        let (kind, digest) = match self {
            RootTarget::Entry(d) => (1, d.digest()),
            RootTarget::Tree(d) => (2, d.digest()),
        };
        out.push(kind);
        out.extend_from_slice(digest.as_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.magic(ROOT_MAGIC)?;
        r.version(1)?;
        let at = r.offset();
        let kind = r.u8()?;
        let digest = r.digest()?;
        r.finish()?;
        match kind {
            1 => Ok(RootTarget::Entry(Unihash::from_digest(digest))),
            2 => Ok(RootTarget::Tree(TreeDigest::from_digest(digest))),
            other => Err(DecodeError::InvalidField { field: "root kind", offset: at, reason: format!("{other}") }),
        }
    }
}

impl fmt::Display for RootTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootTarget::Entry(d) => write!(f, "entry {d}"),
            RootTarget::Tree(d) => write!(f, "tree {d}"),
        }
    }
}

/// The name of a GC root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RootName {
    /// A named pin, kept until removed.
    Pin(String),
    /// A result link a build registered: alive while something exists at the path.
    Link(PathBuf),
}

impl RootName {
    /// A pin name: 1..=255 bytes of UTF-8 without control characters.
    pub fn pin(name: &str) -> Result<Self, StoreError> {
        let bad = |reason| StoreError::InvalidRootName { name: name.to_owned(), reason };
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.len() > 255 {
            return Err(bad("longer than 255 bytes"));
        }
        if name.chars().any(char::is_control) {
            return Err(bad("contains control characters"));
        }
        Ok(RootName::Pin(name.to_owned()))
    }

    pub(crate) fn key(&self) -> Vec<u8> {
        match self {
            RootName::Pin(name) => [b"pin:".as_slice(), name.as_bytes()].concat(),
            RootName::Link(path) => [b"link:".as_slice(), path.as_os_str().as_bytes()].concat(),
        }
    }

    pub(crate) fn from_key(key: &[u8]) -> Option<Self> {
        if let Some(rest) = key.strip_prefix(b"pin:") {
            return Some(RootName::Pin(String::from_utf8(rest.to_vec()).ok()?));
        }
        let rest = key.strip_prefix(b"link:")?;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(rest));
        path.is_absolute().then_some(RootName::Link(path))
    }
}

impl fmt::Display for RootName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootName::Pin(name) => write!(f, "pin:{name}"),
            RootName::Link(path) => write!(f, "link:{}", path.display()),
        }
    }
}

/// A GC root: a name and what it keeps alive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcRoot {
    /// The root's name.
    pub name: RootName,
    /// What it keeps alive.
    pub target: RootTarget,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let info = TreeInfo { logical_bytes: 1, files: 2, directories: 3, symlinks: 4 };
        assert_eq!(TreeInfo::decode(&info.encode()).unwrap(), info);
        let t = RootTarget::Tree(TreeDigest::from_digest(Digest::of_bytes(b"x")));
        assert_eq!(RootTarget::decode(&t.encode()).unwrap(), t);
        assert!(RootTarget::decode(b"RSROOT\x01\x03").is_err());
        let th = Taskhash::from_digest(Digest::of_bytes(b"t"));
        let e = Equivalence {
            identity: "zlib:do_install".into(),
            taskhash: th,
            unihash: Unihash::from_digest(Digest::of_bytes(b"u")),
            outhash: Outhash::from_digest(Digest::of_bytes(b"o")),
        };
        assert_eq!(Equivalence::decode_value(th, &e.encode_value()).unwrap(), e);
        assert!(Equivalence::decode_value(th, &e.encode_value()[..40]).is_err());
        let link = RootName::Link(PathBuf::from("/a/result"));
        assert_eq!(RootName::from_key(&link.key()), Some(link));
        assert!(RootName::pin("").is_err());
        assert!(RootName::pin("a\nb").is_err());
    }
}
