//! The archive formats inside a `.deb`: the outer `ar` archive, the GNU tar streams
//! of `control.tar` and `data.tar`, and their compression — written and read.
//!
//! Written archives are a pure function of their entries: tar headers carry owner
//! `root:root` (0:0), one fixed mtime, the permission bits and sizes, nothing else of
//! the build host; compressors run single-threaded with fixed settings (xz preset 6
//! with CRC64, gzip level 9 without name or time, zstd level 3: the defaults of
//! `dpkg-deb`), so the same entries give the same bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

/// `DEB_COMPRESSION`: how `control.tar` and `data.tar` are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    Xz,
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// `xz`, `gzip` (or `gz`), `zstd` (or `zst`), `none`: the names `dpkg-deb -Z` takes.
    pub fn from_name(name: &str) -> Option<Compression> {
        Some(match name {
            "xz" => Compression::Xz,
            "gzip" | "gz" => Compression::Gzip,
            "zstd" | "zst" => Compression::Zstd,
            "none" => Compression::None,
            _ => return None,
        })
    }

    /// The suffix of the archive member (`.xz`, …; empty for none).
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Xz => ".xz",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
            Compression::None => "",
        }
    }

    /// The compression of a member named `<stem><suffix>`.
    pub fn from_member(name: &str, stem: &str) -> Option<Compression> {
        let suffix = name.strip_prefix(stem)?;
        [Compression::Xz, Compression::Gzip, Compression::Zstd, Compression::None]
            .into_iter()
            .find(|c| c.suffix() == suffix)
    }

    /// A compressing writer over `inner`.
    pub fn encoder<W: Write>(self, inner: W) -> io::Result<Encoder<W>> {
        Ok(match self {
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(inner, 6)),
            Compression::Gzip => {
                Encoder::Gzip(flate2::GzBuilder::new().mtime(0).write(inner, flate2::Compression::best()))
            }
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(inner, 3)?),
            Compression::None => Encoder::None(inner),
        })
    }

    /// A decompressing reader over `inner`.
    pub fn decoder<'a, R: Read + 'a>(self, inner: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new(inner)),
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(inner)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
            Compression::None => Box::new(inner),
        })
    }
}

/// A compressing writer; [`Encoder::finish`] ends the stream.
pub enum Encoder<W: Write> {
    Xz(liblzma::write::XzEncoder<W>),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    /// Flush the compressed stream's end and give back the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Xz(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Xz(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Xz(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

/// Writes a GNU tar stream whose entries all belong to `root:root` and carry `mtime`.
pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    mtime: u64,
}

/// The size of a tar header's name and link name fields.
const NAME_FIELD: usize = 100;

impl<W: Write> TarWriter<W> {
    pub fn new(inner: W, mtime: u64) -> TarWriter<W> {
        TarWriter { builder: tar::Builder::new(inner), mtime }
    }

    /// A directory entry (`name` ends with `/`).
    pub fn directory(&mut self, name: &[u8], mode: u32) -> io::Result<()> {
        self.entry(tar::EntryType::Directory, name, None, mode, 0, io::empty())
    }

    /// A regular file of `size` bytes read from `data`.
    pub fn file(&mut self, name: &[u8], mode: u32, size: u64, data: impl Read) -> io::Result<()> {
        self.entry(tar::EntryType::Regular, name, None, mode, size, data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &[u8], target: &[u8]) -> io::Result<()> {
        self.entry(tar::EntryType::Symlink, name, Some(target), 0o777, 0, io::empty())
    }

    fn entry(
        &mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: Option<&[u8]>,
        mode: u32,
        size: u64,
        data: impl Read,
    ) -> io::Result<()> {
        if name.len() > NAME_FIELD {
            self.long_name(tar::EntryType::GNULongName, name)?;
        }
        if let Some(link) = link.filter(|l| l.len() > NAME_FIELD) {
            self.long_name(tar::EntryType::GNULongLink, link)?;
        }
        let mut header = self.header(kind, mode, size, self.mtime)?;
        let gnu = header.as_gnu_mut().expect("a GNU header");
        let n = name.len().min(NAME_FIELD);
        gnu.name[..n].copy_from_slice(&name[..n]);
        if let Some(link) = link {
            let n = link.len().min(NAME_FIELD);
            gnu.linkname[..n].copy_from_slice(&link[..n]);
        }
        header.set_cksum();
        // The data must be exactly `size` bytes: a file that changed size while being
        // archived would otherwise corrupt the stream.
        let mut limited = data.take(size);
        let mut counted = CountingReader { inner: &mut limited, count: 0 };
        self.builder.append(&header, &mut counted)?;
        if counted.count != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} shrank while being archived ({} of {size} bytes)",
                    String::from_utf8_lossy(name),
                    counted.count
                ),
            ));
        }
        Ok(())
    }

    /// A GNU `././@LongLink` entry carrying a name longer than the header's field.
    fn long_name(&mut self, kind: tar::EntryType, name: &[u8]) -> io::Result<()> {
        let mut header = self.header(kind, 0o644, name.len() as u64 + 1, 0)?;
        let gnu = header.as_gnu_mut().expect("a GNU header");
        let marker = b"././@LongLink";
        gnu.name[..marker.len()].copy_from_slice(marker);
        header.set_cksum();
        self.builder.append(&header, name.chain(&[0u8][..]))
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> io::Result<tar::Header> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode & 0o7777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("root")?;
        header.set_groupname("root")?;
        header.set_size(size);
        header.set_mtime(mtime);
        Ok(header)
    }

    /// Write the end-of-archive marker and give back the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

