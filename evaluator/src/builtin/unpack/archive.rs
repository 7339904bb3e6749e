//! Extracting archives safely and reproducibly: tar (plain, gzip, bzip2, xz, zstd),
//! zip, and the data of `.deb`/`.ipk` packages.
//!
//! Every member lands below the target directory or the archive is rejected: absolute
//! names, `..` components and members that would be written through a symbolic link
//! (one the archive itself created) are errors naming the member. Symbolic links may
//! point anywhere (source trees ship dangling and absolute links); nothing is ever
//! written through one. Owners are not restored (what the task writes is owned by its
//! user, root inside the sandbox); modes are kept less setuid, setgid, sticky and
//! group/other write (a normal user's `tar` with umask 022); modification times are
//! the archive's, but never later than `SOURCE_DATE_EPOCH`. Device nodes and FIFOs are
//! skipped.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use rstore_store::set_times;
use serde::{Deserialize, Serialize};

use crate::builtin::fetch::files::normal_mode;

/// A compression of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// An archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", content = "compression", rename_all = "kebab-case")]
pub enum Format {
    /// A tar archive, possibly compressed.
    Tar(Compression),
    /// A zip (or jar) archive.
    Zip,
    /// A Debian or opkg package (`ar` with a `data.tar.*` member): its data is extracted.
    Deb,
}

impl Format {
    /// The archive format a file name says (BitBake's rules for do_unpack), or `None`
    /// for a file that is not an archive.
    pub fn from_name(name: &str) -> Option<Format> {
        let n = name.split(';').next().unwrap_or(name);
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| n.ends_with(s));
        Some(if ends(&[".tar"]) {
            Format::Tar(Compression::None)
        } else if ends(&[".tgz", ".tar.gz"]) {
            Format::Tar(Compression::Gzip)
        } else if ends(&[".tbz", ".tbz2", ".tar.bz2"]) {
            Format::Tar(Compression::Bzip2)
        } else if ends(&[".txz", ".tar.xz"]) {
            Format::Tar(Compression::Xz)
        } else if ends(&[".tzst", ".tar.zst"]) {
            Format::Tar(Compression::Zstd)
        } else if ends(&[".zip", ".jar"]) {
            Format::Zip
        } else if ends(&[".deb", ".ipk"]) {
            Format::Deb
        } else {
            return None;
        })
    }
}

impl Compression {
    /// The compression of a single compressed file (`foo.gz`), by BitBake's rules, and
    /// the name of the file it holds.
    pub fn of_single_file(name: &str) -> Option<(Compression, &str)> {
        for (suffix, c) in [
            (".gz", Compression::Gzip),
            (".bz2", Compression::Bzip2),
            (".xz", Compression::Xz),
            (".zst", Compression::Zstd),
        ] {
            if let Some(stem) = name.strip_suffix(suffix) {
                return Some((c, stem));
            }
        }
        None
    }
}

/// Why an archive could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading {archive}")]
    Read {
        archive: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{archive}: member {member:?} {reason}; refusing to extract it")]
    Unsafe { archive: PathBuf, member: String, reason: String },
    #[error("{archive}: writing {path}")]
    Write {
        archive: PathBuf,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{archive}: {reason}")]
    Invalid { archive: PathBuf, reason: String },
    #[error(
        "{archive}: expands to more than {limit} bytes ({ratio} times its {size} bytes, or more than {max} bytes in all); \
         refusing to extract what looks like a decompression bomb",
        ratio = MAX_RATIO, max = MAX_BYTES
    )]
    TooLarge { archive: PathBuf, size: u64, limit: u64 },
}

/// What an archive may expand to: [`MAX_RATIO`] times its size, at least
/// [`FREE_BYTES`], never more than [`MAX_BYTES`]. Real source archives stay far below
/// (xz-compressed source trees expand 5–15 times); a sparse tar member, a zip member or
/// a compressed stream of zeros claiming terabytes is refused once past the limit.
pub const MAX_RATIO: u64 = 200;
/// Bytes any archive may expand to, whatever its size.
pub const FREE_BYTES: u64 = 1 << 30;
/// Bytes no archive may expand beyond.
pub const MAX_BYTES: u64 = 64 << 30;

