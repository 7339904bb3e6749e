//! What a fetch task run by BitBake's own fetcher may add to the download directory.
//!
//! DL_DIR is shared by every recipe of every build that uses it. rstore's own fetch
//! built-in verifies what it downloads itself; a layer's `do_fetch` run with the user's
//! BitBake writes DL_DIR with BitBake's fetcher, whose checks run inside the task, and a
//! hostile recipe could replace another recipe's tarball there, or plant a `.done`
//! stamp (a pickle, which the next recipe's fetcher would load). So such a task writes
//! DL_DIR through an overlay whose upper directory is its own, and afterwards rstore
//! admits into DL_DIR only the downloads the recipe's SRC_URI names, each verified on
//! the host against the recipe's checksums:
//!
//! - a regular file is copied in, hashed on the way, and renamed into place;
//! - a symlink (BitBake links a `file://` mirror's file instead of copying it) is made
//!   again when it points into one of the build's mirror directories and the file there
//!   matches;
//! - a download without a checksum is refused.
//!
//! - a git clone of the recipe's own (`git2/<name>`, whole or updated) is checked in a
//!   sandbox ([`verify_clone`]): every object against its name (`git fsck`), each of the
//!   recipe's revisions present, nothing but files and directories; a copy without
//!   replace refs and hooks then takes the clone's place in DL_DIR.
//!
//! Everything else the task left is discarded: lock files, `.done` stamps (the next
//! fetcher checks the file again and writes its own), and anything planted for another
//! recipe, other recipes' clones included.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::builtin::fetch::checksum::{Checksum, Expected, copy_hashing, hash_file};

/// The downloads a fetch task may add to DL_DIR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// DL_DIR on the host.
    pub downloads: PathBuf,
    /// Where the task sees it.
    pub inside: PathBuf,
    /// The recipe's downloads, by their paths relative to DL_DIR.
    pub files: Vec<ExpectedDownload>,
    /// Host directories of `file://` mirrors a download may be a symlink into.
    pub mirrors: Vec<PathBuf>,
    /// The recipe's git clones.
    #[serde(default)]
    pub clones: Vec<ExpectedClone>,
}

/// A git clone of a recipe, in DL_DIR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedClone {
    /// Relative to DL_DIR (`git2/<name>`).
    pub name: PathBuf,
    /// The SRC_URI entries it serves (for messages).
    pub url: String,
    /// The revisions the recipe checks out of it.
    pub revisions: Vec<String>,
}

/// One download of a recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedDownload {
    /// Relative to DL_DIR.
    pub name: PathBuf,
    /// The SRC_URI entry (for messages).
    pub url: String,
    pub expected: Expected,
}

/// Why a download was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error("{url}: {} does not match the recipe's checksum: expected {expected}, got {actual}", name.display())]
    Mismatch { url: String, name: PathBuf, expected: Checksum, actual: Checksum },
    #[error(
        "{url}: the recipe gives no checksum for {}, and rstore admits no unchecked download into DL_DIR \
         (add SRC_URI[sha256sum])",
        name.display()
    )]
    NoChecksum { url: String, name: PathBuf },
    #[error("{url}: {} is a symlink to {}, which is not in a mirror directory of this build", name.display(), target.display())]
    LinkOutsideMirrors { url: String, name: PathBuf, target: PathBuf },
    #[error("{url}: {} is neither a file nor a symlink", name.display())]
    NotAFile { url: String, name: PathBuf },
    #[error("{url}: {} is not a plain relative path", name.display())]
    BadName { url: String, name: PathBuf },
    #[error("{url}: the clone {} was refused: {reason}", name.display())]
    BadClone { url: String, name: PathBuf, reason: String },
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

/// What [`admit`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// Downloads placed in DL_DIR.
    pub admitted: Vec<PathBuf>,
    /// Other entries the task left, discarded (relative to DL_DIR).
    pub discarded: Vec<PathBuf>,
}

