//! Walking, copying and moving file trees the way the packaging built-ins need:
//! directory entries in byte order of their names, symbolic links kept as links,
//! permissions kept, and every failure naming the path it happened on.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file-system operation on a path failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}", path.display())]
pub struct TreeError {
    /// What was being done ("reading the directory", "copying", …).
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl TreeError {
    pub fn new(op: &'static str, path: &Path, source: io::Error) -> TreeError {
        TreeError { op, path: path.to_path_buf(), source }
    }
}

/// A closure that wraps an `io::Error` into a [`TreeError`] about `path`.
pub fn at<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TreeError + 'a {
    move |source| TreeError::new(op, path, source)
}

/// The names in `dir`, sorted by their bytes (the same order on every machine).
pub fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>, TreeError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(at("reading the directory", dir))? {
        names.push(entry.map_err(at("reading the directory", dir))?.file_name());
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    Ok(names)
}

/// One entry found by [`walk`].
#[derive(Debug, Clone)]
pub struct Entry {
    /// The path relative to the walked root (empty for the root itself).
    pub relative: PathBuf,
    pub path: PathBuf,
    /// From `lstat`: symbolic links are reported as links, never followed.
    pub meta: fs::Metadata,
}

impl Entry {
    /// A real directory (not a link to one).
    pub fn is_dir(&self) -> bool {
        self.meta.file_type().is_dir()
    }
}

/// Every entry below `root` (the root first), depth first, each directory's entries in
/// byte order, a directory before what it contains. Symbolic links are not followed.
pub fn walk(root: &Path) -> Result<Vec<Entry>, TreeError> {
    let meta = fs::symlink_metadata(root).map_err(at("reading", root))?;
    let mut out = vec![Entry { relative: PathBuf::new(), path: root.to_path_buf(), meta }];
    if out[0].is_dir() {
        walk_into(root, Path::new(""), &mut out)?;
    }
    Ok(out)
}

fn walk_into(dir: &Path, relative: &Path, out: &mut Vec<Entry>) -> Result<(), TreeError> {
    for name in sorted_names(dir)? {
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(at("reading", &path))?;
        let rel = relative.join(&name);
        let is_dir = meta.file_type().is_dir();
        out.push(Entry { relative: rel.clone(), path: path.clone(), meta });
        if is_dir {
            walk_into(&path, &rel, out)?;
        }
    }
    Ok(())
}

/// How [`copy_tree`] places regular files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCopy {
    /// A hard link where the file system allows it (same mount), else a copy.
    LinkOrCopy,
    /// Always a copy.
    Copy,
}

/// What [`copy_tree`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    /// Regular files and symbolic links written.
    pub files: usize,
    /// Of those, regular files that became hard links.
    pub linked: usize,
}

/// Copy the tree at `src` over `dest` (created if missing): directories are created
/// with the source's permissions (existing ones are kept as they are), symbolic links
/// are recreated with the same target, regular files are linked or copied with their
/// permissions; an existing non-directory at a target path is replaced, as
/// `rstore_copy_tree` of base.bbclass does. Other file types (fifos, devices, sockets)
/// are refused.
pub fn copy_tree(src: &Path, dest: &Path, mode: FileCopy) -> Result<CopyStats, TreeError> {
    let mut stats = CopyStats::default();
    for entry in walk(src)? {
        let target =
            if entry.relative.as_os_str().is_empty() { dest.to_path_buf() } else { dest.join(&entry.relative) };
        let kind = entry.meta.file_type();
        if kind.is_dir() {
            match fs::symlink_metadata(&target) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&target).map_err(at("replacing", &target))?;
                    make_dir(&target, &entry.meta)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => make_dir(&target, &entry.meta)?,
                Err(e) => return Err(TreeError::new("reading", &target, e)),
            }
            continue;
        }
        remove_non_dir(&target)?;
        if kind.is_symlink() {
            let link = fs::read_link(&entry.path).map_err(at("reading the link", &entry.path))?;
            std::os::unix::fs::symlink(&link, &target).map_err(at("creating the link", &target))?;
        } else if kind.is_file() {
            if copy_file(&entry.path, &target, mode)? {
                stats.linked += 1;
            }
        } else {
            return Err(TreeError::new(
                "copying",
                &entry.path,
                io::Error::new(io::ErrorKind::Unsupported, "not a regular file, directory or symbolic link"),
            ));
        }
        stats.files += 1;
    }
    Ok(stats)
}