/// The expansion limit of an archive of `size` bytes.
fn expansion_limit(size: u64) -> u64 {
    size.saturating_mul(MAX_RATIO).clamp(FREE_BYTES, MAX_BYTES)
}

/// What an extraction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Members written (files, directories, links).
    pub members: u64,
    /// Members skipped (devices, FIFOs, members removed by the strip level).
    pub skipped: u64,
}

/// Extract `archive` into the existing directory `dest`, dropping the first `strip`
/// components of every member name (members with no more are skipped).
pub fn extract(archive: &Path, format: Format, dest: &Path, strip: usize) -> Result<Extracted, ArchiveError> {
    let read_err = |source| ArchiveError::Read { archive: archive.to_path_buf(), source };
    let file = File::open(archive).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    let mut x = Extractor::new(archive, dest, strip, size);
    match format {
        Format::Tar(c) => x.tar(decoder(c, BufReader::with_capacity(1 << 20, file)).map_err(read_err)?)?,
        Format::Zip => x.zip(file)?,
        Format::Deb => {
            let (name, reader) = deb_data(archive, file)?;
            let c = match name.strip_prefix("data.tar").unwrap_or("") {
                "" => Compression::None,
                ".gz" => Compression::Gzip,
                ".bz2" => Compression::Bzip2,
                ".xz" => Compression::Xz,
                ".zst" => Compression::Zstd,
                other => {
                    return Err(ArchiveError::Invalid {
                        archive: archive.into(),
                        reason: format!("its data member is compressed as {other:?}, which is not supported"),
                    });
                }
            };
            x.tar(decoder(c, BufReader::with_capacity(1 << 20, reader)).map_err(read_err)?)?
        }
    }
    x.finish()
}

/// Decompress the single compressed file `archive` to `out`.
pub fn decompress(archive: &Path, compression: Compression, out: &Path) -> Result<(), ArchiveError> {
    let read_err = |source| ArchiveError::Read { archive: archive.to_path_buf(), source };
    let file = File::open(archive).map_err(read_err)?;
    let mut reader = decoder(compression, BufReader::with_capacity(1 << 20, file)).map_err(read_err)?;
    crate::builtin::fetch::files::remove_any(out).map_err(|e| ArchiveError::Write {
        archive: archive.into(),
        path: out.into(),
        source: e.source,
    })?;
    let write_err = |source| ArchiveError::Write { archive: archive.to_path_buf(), path: out.to_path_buf(), source };
    let mut f = File::create(out).map_err(write_err)?;
    let size = f.metadata().map(|_| fs::metadata(archive).map(|m| m.len()).unwrap_or(0)).map_err(write_err)?;
    let limit = expansion_limit(size);
    let copied = io::copy(&mut (&mut reader).take(limit.saturating_add(1)), &mut f).map_err(|e| {
        if e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::InvalidData {
            read_err(e)
        } else {
            write_err(e)
        }
    })?;
    if copied > limit {
        drop(f);
        let _ = fs::remove_file(out);
        return Err(ArchiveError::TooLarge { archive: archive.to_path_buf(), size, limit });
    }
    fs::set_permissions(out, fs::Permissions::from_mode(0o644)).map_err(write_err)
}

/// A reader of `c`-compressed data from `r`. Decompression runs on a thread of its
/// own feeding the caller through a bounded channel, so that decompressing and writing
/// files use two cores, as `xz -dc | tar -x` does.
fn decoder(c: Compression, r: impl io::BufRead + Send + 'static) -> io::Result<Box<dyn Read + Send>> {
    if c == Compression::None {
        return Ok(Box::new(r));
    }
    let mut inner = decompressor(c, r)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(16);
    std::thread::spawn(move || {
        loop {
            let mut chunk = vec![0u8; 256 * 1024];
            let mut filled = 0;
            let result = loop {
                match inner.read(&mut chunk[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == chunk.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            let done = filled < chunk.len();
            chunk.truncate(filled);
            let message = match result {
                Ok(()) => Ok(chunk),
                Err(e) => Err(e),
            };
            let failed = message.is_err();
            // A closed channel means the reader stopped early: stop too.
            if tx.send(message).is_err() || failed || done {
                return;
            }
        }
    });
    Ok(Box::new(ChannelReader { rx, current: Vec::new(), pos: 0, finished: false }))
}

/// The reading end of a decompression thread.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.finished {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.finished = chunk.len() < 256 * 1024;
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.finished = true;
                    return Err(e);
                }
                Err(_) => {
                    self.finished = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn decompressor(c: Compression, r: impl io::BufRead + Send + 'static) -> io::Result<Box<dyn Read + Send>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        Compression::Zstd => {
            // zstd's own default: windows up to 128 MiB (a frame asking for a 2 GiB
            // window is refused rather than allocated).
            let mut d = zstd::stream::read::Decoder::with_buffer(r)?;
            d.window_log_max(27)?;
            Box::new(d)
        }
    })
}