struct CountingReader<'a, R: Read> {
    inner: &'a mut R,
    count: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// The global header of an `ar` archive.
pub const AR_MAGIC: &[u8; 8] = b"!<arch>\n";

/// The 60-byte header of one `ar` member, as `dpkg-deb` writes it: owner 0:0, mode
/// 100644, `mtime`.
pub fn ar_member_header(name: &str, mtime: u64, size: u64) -> io::Result<[u8; 60]> {
    if name.len() > 16 || name.contains('/') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("ar member name {name:?} does not fit")));
    }
    let text = format!("{name:<16}{mtime:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 100644);
    let mut header = [0u8; 60];
    if text.len() != 60 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("ar member {name}: size {size} too large")));
    }
    header.copy_from_slice(text.as_bytes());
    Ok(header)
}

/// Write one `ar` member (header, data, padding to an even offset).
pub fn write_ar_member(
    out: &mut impl Write,
    name: &str,
    mtime: u64,
    data: &mut impl Read,
    size: u64,
) -> io::Result<()> {
    out.write_all(&ar_member_header(name, mtime, size)?)?;
    let copied = io::copy(&mut data.take(size), out)?;
    if copied != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("ar member {name}: {copied} of {size} bytes"),
        ));
    }
    if size % 2 == 1 {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One member of an `ar` archive being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArMember {
    pub name: String,
    /// Where its data starts in the file.
    pub offset: u64,
    pub size: u64,
}

/// Why an `ar` archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArError {
    #[error("reading the archive")]
    Io(#[from] io::Error),
    #[error("not an ar archive (it does not start with !<arch>)")]
    NotAr,
    #[error("member header at offset {offset} is malformed")]
    BadHeader { offset: u64 },
}

/// The members of the `ar` archive in `file`, in order.
pub fn ar_members(file: &mut File) -> Result<Vec<ArMember>, ArError> {
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 8];
    if file.read_exact(&mut magic).is_err() || &magic != AR_MAGIC {
        return Err(ArError::NotAr);
    }
    let mut members = Vec::new();
    let mut offset = 8u64;
    while offset < len {
        let mut header = [0u8; 60];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut header).map_err(|_| ArError::BadHeader { offset })?;
        if &header[58..60] != b"`\n" {
            return Err(ArError::BadHeader { offset });
        }
        let field = |range: std::ops::Range<usize>| String::from_utf8_lossy(&header[range]).trim().to_owned();
        let name = field(0..16).trim_end_matches('/').to_owned();
        let size: u64 = field(48..58).parse().map_err(|_| ArError::BadHeader { offset })?;
        let data = offset + 60;
        if data + size > len {
            return Err(ArError::BadHeader { offset });
        }
        members.push(ArMember { name, offset: data, size });
        offset = data + size + size % 2;
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ar_header_matches_dpkg_deb() {
        let h = ar_member_header("debian-binary", 1577836800, 4).unwrap();
        assert_eq!(&h[..], &b"debian-binary   1577836800  0     0     100644  4         `\n"[..]);
        assert!(ar_member_header("a-very-long-member-name", 0, 1).is_err());
    }

    #[test]
    fn compression_round_trips_and_is_deterministic() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for c in [Compression::Xz, Compression::Gzip, Compression::Zstd, Compression::None] {
            let pack = || {
                let mut e = c.encoder(Vec::new()).unwrap();
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            };
            let packed = pack();
            assert_eq!(packed, pack(), "{c:?} is deterministic");
            let mut back = Vec::new();
            c.decoder(&packed[..]).unwrap().read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "{c:?} round-trips");
        }
    }

    #[test]
    fn long_names_use_gnu_long_link_entries() {
        let long = format!("./{}/file", "d".repeat(150));
        let target = "t".repeat(120);
        let mut w = TarWriter::new(Vec::new(), 1234);
        w.file(long.as_bytes(), 0o644, 3, &b"abc"[..]).unwrap();
        w.symlink(b"./link", target.as_bytes()).unwrap();
        let bytes = w.finish().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<(String, u64, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e.link_name().unwrap().map(|l| l.display().to_string());
                (e.path().unwrap().display().to_string(), e.header().mtime().unwrap(), link)
            })
            .collect();
        assert_eq!(entries, [(long, 1234, None), ("./link".into(), 1234, Some(target))]);
    }

    #[test]
    fn a_short_reader_is_an_error() {
        let mut w = TarWriter::new(Vec::new(), 0);
        assert!(w.file(b"./f", 0o644, 10, &b"abc"[..]).is_err());
    }
}