fn plain(name: &Path) -> bool {
    !name.as_os_str().is_empty() && name.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Opening beneath the task's upper dir: never through a symlink, never out of it.
const BENEATH: rustix::fs::ResolveFlags = rustix::fs::ResolveFlags::BENEATH
    .union(rustix::fs::ResolveFlags::NO_SYMLINKS)
    .union(rustix::fs::ResolveFlags::NO_MAGICLINKS);

/// What the task left at `name` (a [`plain`] relative path) in its upper dir `root`:
/// the entry, opened as a path and never followed, and its status; `None` when it left
/// nothing there.
fn left_by_task(root: &OwnedFd, name: &Path) -> io::Result<Option<(OwnedFd, rustix::fs::Stat)>> {
    use rustix::fs::{Mode, OFlags};
    let left = match rustix::fs::openat2(
        root,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        BENEATH,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let stat = rustix::fs::fstat(&left)?;
    Ok(Some((left, stat)))
}

/// Checks a clone the task left, seen as `layers` (its part of the task's upper dir,
/// then DL_DIR's clone when there is one), and writes a clean copy into `out`: run in a
/// sandbox, since `git fsck` parses what the task wrote. The error says what was wrong.
pub type VerifyClone<'a> = &'a dyn Fn(&ExpectedClone, &[PathBuf], &Path) -> Result<(), String>;

/// Admits the downloads of `a` that the task left in `upper` (its layer over DL_DIR);
/// clones through `verify`.
pub fn admit(a: &Admission, upper: &Path, verify: VerifyClone<'_>) -> Result<Admitted, AdmitError> {
    use rustix::fs::{Mode, OFlags};
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source: io::Error| AdmitError::Io { what, path, source }
    };
    let root = rustix::fs::open(upper, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io("opening", upper)(e.into()))?;
    // What is admitted belongs to the task's ids (the owner of its upper dir), as when
    // tasks wrote DL_DIR themselves: a later task's overlay must be able to copy it up.
    let owner = rustix::fs::fstat(&root).map_err(|e| io("reading", upper)(e.into()))?;
    let owner = Owner { uid: owner.st_uid, gid: owner.st_gid };
    let mut done = Admitted::default();
    for file in &a.files {
        let (url, name) = (&file.url, &file.name);
        if !plain(name) {
            return Err(AdmitError::BadName { url: url.clone(), name: name.clone() });
        }
        // Nothing there: already in DL_DIR, or not fetched.
        let Some((left, stat)) = left_by_task(&root, name).map_err(io("opening", &upper.join(name)))? else {
            continue;
        };
        if file.expected.is_empty() {
            return Err(AdmitError::NoChecksum { url: url.clone(), name: name.clone() });
        }
        let dest = a.downloads.join(name);
        let parent = parents(&a.downloads, name, owner)?;
        let check = |actual: &crate::builtin::fetch::checksum::Computed| match file.expected.mismatch(actual) {
            Some((expected, actual)) => {
                Err(AdmitError::Mismatch { url: url.clone(), name: name.clone(), expected, actual })
            }
            None => Ok(()),
        };
        match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
            rustix::fs::FileType::RegularFile => {
                let source: OwnedFd = rustix::fs::openat2(
                    &root,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                    BENEATH,
                )
                .map_err(|e| io("opening", &upper.join(name))(e.into()))?;
                let mut source = File::from(source);
                let mut temp = tempfile::NamedTempFile::new_in(&parent).map_err(io("creating a file in", &parent))?;
                let actual = copy_hashing(&mut source, temp.as_file_mut()).map_err(io("copying", &dest))?;
                check(&actual)?;
                owner.give(temp.path())?;
                std::fs::set_permissions(temp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
                    .map_err(io("setting permissions of", temp.path()))?;
                temp.persist(&dest).map_err(|e| io("placing", &dest)(e.error))?;
            }
            rustix::fs::FileType::Symlink => {
                let target = rustix::fs::readlinkat(&left, c"", Vec::new())
                    .map(|t| {
                        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(t.into_bytes()))
                    })
                    .map_err(|e| io("reading the link", &upper.join(name))(e.into()))?;
                let outside =
                    || AdmitError::LinkOutsideMirrors { url: url.clone(), name: name.clone(), target: target.clone() };
                let lexical = target.is_absolute() && target.components().all(|c| !matches!(c, Component::ParentDir));
                let resolved = target.canonicalize().map_err(|_| outside())?;
                let in_mirror = a
                    .mirrors
                    .iter()
                    .any(|m| m.canonicalize().is_ok_and(|m| resolved.starts_with(&m)) && target.starts_with(m));
                if !lexical || !in_mirror || !resolved.is_file() {
                    return Err(outside());
                }
                check(&hash_file(&resolved).map_err(io("reading", &resolved))?)?;
                let temp = parent.join(format!(".{}.rstore-link", std::process::id()));
                let _ = std::fs::remove_file(&temp);
                std::os::unix::fs::symlink(&target, &temp).map_err(io("creating the link", &temp))?;
                owner.give(&temp)?;
                std::fs::rename(&temp, &dest).map_err(io("placing", &dest))?;
            }
            // A whiteout: the task removed a file of DL_DIR, which stays.
            rustix::fs::FileType::CharacterDevice if stat.st_rdev == 0 => continue,
            _ => return Err(AdmitError::NotAFile { url: url.clone(), name: name.clone() }),
        }
        done.admitted.push(name.clone());
    }
    for clone in &a.clones {
        if admit_clone(a, clone, &root, upper, owner, verify)? {
            done.admitted.push(clone.name.clone());
        }
    }
    discarded(upper, Path::new(""), &done.admitted, &mut done.discarded);
    Ok(done)
}