/// The `data.tar*` member of an `ar` archive (a .deb or .ipk): its name and contents.
fn deb_data(archive: &Path, mut file: File) -> Result<(String, io::Take<File>), ArchiveError> {
    let invalid = |reason: &str| ArchiveError::Invalid { archive: archive.into(), reason: reason.to_owned() };
    let read_err = |source| ArchiveError::Read { archive: archive.to_path_buf(), source };
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic).map_err(read_err)?;
    if &magic != b"!<arch>\n" {
        return Err(invalid("not an ar archive (a .deb or .ipk package)"));
    }
    let mut offset = 8u64;
    loop {
        let mut header = [0u8; 60];
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(invalid("the package has no data.tar member"));
            }
            Err(e) => return Err(read_err(e)),
        }
        offset += 60;
        let name = String::from_utf8_lossy(&header[..16]).trim_end().trim_end_matches('/').to_owned();
        let size: u64 = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .map_err(|_| invalid("an ar member header has no valid size"))?;
        if name.starts_with("data.tar") {
            return Ok((name, file.take(size)));
        }
        offset += size + (size & 1);
        file.seek(SeekFrom::Start(offset)).map_err(read_err)?;
    }
}

/// Why an archive member's path cannot be extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeMemberPath {
    #[error("has a '..' component")]
    ParentDir,
    #[error("is an absolute path")]
    Absolute,
}

/// The normalised relative path of a member, less `strip` leading components;
/// `Ok(None)` when nothing is left.
pub fn member_path(raw: &Path, strip: usize) -> Result<Option<PathBuf>, UnsafeMemberPath> {
    let mut parts = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnsafeMemberPath::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(UnsafeMemberPath::Absolute),
        }
    }
    if parts.len() <= strip {
        return Ok(None);
    }
    Ok(Some(parts[strip..].iter().collect()))
}

struct Extractor<'a> {
    archive: &'a Path,
    dest: &'a Path,
    strip: usize,
    /// Relative paths known to be real directories (created or checked by us).
    dirs: HashSet<PathBuf>,
    /// Directories whose mode and time are set once everything is in them.
    dir_attrs: Vec<(PathBuf, u32, Option<i64>)>,
    epoch: Option<i64>,
    done: Extracted,
    /// The copy buffer for file contents.
    buf: Vec<u8>,
    /// Bytes of file contents written so far, and how many the archive may expand to.
    written: u64,
    size: u64,
    limit: u64,
}