/// Create `dir` (its parent must exist) with the permissions of `like`.
fn make_dir(dir: &Path, like: &fs::Metadata) -> Result<(), TreeError> {
    fs::create_dir(dir).map_err(at("creating the directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(like.mode() & 0o7777))
        .map_err(at("setting the permissions of", dir))
}

/// Remove what is at `path` unless it is a directory or nothing.
fn remove_non_dir(path: &Path) -> Result<(), TreeError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Err(TreeError::new(
            "replacing",
            path,
            io::Error::new(io::ErrorKind::IsADirectory, "a directory is in the way of a file"),
        )),
        Ok(_) => fs::remove_file(path).map_err(at("replacing", path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TreeError::new("reading", path, e)),
    }
}

/// Link or copy one regular file; true when it became a hard link.
fn copy_file(src: &Path, target: &Path, mode: FileCopy) -> Result<bool, TreeError> {
    if mode == FileCopy::LinkOrCopy && fs::hard_link(src, target).is_ok() {
        return Ok(true);
    }
    fs::copy(src, target).map_err(at("copying", src))?;
    Ok(false)
}

/// Move `src` to `target` (whose parent exists): a rename where possible; a directory
/// moved onto an existing directory is merged into it; across file systems the tree
/// is copied and the source removed.
pub fn move_path(src: &Path, target: &Path) -> Result<(), TreeError> {
    let src_meta = fs::symlink_metadata(src).map_err(at("reading", src))?;
    if src_meta.file_type().is_dir()
        && let Ok(m) = fs::symlink_metadata(target)
        && m.file_type().is_dir()
    {
        for name in sorted_names(src)? {
            move_path(&src.join(&name), &target.join(&name))?;
        }
        return fs::remove_dir(src).map_err(at("removing the moved directory", src));
    }
    match fs::rename(src, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            copy_tree(src, target, FileCopy::Copy)?;
            if src_meta.file_type().is_dir() {
                fs::remove_dir_all(src).map_err(at("removing the moved tree", src))
            } else {
                fs::remove_file(src).map_err(at("removing the moved file", src))
            }
        }
        Err(e) => Err(TreeError::new("moving", src, e)),
    }
}

/// Create `dir` and its missing parents with mode 0755 (as `bb.utils.mkdirhier`).
pub fn make_dirs(dir: &Path) -> Result<(), TreeError> {
    fs::create_dir_all(dir).map_err(at("creating the directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_sorted_by_bytes_and_does_not_follow_links() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        for d in ["b", "a/z", "a/B"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("a/file"), b"x").unwrap();
        std::os::unix::fs::symlink("/", root.join("a/link")).unwrap();
        let names: Vec<String> = walk(root).unwrap().iter().map(|e| e.relative.display().to_string()).collect();
        assert_eq!(names, ["", "a", "a/B", "a/file", "a/link", "a/z", "b"]);
    }

    #[test]
    fn copy_tree_replaces_files_keeps_links_and_modes() {
        let t = tempfile::tempdir().unwrap();
        let (src, dest) = (t.path().join("src"), t.path().join("dest"));
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::write(src.join("bin/tool"), b"new").unwrap();
        fs::set_permissions(src.join("bin/tool"), fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("tool", src.join("bin/alias")).unwrap();
        fs::create_dir_all(dest.join("bin")).unwrap();
        fs::write(dest.join("bin/tool"), b"old").unwrap();
        fs::write(dest.join("bin/other"), b"kept").unwrap();
        let stats = copy_tree(&src, &dest, FileCopy::Copy).unwrap();
        assert_eq!(stats, CopyStats { files: 2, linked: 0 });
        assert_eq!(fs::read(dest.join("bin/tool")).unwrap(), b"new");
        assert_eq!(fs::metadata(dest.join("bin/tool")).unwrap().mode() & 0o777, 0o750);
        assert_eq!(fs::read_link(dest.join("bin/alias")).unwrap(), Path::new("tool"));
        assert_eq!(fs::read(dest.join("bin/other")).unwrap(), b"kept");
    }

    #[test]
    fn move_merges_directories() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("a/lib")).unwrap();
        fs::write(t.path().join("a/lib/one"), b"1").unwrap();
        fs::create_dir_all(t.path().join("b/lib")).unwrap();
        fs::write(t.path().join("b/lib/two"), b"2").unwrap();
        move_path(&t.path().join("a/lib"), &t.path().join("b/lib")).unwrap();
        assert!(!t.path().join("a/lib").exists());
        assert_eq!(fs::read(t.path().join("b/lib/one")).unwrap(), b"1");
        assert_eq!(fs::read(t.path().join("b/lib/two")).unwrap(), b"2");
    }
}