/// Admits one clone the task wrote (whole or in part); false when it wrote none.
fn admit_clone(
    a: &Admission,
    clone: &ExpectedClone,
    root: &OwnedFd,
    upper: &Path,
    owner: Owner,
    verify: VerifyClone<'_>,
) -> Result<bool, AdmitError> {
    let (url, name) = (&clone.url, &clone.name);
    let refused = |reason: String| AdmitError::BadClone { url: url.clone(), name: name.clone(), reason };
    if !plain(name) {
        return Err(AdmitError::BadName { url: url.clone(), name: name.clone() });
    }
    let Some((_, stat)) = left_by_task(root, name).map_err(|e| refused(format!("opening it: {e}")))? else {
        return Ok(false);
    };
    match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
        rustix::fs::FileType::Directory => {}
        // Removed by the task: DL_DIR keeps its clone.
        rustix::fs::FileType::CharacterDevice if stat.st_rdev == 0 => return Ok(false),
        _ => return Err(refused("it is not a directory".into())),
    }
    let dest = a.downloads.join(name);
    let mut layers = vec![upper.join(name)];
    if dest.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        layers.push(dest.clone());
    }
    let parent = parents(&a.downloads, name, owner)?;
    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staged = tempfile::Builder::new()
        .prefix(&format!(".{file_name}.admitted-"))
        .tempdir_in(&parent)
        .map_err(|e| AdmitError::Io { what: "creating a directory in", path: parent.clone(), source: e })?;
    verify(clone, &layers, staged.path()).map_err(refused)?;
    owner.give(staged.path())?;
    // The checked copy takes the clone's place; the old one goes.
    let staged = staged.keep();
    let old = parent.join(format!(".{file_name}.replaced-{}", std::process::id()));
    let had = std::fs::rename(&dest, &old).is_ok();
    let placed = std::fs::rename(&staged, &dest);
    if had {
        let _ = std::fs::remove_dir_all(&old);
    }
    placed.map_err(|e| AdmitError::Io { what: "placing", path: dest.clone(), source: e })?;
    Ok(true)
}

/// The ids admitted downloads get.
#[derive(Clone, Copy, Debug)]
struct Owner {
    uid: u32,
    gid: u32,
}

impl Owner {
    /// Gives `path` (itself, never what a symlink points to) to these ids.
    fn give(self, path: &Path) -> Result<(), AdmitError> {
        rustix::fs::chownat(
            rustix::fs::CWD,
            path,
            Some(rustix::process::Uid::from_raw(self.uid)),
            Some(rustix::process::Gid::from_raw(self.gid)),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| AdmitError::Io { what: "changing the owner of", path: path.to_owned(), source: e.into() })
    }
}

/// Makes the directories of `name` below `downloads` (a plain relative path), each a
/// real directory belonging to `owner`; returns the parent's path.
fn parents(downloads: &Path, name: &Path, owner: Owner) -> Result<PathBuf, AdmitError> {
    use std::os::unix::fs::MetadataExt;
    let mut dir = downloads.to_path_buf();
    let components: Vec<_> = name.components().collect();
    for component in &components[..components.len().saturating_sub(1)] {
        dir.push(component);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(AdmitError::Io { what: "creating", path: dir, source }),
        }
        let meta =
            dir.symlink_metadata().map_err(|source| AdmitError::Io { what: "reading", path: dir.clone(), source })?;
        if !meta.is_dir() {
            let source = io::Error::other("not a directory");
            return Err(AdmitError::Io { what: "creating", path: dir, source });
        }
        if (meta.uid(), meta.gid()) != (owner.uid, owner.gid) {
            owner.give(&dir)?;
        }
    }
    Ok(dir)
}

