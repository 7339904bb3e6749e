//! Unpacking packages' data archives into a root file system.
//!
//! Paths are resolved the way they would be inside the finished system: a symbolic
//! link met on the way (`/lib -> usr/lib`, or an absolute `/bin -> /usr/bin`) is
//! followed *within the root*, never into the host, and `..` stops at the root. A
//! file (or link) that two packages both ship is an error naming both, as dpkg
//! refuses to overwrite another package's file; directories are shared, the last
//! package's permissions winning.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use md5::{Digest, Md5};

/// How many symbolic links one path may pass through.
const MAX_LINKS: usize = 40;

/// Why a package could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{path}: {package} would overwrite this file of {owner}")]
    Conflict { path: String, package: String, owner: String },
    #[error("{package}: archive entry {entry:?} {problem}")]
    Entry { package: String, entry: String, problem: &'static str },
    #[error("{package}: unpacking {}", path.display())]
    Io {
        package: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What unpacking one package installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Its paths as dpkg lists them: `/.`, then each path, absolute, without a
    /// trailing `/`.
    pub list: Vec<String>,
    /// The md5 of each regular file, with its path relative to the root (as
    /// `md5sums` files hold them).
    pub md5sums: Vec<(String, String)>,
}

/// Unpacks packages into one root, remembering who installed which file.
pub struct Extractor {
    root: PathBuf,
    /// Non-directory paths (resolved, relative to the root) and the package that
    /// installed each.
    owners: BTreeMap<PathBuf, String>,
}

impl Extractor {
    pub fn new(root: &Path) -> Extractor {
        Extractor { root: root.to_path_buf(), owners: BTreeMap::new() }
    }

    /// Unpack one package's data archive.
    pub fn unpack<R: Read>(&mut self, package: &str, archive: &mut tar::Archive<R>) -> Result<Unpacked, ExtractError> {
        let io_err = |path: &Path| {
            let (package, path) = (package.to_owned(), path.to_path_buf());
            move |source| ExtractError::Io { package, path, source }
        };
        let mut list = Vec::new();
        let mut md5sums = Vec::new();
        let entries = archive.entries().map_err(io_err(&self.root))?;
        for entry in entries {
            let mut entry = entry.map_err(io_err(&self.root))?;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let bad = |problem| ExtractError::Entry { package: package.to_owned(), entry: shown.clone(), problem };
            let components = normal_components(&raw).ok_or_else(|| bad("leaves the root (`..`)"))?;
            let Some((last, parents)) = components.split_last() else {
                if list.is_empty() {
                    list.push("/.".to_owned());
                }
                continue;
            };
            if list.is_empty() {
                list.push("/.".to_owned());
            }
            let mut listed = Vec::new();
            for c in &components {
                listed.push(b'/');
                listed.extend_from_slice(c.as_bytes());
            }
            let listed = String::from_utf8_lossy(&listed).into_owned();
            list.push(listed.clone());

            let parent = self.resolve(parents).map_err(|e| match e {
                Resolve::Io(path, source) => ExtractError::Io { package: package.to_owned(), path, source },
                Resolve::Problem(problem) => bad(problem),
            })?;
            let target = parent.join(last);
            let relative = target.strip_prefix(&self.root).expect("resolved below the root").to_path_buf();
            let mode = entry.header().mode().map_err(io_err(&target))? & 0o7777;
            let existing = fs::symlink_metadata(&target).ok();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                match existing {
                    Some(m) if m.is_dir() => {
                        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err(&target))?
                    }
                    // A link to a directory stays a link (as dpkg keeps it).
                    Some(m) if m.file_type().is_symlink() && target_is_dir(&self.root, &target) => {}
                    Some(_) => {
                        return Err(self.conflict(&relative, package, "a directory in the way of a file"));
                    }
                    None => {
                        fs::create_dir(&target).map_err(io_err(&target))?;
                        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err(&target))?;
                    }
                }
                continue;
            }
            if let Some(owner) = self.owners.get(&relative).filter(|o| o.as_str() != package) {
                return Err(ExtractError::Conflict {
                    path: display_path(&relative),
                    package: package.to_owned(),
                    owner: owner.clone(),
                });
            }
            match existing {
                Some(m) if m.is_dir() => return Err(self.conflict(&relative, package, "a directory")),
                Some(_) => fs::remove_file(&target).map_err(io_err(&target))?,
                None => {}
            }
            if kind.is_file() {
                let out = fs::File::create(&target).map_err(io_err(&target))?;
                let mut hashing = Md5Writer { inner: out, md5: Md5::new() };
                io::copy(&mut entry, &mut hashing).map_err(io_err(&target))?;
                let digest: String = hashing.md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
                md5sums.push((digest, listed[1..].to_owned()));
                fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err(&target))?;
            } else if kind.is_symlink() {
                let link = entry.link_name_bytes().ok_or_else(|| bad("is a link without a target"))?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&link), &target).map_err(io_err(&target))?;
            } else if kind.is_hard_link() {
                let link = entry.link_name_bytes().ok_or_else(|| bad("is a hard link without a target"))?;
                let link_components = normal_components(&link).ok_or_else(|| bad("links to outside the root"))?;
                let Some((link_last, link_parents)) = link_components.split_last() else {
                    return Err(bad("is a hard link to the root"));
                };
                let source = self
                    .resolve(link_parents)
                    .map_err(|_| bad("is a hard link to a path that does not exist"))?
                    .join(link_last);
                fs::hard_link(&source, &target).map_err(io_err(&target))?;
            } else {
                return Err(bad("is not a file, directory, symbolic link or hard link"));
            }
            self.owners.insert(relative, package.to_owned());
        }
        Ok(Unpacked { list, md5sums })
    }

    fn conflict(&self, relative: &Path, package: &str, what: &str) -> ExtractError {
        let owner = self.owners.get(relative).cloned().unwrap_or_else(|| format!("the root file system ({what})"));
        ExtractError::Conflict { path: display_path(relative), package: package.to_owned(), owner }
    }

    /// The host path of the directory `components` name inside the root, following
    /// links within the root and creating missing directories (mode 0755).
    fn resolve(&self, components: &[OsString]) -> Result<PathBuf, Resolve> {
        let mut resolved: Vec<OsString> = Vec::new();
        let mut pending: VecDeque<OsString> = components.iter().cloned().collect();
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            if c == ".." {
                resolved.pop();
                continue;
            }
            if c == "." || c.is_empty() {
                continue;
            }
            let here: PathBuf = self.root.iter().chain(resolved.iter().map(OsString::as_os_str)).collect();
            let path = here.join(&c);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => resolved.push(c),
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Resolve::Problem("passes through too many symbolic links"));
                    }
                    let target = fs::read_link(&path).map_err(|e| Resolve::Io(path.clone(), e))?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    for part in target.iter().rev() {
                        if part != "/" {
                            pending.push_front(part.to_os_string());
                        }
                    }
                }
                Ok(_) => return Err(Resolve::Problem("has a parent that is not a directory")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&path).map_err(|e| Resolve::Io(path.clone(), e))?;
                    resolved.push(c);
                }
                Err(e) => return Err(Resolve::Io(path, e)),
            }
        }
        Ok(self.root.iter().chain(resolved.iter().map(OsString::as_os_str)).collect())
    }
}