impl<'a> Extractor<'a> {
    fn new(archive: &'a Path, dest: &'a Path, strip: usize, size: u64) -> Extractor<'a> {
        Extractor {
            written: 0,
            size,
            limit: expansion_limit(size),
            archive,
            dest,
            strip,
            dirs: HashSet::new(),
            dir_attrs: Vec::new(),
            epoch: crate::builtin::fetch::files::source_date_epoch(),
            done: Extracted::default(),
            buf: Vec::new(),
        }
    }

    fn unsafe_member(&self, member: &Path, reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Unsafe {
            archive: self.archive.into(),
            member: member.display().to_string(),
            reason: reason.into(),
        }
    }

    fn write_err(&self, path: &Path, source: io::Error) -> ArchiveError {
        ArchiveError::Write { archive: self.archive.into(), path: path.into(), source }
    }

    fn read_err(&self, source: io::Error) -> ArchiveError {
        ArchiveError::Read { archive: self.archive.into(), source }
    }

    fn clamp(&self, mtime: Option<i64>) -> Option<i64> {
        match (mtime, self.epoch) {
            (Some(m), Some(e)) => Some(m.min(e)),
            (m, None) => m,
            (None, e) => e,
        }
    }

    /// Make sure every ancestor of `rel` is a real directory below `dest` (creating
    /// missing ones), never a symbolic link.
    fn parents(&mut self, member: &Path, rel: &Path) -> Result<(), ArchiveError> {
        let mut prefix = PathBuf::new();
        let parent = rel.parent().unwrap_or(Path::new(""));
        for c in parent.components() {
            prefix.push(c);
            if self.dirs.contains(&prefix) {
                continue;
            }
            let path = self.dest.join(&prefix);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.unsafe_member(
                        member,
                        format!("would be written through the symbolic link {}", prefix.display()),
                    ));
                }
                Ok(_) => {
                    return Err(self.unsafe_member(member, format!("needs {} to be a directory", prefix.display())));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&path).map_err(|e| self.write_err(&path, e))?;
                }
                Err(e) => return Err(self.write_err(&path, e)),
            }
            self.dirs.insert(prefix.clone());
        }
        Ok(())
    }

    /// Clear the way for a non-directory member at `rel`.
    fn replace(&mut self, member: &Path, rel: &Path) -> Result<PathBuf, ArchiveError> {
        self.parents(member, rel)?;
        let path = self.dest.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Err(self.unsafe_member(member, "would replace a directory")),
            Ok(_) => fs::remove_file(&path).map(|_| path.clone()).map_err(|e| self.write_err(&path, e)),
            Err(_) => Ok(path),
        }
    }

    fn dir(&mut self, member: &Path, rel: &Path, mode: u32, mtime: Option<i64>) -> Result<(), ArchiveError> {
        self.parents(member, rel)?;
        let path = self.dest.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&path).map_err(|e| self.write_err(&path, e))?;
                fs::create_dir(&path).map_err(|e| self.write_err(&path, e))?;
            }
            Err(_) => fs::create_dir(&path).map_err(|e| self.write_err(&path, e))?,
        }
        self.dirs.insert(rel.to_path_buf());
        self.dir_attrs.push((path, normal_mode(mode), self.clamp(mtime)));
        self.done.members += 1;
        Ok(())
    }

    fn file(
        &mut self,
        member: &Path,
        rel: &Path,
        data: &mut dyn Read,
        mode: u32,
        mtime: Option<i64>,
    ) -> Result<(), ArchiveError> {
        let path = self.replace(member, rel)?;
        let mut out =
            fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| self.write_err(&path, e))?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(256 * 1024, 0);
        let copied = loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A read error is the archive's fault.
                Err(e) => break Err(self.read_err(e)),
            };
            self.written += n as u64;
            if self.written > self.limit {
                break Err(ArchiveError::TooLarge { archive: self.archive.into(), size: self.size, limit: self.limit });
            }
            if let Err(e) = out.write_all(&buf[..n]) {
                break Err(self.write_err(&path, e));
            }
        };
        self.buf = buf;
        copied?;
        out.set_permissions(fs::Permissions::from_mode(normal_mode(mode))).map_err(|e| self.write_err(&path, e))?;
        if let Some(t) = self.clamp(mtime) {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
            out.set_modified(time).map_err(|e| self.write_err(&path, e))?;
        }
        self.done.members += 1;
        Ok(())
    }

    fn symlink(&mut self, member: &Path, rel: &Path, target: &Path, mtime: Option<i64>) -> Result<(), ArchiveError> {
        let path = self.replace(member, rel)?;
        std::os::unix::fs::symlink(target, &path).map_err(|e| self.write_err(&path, e))?;
        if let Some(t) = self.clamp(mtime) {
            set_times(&path, t).map_err(|e| self.write_err(&path, e))?;
        }
        self.done.members += 1;
        Ok(())
    }

    fn hardlink(&mut self, member: &Path, rel: &Path, target_raw: &Path) -> Result<(), ArchiveError> {
        let target = match member_path(target_raw, self.strip) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(self.unsafe_member(member, "links to a member removed by the strip level")),
            Err(why) => {
                return Err(self.unsafe_member(member, format!("links to {}, which {why}", target_raw.display())));
            }
        };
        // The link's target must be an existing non-directory reached without symlinks.
        for ancestor in target.ancestors().skip(1) {
            if ancestor.as_os_str().is_empty() {
                break;
            }
            if !self.dirs.contains(ancestor) {
                let p = self.dest.join(ancestor);
                if !fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                    return Err(self.unsafe_member(
                        member,
                        format!("links through {}, not a directory of the archive", ancestor.display()),
                    ));
                }
            }
        }
        let from = self.dest.join(&target);
        match fs::symlink_metadata(&from) {
            Ok(m) if !m.is_dir() => {}
            _ => {
                return Err(self.unsafe_member(
                    member,
                    format!("links to {}, which is not a file extracted before it", target.display()),
                ));
            }
        }
        let path = self.replace(member, rel)?;
        fs::hard_link(&from, &path).map_err(|e| self.write_err(&path, e))?;
        self.done.members += 1;
        Ok(())
    }

    /// Where member `raw` goes below the destination (`strip` leading components
    /// removed), or `None` (counted as skipped) when stripping leaves nothing.
    fn destination(&mut self, raw: &Path) -> Result<Option<PathBuf>, ArchiveError> {
        match member_path(raw, self.strip) {
            Ok(Some(rel)) => Ok(Some(rel)),
            Ok(None) => {
                self.done.skipped += 1;
                Ok(None)
            }
            Err(why) => Err(self.unsafe_member(raw, why.to_string())),
        }
    }

    /// The target of a `kind` ("symbolic" or "hard") link member.
    fn link_target<R: Read>(&self, entry: &tar::Entry<R>, raw: &Path, kind: &str) -> Result<PathBuf, ArchiveError> {
        Ok(entry
            .link_name()
            .map_err(|e| self.read_err(e))?
            .ok_or_else(|| self.unsafe_member(raw, format!("is a {kind} link without a target")))?
            .into_owned())
    }

    fn tar(&mut self, reader: Box<dyn Read + Send>) -> Result<(), ArchiveError> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| self.read_err(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.read_err(e))?;
            let raw = entry.path().map_err(|e| self.read_err(e))?.into_owned();
            let Some(rel) = self.destination(&raw)? else { continue };
            let header = entry.header();
            let mode = header.mode().unwrap_or(0o644);
            let mtime = header.mtime().ok().map(|m| m.min(i64::MAX as u64) as i64);
            let kind = header.entry_type();
            use tar::EntryType as T;
            match kind {
                T::Directory => self.dir(&raw, &rel, mode, mtime)?,
                T::Regular | T::Continuous | T::GNUSparse => self.file(&raw, &rel, &mut entry, mode, mtime)?,
                T::Symlink => {
                    let target = self.link_target(&entry, &raw, "symbolic")?;
                    self.symlink(&raw, &rel, &target, mtime)?
                }
                T::Link => {
                    let target = self.link_target(&entry, &raw, "hard")?;
                    self.hardlink(&raw, &rel, &target)?
                }
                T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
                other => {
                    tracing::warn!("{}: skipping {} ({other:?})", self.archive.display(), raw.display());
                    self.done.skipped += 1;
                }
            }
        }
        Ok(())
    }

    fn zip(&mut self, file: File) -> Result<(), ArchiveError> {
        let invalid =
            |e: zip::result::ZipError| ArchiveError::Invalid { archive: self.archive.into(), reason: e.to_string() };
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(invalid)?;
        for i in 0..archive.len() {
            let mut member = archive.by_index(i).map_err(invalid)?;
            let raw = PathBuf::from(member.name().replace('\\', "/"));
            let Some(rel) = self.destination(&raw)? else { continue };
            let unix = member.unix_mode();
            if member.is_dir() {
                self.dir(&raw, &rel, unix.unwrap_or(0o755), None)?;
            } else if member.is_symlink() {
                let mut target = String::new();
                member.read_to_string(&mut target).map_err(|e| self.read_err(e))?;
                self.symlink(&raw, &rel, Path::new(&target), None)?;
            } else {
                self.file(&raw, &rel, &mut member, unix.unwrap_or(0o644), None)?;
            }
        }
        Ok(())
    }

    /// Give directories their modes and times, deepest first.
    fn finish(mut self) -> Result<Extracted, ArchiveError> {
        self.dir_attrs.sort_by(|a, b| b.0.cmp(&a.0));
        for (path, mode, mtime) in std::mem::take(&mut self.dir_attrs) {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|e| self.write_err(&path, e))?;
            if let Some(t) = mtime {
                set_times(&path, t).map_err(|e| self.write_err(&path, e))?;
            }
        }
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_normalised_or_rejected() {
        assert_eq!(member_path(Path::new("./a/./b"), 0).unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(member_path(Path::new("top/a/b"), 1).unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(member_path(Path::new("top/"), 1).unwrap(), None);
        assert!(member_path(Path::new("a/../../etc"), 0).is_err());
        assert!(member_path(Path::new("/etc/passwd"), 0).is_err());
    }

    #[test]
    fn formats_follow_bitbake_names() {
        assert_eq!(Format::from_name("a-1.tar.bz2"), Some(Format::Tar(Compression::Bzip2)));
        assert_eq!(Format::from_name("a-1.tgz"), Some(Format::Tar(Compression::Gzip)));
        assert_eq!(Format::from_name("a.tzst"), Some(Format::Tar(Compression::Zstd)));
        assert_eq!(Format::from_name("a.jar"), Some(Format::Zip));
        assert_eq!(Format::from_name("a_1_amd64.deb"), Some(Format::Deb));
        assert_eq!(Format::from_name("defconfig"), None);
        assert_eq!(Format::from_name("a.gz"), None);
        assert_eq!(Compression::of_single_file("a.gz"), Some((Compression::Gzip, "a")));
    }

    /// A tar whose one sparse member claims 8 GiB in a few kilobytes: refused once past
    /// the limit, with a clear error, and nothing of the member left behind but what was
    /// written before the limit.
    #[test]
    fn a_sparse_tar_bomb_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("src/huge");
        fs::create_dir_all(big.parent().unwrap()).unwrap();
        File::create(&big).unwrap().set_len(8 << 30).unwrap();
        let tarball = dir.path().join("bomb.tar");
        let status = std::process::Command::new("tar")
            .args(["--sparse", "-cf"])
            .arg(&tarball)
            .arg("-C")
            .arg(dir.path().join("src"))
            .arg("huge")
            .status()
            .unwrap();
        assert!(status.success());
        assert!(fs::metadata(&tarball).unwrap().len() < 1 << 20, "the sample is not a bomb");
        let dest = dir.path().join("out");
        fs::create_dir(&dest).unwrap();
        let err = extract(&tarball, Format::Tar(Compression::None), &dest, 0).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge { limit: FREE_BYTES, .. }), "{err}");
        assert!(err.to_string().contains("decompression bomb"), "{err}");
    }

    /// A gzip stream of zeros expanding 1000 times, as a single compressed file.
    #[test]
    fn a_compressed_stream_past_the_ratio_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("zeros.gz");
        let mut encoder = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1100 {
            encoder.write_all(&zeros).unwrap();
        }
        encoder.finish().unwrap();
        let size = fs::metadata(&gz).unwrap().len();
        assert!(size * MAX_RATIO < (1100 << 20), "the sample is not past the ratio");
        let out = dir.path().join("zeros");
        let err = decompress(&gz, Compression::Gzip, &out).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
        assert!(!out.exists(), "a partial output was left");
    }

    /// A zstd frame asking for a 2 GiB window (`zstd --long=31` on a stream) is refused,
    /// not allocated.
    #[test]
    fn a_zstd_frame_with_a_huge_window_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zst = dir.path().join("long.zst");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("head -c 1000 /dev/zero | zstd -q --long=31 -c > '{}'", zst.display()))
            .status()
            .unwrap();
        assert!(status.success());
        let out = dir.path().join("long");
        let err = decompress(&zst, Compression::Zstd, &out).unwrap_err();
        assert!(matches!(err, ArchiveError::Read { .. }), "{err}");
    }
}