/// The entries below `upper` (at `rel`) that are not admitted, directories whose
/// every entry is discarded named once. Best effort: only for messages.
fn discarded(upper: &Path, rel: &Path, admitted: &[PathBuf], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(upper.join(rel)) else { return };
    let mut names: Vec<_> = entries.flatten().map(|e| (e.file_name(), e.file_type().ok())).collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in names {
        let path = rel.join(&name);
        if admitted.contains(&path) {
            continue;
        }
        if kind.is_some_and(|k| k.is_dir()) && admitted.iter().any(|a| a.starts_with(&path)) {
            discarded(upper, &path, admitted, out);
        } else {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::fetch::checksum::{Algorithm, hash_file};

    fn expected(path: &Path) -> Expected {
        let computed = hash_file(path).unwrap();
        Expected { sha256: Some(computed.get(Algorithm::Sha256)), md5: None }
    }

    struct Dirs {
        _tmp: tempfile::TempDir,
        upper: PathBuf,
        downloads: PathBuf,
        mirror: PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let (upper, downloads, mirror) = (tmp.path().join("upper"), tmp.path().join("dl"), tmp.path().join("mirror"));
        for d in [&upper, &downloads, &mirror] {
            std::fs::create_dir_all(d).unwrap();
        }
        Dirs { _tmp: tmp, upper, downloads, mirror }
    }

    fn admission(d: &Dirs, files: Vec<ExpectedDownload>) -> Admission {
        Admission {
            downloads: d.downloads.clone(),
            inside: "/rstore/downloads".into(),
            files,
            mirrors: vec![d.mirror.clone()],
            clones: vec![],
        }
    }

    fn no_clones(clone: &ExpectedClone, _: &[PathBuf], _: &Path) -> Result<(), String> {
        panic!("no clone expected, asked to check {clone:?}")
    }

    fn download(name: &str, expected: Expected) -> ExpectedDownload {
        ExpectedDownload { name: name.into(), url: format!("https://example.invalid/{name}"), expected }
    }

    #[test]
    fn the_recipes_own_verified_downloads_are_admitted_and_nothing_else() {
        let d = dirs();
        std::fs::write(d.upper.join("a-1.0.tar.gz"), b"a's sources").unwrap();
        std::fs::write(d.mirror.join("b-2.0.tar.xz"), b"b's sources").unwrap();
        std::os::unix::fs::symlink(d.mirror.join("b-2.0.tar.xz"), d.upper.join("b-2.0.tar.xz")).unwrap();
        // Left by BitBake's fetcher, or planted for another recipe.
        for planted in ["a-1.0.tar.gz.done", "a-1.0.tar.gz.lock", "zlib-1.3.tar.xz"] {
            std::fs::write(d.upper.join(planted), b"x").unwrap();
        }
        let a = admission(
            &d,
            vec![
                download("a-1.0.tar.gz", expected(&d.upper.join("a-1.0.tar.gz"))),
                download("b-2.0.tar.xz", expected(&d.mirror.join("b-2.0.tar.xz"))),
                download("never-fetched.tar.gz", expected(&d.mirror.join("b-2.0.tar.xz"))),
            ],
        );
        let done = admit(&a, &d.upper, &no_clones).unwrap();
        assert_eq!(done.admitted, [PathBuf::from("a-1.0.tar.gz"), PathBuf::from("b-2.0.tar.xz")]);
        assert_eq!(
            done.discarded,
            ["a-1.0.tar.gz.done", "a-1.0.tar.gz.lock", "zlib-1.3.tar.xz"].map(PathBuf::from).to_vec()
        );
        assert_eq!(std::fs::read(d.downloads.join("a-1.0.tar.gz")).unwrap(), b"a's sources");
        assert_eq!(std::fs::read_link(d.downloads.join("b-2.0.tar.xz")).unwrap(), d.mirror.join("b-2.0.tar.xz"));
        let mut left: Vec<_> = std::fs::read_dir(&d.downloads).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, ["a-1.0.tar.gz", "b-2.0.tar.xz"]);
    }

    #[test]
    fn a_download_that_does_not_match_is_refused_and_dl_dir_keeps_its_file() {
        let d = dirs();
        std::fs::write(d.downloads.join("a-1.0.tar.gz"), b"good").unwrap();
        let good = expected(&d.downloads.join("a-1.0.tar.gz"));
        std::fs::write(d.upper.join("a-1.0.tar.gz"), b"evil").unwrap();
        let err =
            admit(&admission(&d, vec![download("a-1.0.tar.gz", good.clone())]), &d.upper, &no_clones).unwrap_err();
        assert!(matches!(err, AdmitError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("does not match the recipe's checksum: expected sha256:"), "{err}");
        assert_eq!(std::fs::read(d.downloads.join("a-1.0.tar.gz")).unwrap(), b"good");

        // No checksum at all: refused too.
        let err = admit(&admission(&d, vec![download("a-1.0.tar.gz", Expected::default())]), &d.upper, &no_clones)
            .unwrap_err();
        assert!(matches!(err, AdmitError::NoChecksum { .. }), "{err}");
    }

    /// Copies the layers into `out`, lowest first (what the real check does after
    /// `git fsck`), and remembers what it was given.
    fn copy_layers(
        seen: &std::cell::RefCell<Vec<Vec<PathBuf>>>,
    ) -> impl Fn(&ExpectedClone, &[PathBuf], &Path) -> Result<(), String> + '_ {
        move |_, layers, out| {
            seen.borrow_mut().push(layers.to_vec());
            for layer in layers.iter().rev() {
                let status = std::process::Command::new("cp").arg("-a").arg(layer.join(".")).arg(out).status().unwrap();
                assert!(status.success());
            }
            Ok(())
        }
    }

    #[test]
    fn only_the_recipes_own_clones_are_checked_and_replaced() {
        let d = dirs();
        for (dir, files) in [
            (&d.upper, [("git2/mine/HEAD", "new"), ("git2/theirs/HEAD", "planted")]),
            (&d.downloads, [("git2/mine/config", "kept"), ("git2/theirs/HEAD", "original")]),
        ] {
            for (path, text) in files {
                std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
                std::fs::write(dir.join(path), text).unwrap();
            }
        }
        let mut a = admission(&d, vec![]);
        a.clones =
            vec![ExpectedClone { name: "git2/mine".into(), url: "git://x/mine".into(), revisions: vec!["abc".into()] }];
        let seen = std::cell::RefCell::new(Vec::new());
        let done = admit(&a, &d.upper, &copy_layers(&seen)).unwrap();
        assert_eq!(seen.borrow().as_slice(), [vec![d.upper.join("git2/mine"), d.downloads.join("git2/mine")]]);
        assert_eq!(done.admitted, [PathBuf::from("git2/mine")]);
        assert_eq!(done.discarded, [PathBuf::from("git2/theirs")]);
        assert_eq!(std::fs::read_to_string(d.downloads.join("git2/mine/HEAD")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(d.downloads.join("git2/mine/config")).unwrap(), "kept");
        assert_eq!(std::fs::read_to_string(d.downloads.join("git2/theirs/HEAD")).unwrap(), "original");
        let mut names: Vec<_> =
            std::fs::read_dir(d.downloads.join("git2")).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["mine", "theirs"], "staging left behind");

        // A clone the check refuses: the task fails, DL_DIR keeps its clone.
        let refuse = |_: &ExpectedClone, _: &[PathBuf], _: &Path| Err("git fsck finds it damaged".to_owned());
        std::fs::write(d.upper.join("git2/mine/HEAD"), "forged").unwrap();
        let err = admit(&a, &d.upper, &refuse).unwrap_err();
        assert!(err.to_string().contains("the clone git2/mine was refused: git fsck finds it damaged"), "{err}");
        assert_eq!(std::fs::read_to_string(d.downloads.join("git2/mine/HEAD")).unwrap(), "new");
        let mut names: Vec<_> =
            std::fs::read_dir(d.downloads.join("git2")).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["mine", "theirs"], "staging left behind");
    }

    #[test]
    fn links_out_of_the_mirrors_and_names_out_of_dl_dir_are_refused() {
        let d = dirs();
        let secret = d.upper.parent().unwrap().join("secret");
        std::fs::write(&secret, b"host file").unwrap();
        let want = expected(&secret);
        std::os::unix::fs::symlink(&secret, d.upper.join("a.tar.gz")).unwrap();
        let err = admit(&admission(&d, vec![download("a.tar.gz", want.clone())]), &d.upper, &no_clones).unwrap_err();
        assert!(matches!(err, AdmitError::LinkOutsideMirrors { .. }), "{err}");
        // Through `..` from inside a mirror.
        std::fs::remove_file(d.upper.join("a.tar.gz")).unwrap();
        std::os::unix::fs::symlink(d.mirror.join("../secret"), d.upper.join("a.tar.gz")).unwrap();
        let err = admit(&admission(&d, vec![download("a.tar.gz", want.clone())]), &d.upper, &no_clones).unwrap_err();
        assert!(matches!(err, AdmitError::LinkOutsideMirrors { .. }), "{err}");
        let err = admit(&admission(&d, vec![download("../secret", want)]), &d.upper, &no_clones).unwrap_err();
        assert!(matches!(err, AdmitError::BadName { .. }), "{err}");
        assert!(!d.downloads.join("a.tar.gz").exists());
    }
}