/// Writes through to a file, hashing what passes.
struct Md5Writer {
    inner: fs::File,
    md5: Md5,
}

impl io::Write for Md5Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Resolve {
    Io(PathBuf, io::Error),
    Problem(&'static str),
}

/// Whether the link at `path` leads to a directory inside `root`.
fn target_is_dir(root: &Path, path: &Path) -> bool {
    let Ok(target) = fs::read_link(path) else { return false };
    let joined = if target.is_absolute() {
        root.join(target.strip_prefix("/").unwrap_or(&target))
    } else {
        path.parent().unwrap_or(root).join(target)
    };
    fs::metadata(joined).is_ok_and(|m| m.is_dir())
}

/// The normal components of an archive path (`./usr/lib/` → `usr`, `lib`), or
/// `None` when it has a `..`.
fn normal_components(raw: &[u8]) -> Option<Vec<OsString>> {
    let mut out = Vec::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => return None,
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn display_path(relative: &Path) -> String {
    format!("/{}", relative.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::deb::archive::TarWriter;

    fn archive(build: impl FnOnce(&mut TarWriter<Vec<u8>>)) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new(), 0);
        build(&mut w);
        w.finish().unwrap()
    }

    fn unpack(x: &mut Extractor, package: &str, bytes: &[u8]) -> Result<Unpacked, ExtractError> {
        x.unpack(package, &mut tar::Archive::new(bytes))
    }

    #[test]
    fn links_are_followed_inside_the_root_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir(&root).unwrap();
        let mut x = Extractor::new(&root);
        let usrmerge = archive(|w| {
            w.directory(b"./", 0o755).unwrap();
            w.directory(b"./usr/", 0o755).unwrap();
            w.directory(b"./usr/lib/", 0o755).unwrap();
            w.symlink(b"./lib", b"/usr/lib").unwrap();
        });
        assert_eq!(unpack(&mut x, "base", &usrmerge).unwrap().list, ["/.", "/usr", "/usr/lib", "/lib"]);
        let lib = archive(|w| {
            w.directory(b"./", 0o755).unwrap();
            w.directory(b"./lib/", 0o755).unwrap();
            w.file(b"./lib/libz.so.1", 0o644, 2, &b"zz"[..]).unwrap();
        });
        let unpacked = unpack(&mut x, "zlib", &lib).unwrap();
        assert_eq!(unpacked.list, ["/.", "/lib", "/lib/libz.so.1"]);
        assert_eq!(unpacked.md5sums, [("25ed1bcb423b0b7200f485fc5ff71c8e".to_owned(), "lib/libz.so.1".to_owned())]);
        assert_eq!(fs::read(root.join("usr/lib/libz.so.1")).unwrap(), b"zz", "through the absolute link, inside");
        assert!(fs::symlink_metadata(root.join("lib")).unwrap().file_type().is_symlink(), "the link is kept");

        let same = archive(|w| w.file(b"./usr/lib/libz.so.1", 0o644, 1, &b"x"[..]).unwrap());
        let err = unpack(&mut x, "other", &same).unwrap_err();
        assert_eq!(err.to_string(), "/usr/lib/libz.so.1: other would overwrite this file of zlib");
    }

    #[test]
    fn parent_dir_entries_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let mut x = Extractor::new(t.path());
        // Built by hand: the writer itself does not check names.
        let evil = archive(|w| w.file(b"./../escape", 0o644, 1, &b"x"[..]).unwrap());
        assert!(matches!(unpack(&mut x, "evil", &evil), Err(ExtractError::Entry { .. })));
        assert!(!t.path().parent().unwrap().join("escape").exists());
    }
}
